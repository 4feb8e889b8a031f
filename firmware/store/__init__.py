"""The unit's store: durable (SQLite WAL, synchronous=FULL), crash-safe, and
sealed record by record. See docs/store.md and docs/security.md."""

from .capacity import Usage
from .errors import (
    BadTransition,
    DuplicateRecord,
    FseRangeRefused,
    NoFseNumber,
    NotProvisioned,
    StoreCorrupted,
    StoreError,
    StoreFull,
    StoreIOError,
    StoreLocked,
    StoreTooNew,
    StoreUsageError,
    UnknownRecord,
    WrongCardProof,
)
from .fse import FseInfo, NumberState
from .lifecycle import FseStatus, NumberStatus, RecordStatus
from .office_sig import BadOfficeSignature, OfficeListTampered, UnsignedRecord, UntrustedOffice
from .records import RecordInfo, Trace
from .store import Store

__all__ = [
    "BadOfficeSignature", "BadTransition", "DuplicateRecord", "OfficeListTampered", "FseInfo", "FseRangeRefused", "NoFseNumber", "NotProvisioned",
    "FseStatus", "NumberState", "NumberStatus", "RecordInfo", "RecordStatus", "Store", "StoreCorrupted", "StoreError", "StoreFull",
    "StoreIOError", "StoreLocked", "StoreTooNew", "StoreUsageError", "Trace",
    "UnknownRecord", "UnsignedRecord", "UntrustedOffice", "Usage", "WrongCardProof",
]
