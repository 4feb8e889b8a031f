"""Unloading records to the office: the shared list / pull / acknowledge commands.

Two groups are built on :class:`UnloadGroup` (``docs/protocol.md`` §7):
group 83 for Vitale reads (:class:`VitaleReadSource`) and group 84 for signed FSEs
(``firmware.office_link.group_fse``). Every command needs an authenticated session (the
dispatcher checks it) **and** the unit unlocked by the CPS, since these records are
patient data; a locked unit answers ``{"err": {"group": g, "rc": 1}}`` (LOCKED).

- LIST (cmd 1, read) ``{"after": id?}`` -> ``{"recs": [[id, number, prof, status,
  size]], "more": bool}``: pending records (not yet acknowledged), in a fixed order;
- PULL (cmd 2, read) ``{"id": id?, "off": n}`` -> ``{"recs": [[id, off, total, h'..']],
  "end": bool}``: bytes from record ``id`` at ``off``, then the following pending
  records, as many as one response holds;
- ACK (cmd 3, write) ``{"acks": [[id, import_id]]}`` -> ``{"n": count}``: the office
  has the records durably; only now may the unit purge them. Repeating an ACK is
  harmless; acknowledging with another import id is refused (BAD_STATE).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol

from firmware.store.errors import StoreError, UnknownRecord

from .chunks import (
    DataErr,
    data_error,
    int_field,
    list_field,
    pack_records,
    response_room,
    store_error,
    text_field,
)
from .dispatch import Context, Route
from .header import MgmtErr, MgmtError, Op, Request

GROUP_VITALE_READS = 83
LIST_MAX = 200  # records per LIST answer (each entry is under 100 bytes)
ACK_MAX = 256
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class UnloadCommand:
    LIST = 1
    PULL = 2
    ACK = 3


class RecordSource(Protocol):
    """What an unload group needs from the store, for one kind of record."""

    def unlocked(self) -> bool: ...

    def order(self) -> list[tuple[str, int, str, str, int]]:
        """Every record, in unload order: (id, number, professional id, status, size)."""
        ...

    def pending(self, status: str) -> bool:
        """True for a status the office has not acknowledged yet."""
        ...

    def read(self, record_id: str) -> bytes: ...

    def served(self, record_id: str) -> None:
        """The record's last byte went out (FSE: signed -> offered)."""
        ...

    def acknowledge(self, record_id: str, import_id: str) -> None: ...


class VitaleReadSource:
    """Vitale reads made in visit (store kind ``vitale_read``); ACK deletes them, and
    acknowledging a read that is already gone is a no-op."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def unlocked(self) -> bool:
        return bool(self.store.is_unlocked)

    def order(self) -> list[tuple[str, int, str, str, int]]:
        return [(r.record_id, 0, r.professional_id or "", r.status, r.size)
                for r in self.store.list_records("vitale_read")]

    def pending(self, status: str) -> bool:
        return True  # acknowledged reads are deleted

    def read(self, record_id: str) -> bytes:
        return self.store.get_record("vitale_read", record_id)

    def served(self, record_id: str) -> None:
        return None

    def acknowledge(self, record_id: str, import_id: str) -> None:
        try:
            self.store.delete_record("vitale_read", record_id)
        except UnknownRecord:  # already deleted by an earlier ACK: done (idempotent)
            pass


class UnloadGroup:
    """LIST / PULL / ACK over a :class:`RecordSource`, sized to ``buf_size``."""

    def __init__(self, group_id: int, source: RecordSource, buf_size: int) -> None:
        self.group_id = group_id
        self.source = source
        self.room = response_room(buf_size)

    def routes(self) -> Iterable[Route]:
        return [
            Route(UnloadCommand.LIST, Op.READ, self.list),
            Route(UnloadCommand.PULL, Op.READ, self.pull),
            Route(UnloadCommand.ACK, Op.WRITE, self.ack),
        ]

    def _guard(self) -> None:
        if not self.source.unlocked():
            raise data_error(self.group_id, DataErr.LOCKED, "unlock the unit with the CPS first")

    def list(self, request: Request, ctx: Context) -> dict[str, Any]:
        self._guard()
        start = text_field(request.body, "after", optional=True)
        rows = [r for r in self.source.order() if self.source.pending(r[3])]
        if start is not None:
            ids = [r[0] for r in rows]
            rows = rows[ids.index(start) + 1:] if start in ids else rows
        return {"recs": [list(r) for r in rows[:LIST_MAX]], "more": len(rows) > LIST_MAX}

    def pull(self, request: Request, ctx: Context) -> dict[str, Any]:
        self._guard()
        record_id = text_field(request.body, "id", optional=True)
        offset = int_field(request.body, "off", default=0)
        order = self.source.order()
        ids = [r[0] for r in order]
        status = {r[0]: r[3] for r in order}
        if record_id is not None and record_id not in status:
            raise data_error(self.group_id, DataErr.NO_RECORD, f"no record {record_id}")
        rest = ids[ids.index(record_id) + 1:] if record_id is not None else ids
        following = [rid for rid in rest if self.source.pending(status[rid])]
        start = (record_id, offset) if record_id is not None else None
        try:
            pieces, end = pack_records(start, following, self.source.read, self.room,
                                       self.source.served)
        except StoreError as exc:  # store refusals (locked meanwhile, I/O)
            raise store_error(self.group_id, exc) from None
        return {"recs": pieces, "end": end}

    def ack(self, request: Request, ctx: Context) -> dict[str, Any]:
        self._guard()
        acks = list_field(request.body, "acks", ACK_MAX)
        for item in acks:
            ok = (isinstance(item, list) and len(item) == 2
                  and all(isinstance(x, str) and _ID.fullmatch(x) for x in item))
            if not ok:
                raise MgmtError(MgmtErr.EINVAL, "'acks' items must be [record id, import id]")
        for record_id, import_id in acks:
            try:
                self.source.acknowledge(record_id, import_id)
            except StoreError as exc:
                raise store_error(self.group_id, exc) from None
        return {"n": len(acks)}


def vitale_read_group(store: Any, buf_size: int) -> UnloadGroup:
    """Group 83: Vitale reads made in visit, unloaded like FSEs."""
    return UnloadGroup(GROUP_VITALE_READS, VitaleReadSource(store), buf_size)
