"""Loaded and visit records (invoices, patients, tariffs, opposition list,
Vitale reads) and traces, mixed into :class:`~firmware.store.store.Store`.

Loads are sealed to the unit's public key, so the office can load while the
unit is locked; reading them back needs the unlocked key bundle. Each load
carries the office's Ed25519 signature (office_sig.py), checked when stored and
again at every read against the trusted office keys, so a record planted on the
SD card (sealing needs no secret) is never used. Vitale reads
are produced in visit and sealed with the record key. Traces hold only codes
and durations: their fields are checked so no patient data can ride in.

Ids in clear carry no patient data (docs/store.md §Record ids): a loaded record
is stored under its *key*, ``k`` + 32 hex digits of HMAC-SHA256 under the store's
id key of (kind, office id); the office id itself is kept sealed beside it
(``sealed_id``). Callers always speak office ids. Vitale reads carry the unit's
own opaque ids (``VR-`` + random hex, chosen by the visit) and are stored as is.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from . import crypto, office_sig
from .capacity import ROW_OVERHEAD, used_bytes
from .errors import (
    BadTransition,
    DuplicateRecord,
    NotProvisioned,
    StoreFull,
    StoreUsageError,
    UnknownRecord,
)
from .lifecycle import RecordStatus
from .parts import StoreCore

log = logging.getLogger("opentla.store")

LOAD_KINDS = ("invoice", "patient", "tariff", "opposition")
# (kind, record_id, professional_id, payload, office signature, signer's Ed25519 key)
LoadItem = tuple[str, str, "str | None", bytes, bytes, bytes]
ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
CODE_RE = re.compile(r"[a-z0-9_.]{1,48}")
MAX_TRACES = 20_000
ID_KEY_CONTEXT = b"opentla/store/record-id/v1\x00"
ID_SEAL_SUFFIX = ".id"  # the sealed office id's AEAD context: kind + ".id", record key
_INFO_COLUMNS = "kind, record_id, professional_id, status, created_at, updated_at, size"


def check_id(value: str, what: str = "id") -> str:
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise StoreUsageError(f"bad {what}: expected 1-64 of [A-Za-z0-9._:-]", code="store_bad_id")
    return value


def check_code(value: str, what: str) -> str:
    if not isinstance(value, str) or not CODE_RE.fullmatch(value):
        raise StoreUsageError(f"bad {what}: expected 1-48 of [a-z0-9_.]", code="store_bad_code")
    return value


@dataclass(frozen=True)
class RecordInfo:
    kind: str
    record_id: str
    professional_id: str | None
    status: RecordStatus
    created_at: float
    updated_at: float
    size: int


@dataclass(frozen=True)
class Trace:
    trace_id: int
    at: float
    operation: str
    duration_s: float
    outcome: str


class RecordsMixin(StoreCore):
    """Relies on Store's _tx, _keys, _wall, _conn, _data_public and budget."""

    def put_invoice(self, invoice_id: str, professional_id: str, payload: bytes,
                    signature: bytes, signer: bytes) -> RecordInfo:
        return self._put_loaded(("invoice", invoice_id, professional_id, payload, signature, signer))

    def put_patient(self, patient_id: str, payload: bytes, signature: bytes,
                    signer: bytes) -> RecordInfo:
        return self._put_loaded(("patient", patient_id, None, payload, signature, signer))

    def put_tariff(self, tariff_id: str, payload: bytes, signature: bytes,
                   signer: bytes) -> RecordInfo:
        return self._put_loaded(("tariff", tariff_id, None, payload, signature, signer))

    def put_opposition_list(self, payload: bytes, signature: bytes, signer: bytes,
                            list_id: str = "current") -> RecordInfo:
        return self._put_loaded(("opposition", list_id, None, payload, signature, signer))

    # ---- ids ------------------------------------------------------------------------
    def record_key(self, kind: str, record_id: str) -> str:
        """The key a record is stored under: for a loaded kind, ``k`` + the first 16
        bytes, in hex, of HMAC-SHA256(id key, "opentla/store/record-id/v1" 00 kind 00
        record id); a Vitale read's own id otherwise."""
        check_id(record_id)
        if kind not in LOAD_KINDS:
            return record_id
        mac = hmac.new(self._id_key, ID_KEY_CONTEXT + kind.encode() + b"\x00" + record_id.encode(),
                       hashlib.sha256).digest()
        return "k" + mac[:16].hex()

    def _seal_id(self, kind: str, key: str, record_id: str) -> bytes:
        if self._data_public is None:
            raise NotProvisioned("pair the unit before loading")
        return crypto.seal_to_unit(self._data_public, kind + ID_SEAL_SUFFIX, key, record_id.encode())

    def _info(self, row: tuple, record_id: str) -> RecordInfo:
        return RecordInfo(row[0], record_id, row[2], RecordStatus(row[3]), *row[4:])

    def _rekey_legacy(self) -> int:
        """Records loaded before schema 3 sit under their office id in clear:
        move them under their key, with the office id sealed (one transaction;
        their payload stays bound to the office id, as every payload is)."""
        if not self.provisioned:
            return 0
        rows = self._conn.execute(
            "SELECT kind, record_id FROM records WHERE sealed_id IS NULL AND kind IN "
            f"({', '.join('?' * len(LOAD_KINDS))})", LOAD_KINDS).fetchall()
        if not rows:
            return 0
        with self._tx() as c:
            for kind, record_id in rows:
                key = self.record_key(kind, record_id)
                c.execute("UPDATE records SET record_id = ?, sealed_id = ? WHERE kind = ? AND "
                          "record_id = ?", (key, self._seal_id(kind, key, record_id), kind, record_id))
                if kind == "invoice":
                    c.execute("UPDATE fses SET invoice_id = ? WHERE invoice_id = ?", (key, record_id))
        log.info("store_rekeyed_records count=%d", len(rows))
        return len(rows)

    def _put_loaded(self, item: LoadItem) -> RecordInfo:
        self.load_batch([item])
        return self.record_info(item[0], item[1])

    def load_batch(self, items: Iterable[LoadItem]) -> int:
        """Load ``(kind, record_id, professional_id, payload, signature, signer)``
        items in ONE transaction: all of them or none. Each office signature must
        verify (:class:`~.office_sig.BadOfficeSignature` otherwise; the caller
        checks that ``signer`` is the paired host). Each payload is sealed to the
        unit's public key (no unlock needed) and upserted with its signature. A load that would eat into the
        signature reserve is refused with :class:`StoreFull`, the whole batch
        with it. Returns the number of records loaded."""
        data_public = self._data_public
        if data_public is None:
            raise NotProvisioned("pair the unit before loading")
        sealed = []
        for kind, record_id, professional_id, payload, signature, signer in items:
            if kind not in LOAD_KINDS:
                raise StoreUsageError(f"cannot load kind {kind!r}", code="store_bad_kind")
            check_id(record_id)
            if professional_id is not None:
                check_id(professional_id, "professional id")
            office_sig.verify_load(signer, signature, self.unit_id, kind, record_id,
                                   professional_id, payload)
            envelope = crypto.seal_to_unit(data_public, kind, record_id, payload)
            key = self.record_key(kind, record_id)
            sealed.append((kind, key, professional_id, envelope, signature, signer,
                           self._seal_id(kind, key, record_id)))
        now = self._wall()
        with self._tx() as c:
            for kind, key, professional_id, envelope, signature, signer, sealed_id in sealed:
                row = c.execute("SELECT status, size FROM records WHERE kind = ? AND record_id = ?",
                                (kind, key)).fetchone()
                if row is not None and row[0] != RecordStatus.LOADED:
                    raise BadTransition(f"{kind} {key} is {row[0]}, cannot be reloaded")
                growth = len(envelope) + ROW_OVERHEAD - (row[1] if row else 0)
                if used_bytes(c) + growth > self.budget_bytes - self.reserve_bytes:
                    log.warning("store_full load refused kind=%s", kind)
                    raise StoreFull(f"no room to load {kind} {key}")
                c.execute(
                    "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                    "(kind, record_id) DO UPDATE SET professional_id = excluded.professional_id,"
                    " updated_at = excluded.updated_at, size = excluded.size, blob = excluded.blob,"
                    " office_sig = excluded.office_sig, office_key = excluded.office_key,"
                    " sealed_id = excluded.sealed_id",
                    (kind, key, professional_id, RecordStatus.LOADED, now, now, len(envelope),
                     envelope, signature, signer, sealed_id))
        return len(sealed)

    def put_vitale_read(self, read_id: str, professional_id: str, payload: bytes) -> RecordInfo:
        """A Vitale read made in visit (unlocked; sealed with the record key)."""
        bundle = self._keys()
        check_id(read_id)
        check_id(professional_id, "professional id")
        envelope = crypto.seal_with_record_key(bundle.record_key, "vitale_read", read_id, payload)
        now = self._wall()
        with self._tx(critical=True) as c:
            if c.execute("SELECT 1 FROM records WHERE kind = 'vitale_read' AND record_id = ?",
                         (read_id,)).fetchone():
                raise DuplicateRecord(f"vitale read {read_id} exists")
            c.execute("INSERT INTO records VALUES ('vitale_read', ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
                      (read_id, professional_id, RecordStatus.NEW, now, now, len(envelope), envelope))
        return self.record_info("vitale_read", read_id)

    def record_info(self, kind: str, record_id: str) -> RecordInfo:
        """Metadata of one record, by its office id: works while locked."""
        row = self._conn.execute(f"SELECT {_INFO_COLUMNS} FROM records WHERE kind = ? AND "
                                 "record_id = ?", (kind, self.record_key(kind, record_id))).fetchone()
        if row is None:
            raise UnknownRecord(f"no {kind} {record_id}")
        return self._info(row, record_id)

    def list_records(self, kind: str, professional_id: str | None = None) -> list[RecordInfo]:
        """Metadata, ordered by id. Vitale reads list while locked; a loaded kind
        needs the store unlocked (its office ids are sealed)."""
        bundle = self._keys() if kind in LOAD_KINDS else None
        sql = f"SELECT {_INFO_COLUMNS}, sealed_id FROM records WHERE kind = ?"
        args: tuple = (kind,)
        if professional_id is not None:
            sql += " AND professional_id = ?"
            args += (professional_id,)
        out = []
        for row in self._conn.execute(sql, args).fetchall():
            record_id = row[1]
            if bundle is not None:
                record_id = crypto.open_record(bundle, kind + ID_SEAL_SUFFIX, row[1], row[-1]).decode()
            out.append(self._info(row[:-1], record_id))
        return sorted(out, key=lambda info: info.record_id)

    def get_record(self, kind: str, record_id: str) -> bytes:
        """The plaintext payload (store must be unlocked). A loaded record is
        returned only if its office signature verifies under a trusted office
        key: :class:`~.office_sig.UnsignedRecord` (loaded before schema v2),
        :class:`~.office_sig.UntrustedOffice` or
        :class:`~.office_sig.BadOfficeSignature` otherwise."""
        bundle = self._keys()
        row = self._conn.execute(
            "SELECT blob, professional_id, office_sig, office_key FROM records "
            "WHERE kind = ? AND record_id = ?", (kind, self.record_key(kind, record_id))).fetchone()
        if row is None:
            raise UnknownRecord(f"no {kind} {record_id}")
        blob, professional_id, signature, signer = row
        if kind not in LOAD_KINDS:
            return crypto.open_record(bundle, kind, record_id, blob)
        if signature is None or signer is None:
            log.warning("store_record_unsigned kind=%s", kind)
            raise office_sig.UnsignedRecord(f"{kind} {record_id} has no office signature: load again")
        if bytes(signer) not in self.trusted_offices():
            log.warning("store_untrusted_office kind=%s", kind)
            raise office_sig.UntrustedOffice(f"{kind} {record_id} signed by an unknown office")
        payload = crypto.open_record(bundle, kind, record_id, blob)
        try:
            office_sig.verify_load(bytes(signer), bytes(signature), self.unit_id, kind, record_id,
                                   professional_id, payload)
        except office_sig.BadOfficeSignature:
            log.warning("store_bad_office_signature kind=%s", kind)
            raise
        return payload

    def get_invoice(self, invoice_id: str) -> bytes:
        return self.get_record("invoice", invoice_id)

    def delete_record(self, kind: str, record_id: str) -> None:
        """The office withdraws a loaded record or has unloaded a Vitale read.
        An invoice already used by a signed FSE goes only with that FSE's purge."""
        key = self.record_key(kind, record_id)
        with self._tx() as c:
            row = c.execute("SELECT status FROM records WHERE kind = ? AND record_id = ?",
                            (kind, key)).fetchone()
            if row is None:
                raise UnknownRecord(f"no {kind} {record_id}")
            if row[0] == RecordStatus.USED:
                raise BadTransition(f"{kind} {record_id} belongs to a signed FSE")
            c.execute("DELETE FROM records WHERE kind = ? AND record_id = ?", (kind, key))

    # ---- traces and usage ----------------------------------------------------------
    def add_trace(self, operation: str, duration_s: float, outcome: str) -> None:
        """Timing trace. Only codes are accepted, so no patient data can ride in."""
        check_code(operation, "operation")
        check_code(outcome, "outcome")
        with self._tx() as c:
            c.execute("INSERT INTO traces (at, operation, duration_s, outcome) VALUES (?, ?, ?, ?)",
                      (self._wall(), operation, float(duration_s), outcome))
            c.execute("DELETE FROM traces WHERE trace_id <= (SELECT max(trace_id) FROM traces) - ?",
                      (MAX_TRACES,))

    def traces(self, after_id: int = 0) -> list[Trace]:
        rows = self._conn.execute("SELECT * FROM traces WHERE trace_id > ? ORDER BY trace_id",
                                  (after_id,))
        return [Trace(*row) for row in rows]

