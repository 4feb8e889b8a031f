"""Shared pieces of the data groups (82 load, 83 Vitale reads, 84 FSE, 85 traces).

- :class:`DataErr`: the group-specific ``rc`` values all four groups use, with the
  general code a v1 client gets instead (``docs/protocol.md`` §6);
- field readers that turn a wrong request body into ``EINVAL`` with a reason;
- :func:`pack_records`: fills one response with ``[id, offset, total, bytes]`` pieces
  of a sequence of records, sized so the whole SMP packet fits the link's buffer.

Unloads are resumable by *record id + offset*: the office asks "from record X at
byte N"; the unit answers the rest of X, then the next pending records, as far as the
buffer allows. Nothing is removed on the unit until the office acknowledges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import IntEnum
from typing import Any

import cbor2

from firmware.store.errors import (
    BadTransition,
    DuplicateRecord,
    NotProvisioned,
    StoreError,
    StoreFull,
    StoreLocked,
    StoreUsageError,
    UnknownRecord,
)
from firmware.store.office_sig import BadOfficeSignature

from . import mac
from .header import HEADER_SIZE, GroupError, MgmtErr, MgmtError

FRAME_OVERHEAD = 4  # serial frame: u16 length + u16 CRC around the packet
BODY_OVERHEAD = 24  # response map header, "recs"/"end" keys, array header (upper bound)
MIN_PIECE = 64  # do not start a record with less room than this
ID_MAX = 64  # record ids: 1-64 of [A-Za-z0-9._:-] (the store's rule)


class DataErr(IntEnum):
    """``{"err": {"group": g, "rc": n}}`` codes of groups 82-85 (v2 clients)."""

    LOCKED = 1  # patient data needs the unit unlocked (CPS + PIN)
    NOT_PROVISIONED = 2  # the store has no keys yet: pair first
    NO_RECORD = 3  # unknown record id
    BAD_STATE = 4  # record not in a state that allows this (e.g. another import id)
    BAD_RECORD = 5  # payload fails validation (names the field in "rsn" for v1)
    STORE_FULL = 6  # the load would eat the room kept for signatures
    BAD_OFFSET = 7  # chunk offset is not where the unit expects it
    STORE_FAILED = 8  # the unit's storage failed; nothing was acknowledged
    TOO_LARGE = 9  # record larger than the unit accepts
    BAD_SIGNATURE = 10  # the office signature of a loaded record does not verify


V1_CODES = {
    DataErr.LOCKED: MgmtErr.EACCESSDENIED,
    DataErr.NOT_PROVISIONED: MgmtErr.EBADSTATE,
    DataErr.NO_RECORD: MgmtErr.ENOENT,
    DataErr.BAD_STATE: MgmtErr.EBADSTATE,
    DataErr.BAD_RECORD: MgmtErr.EINVAL,
    DataErr.STORE_FULL: MgmtErr.ENOMEM,
    DataErr.BAD_OFFSET: MgmtErr.EINVAL,
    DataErr.STORE_FAILED: MgmtErr.EUNKNOWN,
    DataErr.TOO_LARGE: MgmtErr.EMSGSIZE,
    DataErr.BAD_SIGNATURE: MgmtErr.EACCESSDENIED,
}


def data_error(group: int, rc: DataErr, reason: str = "") -> GroupError:
    return GroupError(group, int(rc), V1_CODES[rc], reason)


# The store's own refusals, by type (most specific first); anything else raised while
# serving a request is our bug and reaches the office as smp.internal (server.py).
_STORE_CODES: tuple[tuple[type[StoreError], DataErr], ...] = (
    (StoreLocked, DataErr.LOCKED),
    (NotProvisioned, DataErr.NOT_PROVISIONED),
    (UnknownRecord, DataErr.NO_RECORD),
    (BadTransition, DataErr.BAD_STATE),
    (DuplicateRecord, DataErr.BAD_STATE),
    (BadOfficeSignature, DataErr.BAD_SIGNATURE),
    (StoreFull, DataErr.STORE_FULL),
    (StoreUsageError, DataErr.BAD_RECORD),  # the office's record breaks a store rule
    (StoreError, DataErr.STORE_FAILED),  # I/O, corruption, unreadable record: the unit's
)


def store_error(group: int, exc: StoreError) -> GroupError:
    """Map one of the store's errors (``firmware.store.errors``) to a group error."""
    rc = next(rc for kind, rc in _STORE_CODES if isinstance(exc, kind))
    prefix = "bad_office_signature: " if rc is DataErr.BAD_SIGNATURE else ""
    return data_error(group, rc, f"{prefix}{exc}")


# ---- request field readers (EINVAL with a reason) -------------------------------------
def _bad(reason: str) -> MgmtError:
    return MgmtError(MgmtErr.EINVAL, reason)


def text_field(body: dict, key: str, *, optional: bool = False, max_len: int = ID_MAX) -> str | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_len:
        raise _bad(f"'{key}' must be a text of 1-{max_len} characters")
    return value


def int_field(body: dict, key: str, *, default: int | None = None, low: int = 0,
              high: int = 2**32 - 1) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"'{key}' must be an integer {low}..{high}")
    return value


def bytes_field(body: dict, key: str) -> bytes:
    value = body.get(key)
    if not isinstance(value, bytes):
        raise _bad(f"'{key}' must be a byte string")
    return value


def list_field(body: dict, key: str, max_items: int = 4096) -> list:
    value = body.get(key)
    if not isinstance(value, list) or len(value) > max_items:
        raise _bad(f"'{key}' must be an array of at most {max_items} items")
    return value


# ---- sizing and packing -------------------------------------------------------------------
def response_room(buf_size: int) -> int:
    """Bytes of record data one response may carry (packet = header + body + the
    session MAC entries, framed)."""
    return buf_size - FRAME_OVERHEAD - HEADER_SIZE - BODY_OVERHEAD - mac.OVERHEAD


def piece_overhead(record_id: str, offset: int, total: int) -> int:
    """CBOR bytes of ``[id, offset, total, h'']`` plus the 2 bytes a long bstr header adds."""
    return len(cbor2.dumps([record_id, offset, total, b""])) + 2


def pack_records(start: tuple[str, int] | None, following: Iterable[str],
                 read: Callable[[str], bytes], room: int,
                 served: Callable[[str], None] | None = None) -> tuple[list[list[Any]], bool]:
    """Fill ``room`` bytes with pieces: ``start`` (id, offset) first, then ``following``.

    ``read(id)`` returns the record's bytes; ``served(id)`` is called when a record's
    last byte goes out. Returns (pieces, end) where ``end`` says every record was
    served to its last byte (nothing pending after the last piece).
    """
    pieces: list[list[Any]] = []
    queue: list[tuple[str, int]] = ([start] if start else []) + [(rid, 0) for rid in following]
    for index, (record_id, offset) in enumerate(queue):
        data = read(record_id)
        if offset > len(data):
            raise _bad(f"offset {offset} beyond the {len(data)} bytes of {record_id}")
        if offset == len(data) and index == 0 and start is not None:
            if len(queue) == 1:
                return pieces, True
            continue  # the office already has all of it: go on with the next ones
        overhead = piece_overhead(record_id, offset, len(data))
        left = len(data) - offset
        if room - overhead < min(MIN_PIECE, left) or (room - overhead <= 0):
            return pieces, False
        take = min(left, room - overhead)
        pieces.append([record_id, offset, len(data), data[offset:offset + take]])
        room -= overhead + take
        if offset + take < len(data):
            return pieces, False
        if served is not None:
            served(record_id)
        if index == len(queue) - 1:
            return pieces, True
    return pieces, True


def after(order: Sequence[str], record_id: str | None) -> list[str]:
    """The ids that follow ``record_id`` in ``order`` (all of them for None)."""
    if record_id is None:
        return list(order)
    try:
        return list(order[order.index(record_id) + 1:])
    except ValueError:
        return list(order)
