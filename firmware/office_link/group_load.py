"""Group 82: loading prepared data into the unit (``docs/protocol.md`` §8).

Loading works while the unit is locked: the store seals each record to the unit's
public key (HPKE, see firmware/store/crypto.py). Every command needs a session.
Every record carries ``sig``: the session host's Ed25519 signature of
firmware/store/office_sig.py ``load_message`` (unit id from INFO); a record whose
signature does not verify under the session's paired host key is refused with
BAD_SIGNATURE (reason ``bad_office_signature``) and nothing of its batch is stored.

- INFO (cmd 3, read) ``{}`` -> ``{"unit": h'16 bytes'}``: the store's unit id, the
  first field of every load signature (binds a signed record to this unit);
- BATCH (cmd 0, write) ``{"items": [[kind, id, prof|null, h'payload', h'sig']]}`` ->
  ``{"n": count}``: whole records, all in ONE store transaction (all or none);
  reloading a record replaces it (idempotent);
- CHUNK (cmd 1, write) ``{"kind", "id", "prof"?, "off", "size", "d": h'..', "sig"}`` ->
  ``{"next": n}``: one record too large for a frame, in pieces; the unit keeps one
  upload in RAM and stores it when ``next == size`` (``sig`` covers the whole
  record; only the last piece's ``sig`` is used). ``off == 0`` restarts it; any
  other offset must equal the unit's ``next`` (else BAD_OFFSET: restart at 0);
- RANGE (cmd 2, write) ``{"ranges": [[range_id, prof, first, last]]}`` -> ``{"n"}``:
  FSE number ranges; reloading an identical range is a no-op; a new range must start
  after every number already covered for its professional (firmware/loaded/ranges.py);
- BEGIN (cmd 4, write) ``{}`` -> ``{"max": bytes}``: opens a load transaction on this
  session: BATCH, CHUNK and RANGE then only stage (in RAM, at most ``max`` payload
  bytes) and answer as usual;
- COMMIT (cmd 5, write) ``{"n": records, "r": ranges}`` -> ``{"n": stored}``: checks the
  whole staged load (counts, the range rule against the stored ranges, invoices against
  a tariff table in the same load) and stores it: all of it or none;
- ABORT (cmd 6, write) ``{}`` -> ``{}``: drops the staged load (so does a new BEGIN, the
  session's end, or a request from another session);
- LIST (cmd 7, read) ``{"after": [kind, id]?}`` -> ``{"recs": [[kind, id, prof, status,
  size]], "more": bool}``: the loaded records (metadata only, works while locked);
- RANGES (cmd 9, read) ``{}`` -> ``{"ranges": [[range_id, prof, first, last]]}``: the
  stored FSE ranges, so ``tla load`` applies the range rule to its files first;
- WITHDRAW (cmd 8, write) ``{"recs": [[kind, id]]}`` -> ``{"n"}``: removes loaded
  records (all are checked first: unknown NO_RECORD, used by a signed FSE BAD_STATE).

Kinds: ``invoice`` (payload: deterministic CBOR of firmware.billing Invoice.to_dict,
``prof`` = billing number), ``patient``, ``tariff`` (CBOR of the tariff table),
``opposition`` (CBOR ``{"serials": [...]}``). Every payload is checked against its
kind's schema (firmware/loaded/schema.py, the one ``tla load`` applies): BAD_RECORD
names the kind, the id and the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from firmware.billing.errors import BillingError
from firmware.loaded import schema
from firmware.loaded.ranges import RangeBook
from firmware.store.errors import StoreError

from .chunks import (
    DataErr,
    bytes_field,
    data_error,
    int_field,
    list_field,
    store_error,
    text_field,
)
from .dispatch import Context, Route
from .header import GroupError, MgmtErr, MgmtError, Op, Request

GROUP_LOAD = 82
KINDS = schema.KINDS
MAX_RECORD = 1024 * 1024  # one loaded record (an opposition list of ~50,000 serials)
MAX_STAGED = 16 * 1024 * 1024  # payload bytes one load transaction holds in RAM
LIST_MAX = 200  # records per LIST answer


class LoadCommand:
    BATCH = 0
    CHUNK = 1
    RANGE = 2
    INFO = 3
    BEGIN = 4
    COMMIT = 5
    ABORT = 6
    LIST = 7
    WITHDRAW = 8
    RANGES = 9


def _refused(what: str, exc: BillingError) -> GroupError:
    """BAD_RECORD naming the record and the field, never its value: this reason is logged."""
    return data_error(GROUP_LOAD, DataErr.BAD_RECORD,
                      f"{what}: field {exc.field or '$'} invalid ({exc.code})")


def check_payload(kind: str, record_id: str, payload: bytes) -> object:
    """The record ``payload`` holds, checked by its kind's schema; BAD_RECORD otherwise."""
    try:
        return schema.check(kind, schema.decode(payload))
    except BillingError as exc:
        raise _refused(f"{kind} {record_id}", exc) from None


class _Staged:
    """One open load transaction: what BATCH, CHUNK and RANGE brought, not yet stored."""

    def __init__(self, session: object) -> None:
        self.session = session
        self.items: list[tuple[str, str, str | None, bytes, bytes]] = []
        self.records: list[object] = []  # the checked record of each item
        self.ranges: list[schema.FseRange] = []
        self.size = 0


class LoadGroup:
    """Group 82 over a firmware.store Store (``load_batch``, ``load_fse_range``)."""

    group_id = GROUP_LOAD

    def __init__(self, store: Any) -> None:
        self.store = store
        self._upload: dict[str, Any] | None = None  # the CHUNK record being received
        self._staged: _Staged | None = None  # the open load transaction, if any

    def routes(self) -> Iterable[Route]:
        return [
            Route(LoadCommand.BATCH, Op.WRITE, self.batch),
            Route(LoadCommand.CHUNK, Op.WRITE, self.chunk),
            Route(LoadCommand.RANGE, Op.WRITE, self.ranges),
            Route(LoadCommand.INFO, Op.READ, self.info),
            Route(LoadCommand.BEGIN, Op.WRITE, self.begin),
            Route(LoadCommand.COMMIT, Op.WRITE, self.commit),
            Route(LoadCommand.ABORT, Op.WRITE, self.abort),
            Route(LoadCommand.LIST, Op.READ, self.list),
            Route(LoadCommand.WITHDRAW, Op.WRITE, self.withdraw),
            Route(LoadCommand.RANGES, Op.READ, self.fse_ranges),
        ]

    def _open(self, ctx: Context) -> _Staged | None:
        """The load transaction of this session; one left by another session is dropped."""
        if self._staged is not None and self._staged.session is not ctx.session:
            self._staged = None
        return self._staged

    def _stage(self, staged: _Staged, item: tuple[str, str, str | None, bytes, bytes],
               record: object) -> None:
        if staged.size + len(item[3]) > MAX_STAGED:
            self._staged = None
            raise data_error(GROUP_LOAD, DataErr.TOO_LARGE,
                             f"a load holds at most {MAX_STAGED} bytes: load in parts")
        staged.items.append(item)
        staged.records.append(record)
        staged.size += len(item[3])

    def info(self, request: Request, ctx: Context) -> dict[str, Any]:
        return {"unit": self.store.unit_id}

    def _store(self, items: list[tuple[str, str, str | None, bytes, bytes]], ctx: Context) -> int:
        """Store the items signed by the session's paired host (the store checks
        each signature before anything is written)."""
        signer = ctx.session.host.host_id if ctx.session is not None else b""
        try:
            return self.store.load_batch([(*item, signer) for item in items])
        except StoreError as exc:  # BadOfficeSignature -> BAD_SIGNATURE, by type
            raise store_error(GROUP_LOAD, exc) from None

    @staticmethod
    def _kind(value: object) -> str:
        if not isinstance(value, str) or value not in KINDS:
            raise MgmtError(MgmtErr.EINVAL, f"kind must be one of {', '.join(KINDS)}")
        return value

    def batch(self, request: Request, ctx: Context) -> dict[str, Any]:
        items = []
        for item in list_field(request.body, "items", 1024):
            if not (isinstance(item, list) and len(item) == 5):
                raise MgmtError(MgmtErr.EINVAL,
                                "'items' entries are [kind, id, prof, payload, signature]")
            kind, record_id, prof, payload, sig = item
            fields = {"kind": kind, "id": record_id, "prof": prof, "d": payload, "sig": sig}
            kind = self._kind(kind)
            record_id = text_field(fields, "id") or ""  # never None: not optional
            prof = text_field(fields, "prof", optional=True)
            payload = bytes_field(fields, "d")
            sig = bytes_field(fields, "sig")
            record = check_payload(kind, record_id, payload)
            items.append(((kind, record_id, prof, payload, sig), record))
        staged = self._open(ctx)
        if staged is not None:
            for item, record in items:
                self._stage(staged, item, record)
            return {"n": len(items)}
        return {"n": self._store([item for item, _ in items], ctx)}

    def chunk(self, request: Request, ctx: Context) -> dict[str, Any]:
        body = request.body
        kind = self._kind(body.get("kind"))
        record_id = text_field(body, "id") or ""  # never None: not optional
        prof = text_field(body, "prof", optional=True)
        size = int_field(body, "size", low=0, high=MAX_RECORD)
        offset = int_field(body, "off", high=MAX_RECORD)
        data = bytes_field(body, "d")
        sig = bytes_field(body, "sig")
        key = (kind, record_id, prof, size)
        up = self._upload
        if offset == 0:
            up = self._upload = {"key": key, "data": bytearray()}
        elif up is None or up["key"] != key or len(up["data"]) != offset:
            expected = 0 if up is None or up["key"] != key else len(up["data"])
            raise data_error(GROUP_LOAD, DataErr.BAD_OFFSET, f"expected offset {expected}")
        if offset + len(data) > size:
            self._upload = None
            raise data_error(GROUP_LOAD, DataErr.TOO_LARGE, f"more than the announced {size} bytes")
        up["data"] += data
        if len(up["data"]) < size:
            return {"next": len(up["data"])}
        self._upload = None
        payload = bytes(up["data"])
        record = check_payload(kind, record_id, payload)
        staged = self._open(ctx)
        if staged is not None:
            self._stage(staged, (kind, record_id, prof, payload, sig), record)
        else:
            self._store([(kind, record_id, prof, payload, sig)], ctx)
        return {"next": size}

    def ranges(self, request: Request, ctx: Context) -> dict[str, Any]:
        new = []
        for item in list_field(request.body, "ranges", 256):
            ok = (isinstance(item, list) and len(item) == 4
                  and all(isinstance(x, str) for x in item[:2])
                  and all(isinstance(x, int) and not isinstance(x, bool) for x in item[2:]))
            if not ok:
                raise MgmtError(MgmtErr.EINVAL, "'ranges' entries are [range id, prof, first, last]")
            try:
                new.append(schema.check_range(item))
            except BillingError as exc:
                raise _refused(f"fse_range {item[0]}", exc) from None
        staged = self._open(ctx)
        if staged is not None:
            staged.ranges += new
            return {"n": len(new)}
        self._store_ranges(self._range_rule(new))
        return {"n": len(new)}

    def _range_rule(self, new: list[schema.FseRange]) -> list[schema.FseRange]:
        """The ranges of ``new`` not yet stored, once the range rule accepts them all
        against the stored ones (the store applies the same rule again when it inserts)."""
        book = RangeBook(schema.FseRange(*r) for r in self.store.fse_ranges())
        fresh = []
        for r in new:
            try:
                if book.add(r):
                    fresh.append(r)
            except BillingError as exc:
                raise _refused(f"fse_range {r.range_id}", exc) from None
        return fresh

    def _store_ranges(self, ranges: list[schema.FseRange]) -> None:
        for r in ranges:
            try:
                self.store.load_fse_range(r.range_id, r.professional_id, r.first, r.last)
            except StoreError as exc:
                raise store_error(GROUP_LOAD, exc) from None

    # ---- load transaction ------------------------------------------------------------
    def begin(self, request: Request, ctx: Context) -> dict[str, Any]:
        self._staged = _Staged(ctx.session)
        self._upload = None
        return {"max": MAX_STAGED}

    def abort(self, request: Request, ctx: Context) -> dict[str, Any]:
        if self._open(ctx) is not None:
            self._staged = None
        return {}

    def commit(self, request: Request, ctx: Context) -> dict[str, Any]:
        """Store the staged load whole, or nothing of it (the transaction ends either way)."""
        staged = self._open(ctx)
        if staged is None:
            raise data_error(GROUP_LOAD, DataErr.BAD_STATE, "no load in progress: BEGIN first")
        self._staged = None
        records = int_field(request.body, "n", high=10**9)
        ranges = int_field(request.body, "r", default=0, high=10**9)
        if (records, ranges) != (len(staged.items), len(staged.ranges)):
            raise data_error(GROUP_LOAD, DataErr.BAD_STATE,
                             f"the unit holds {len(staged.items)} records and "
                             f"{len(staged.ranges)} ranges of this load, not {records} and "
                             f"{ranges}: load again")
        self._check_acts(staged)
        fresh = self._range_rule(staged.ranges)  # before anything is stored
        stored = self._store(staged.items, ctx) if staged.items else 0
        # The records went in one store transaction; the ranges follow, each its own
        # (the store has no call taking both). Every rule was checked above, so a range
        # can fail here only on a storage error, after which the store refuses all writes
        # until restarted (docs/store.md): reloading then completes the load.
        self._store_ranges(fresh)
        return {"n": stored + len(staged.ranges)}

    def _check_acts(self, staged: _Staged) -> None:
        """Invoices against the tariff table loaded with them, if there is one (the
        stored tables need the unit unlocked to be read; the visit checks again)."""
        tables = [r for r in staged.records if isinstance(r, schema.TariffTable)]
        if not tables:
            return
        for (kind, record_id, *_), record in zip(staged.items, staged.records, strict=True):
            if kind == "invoice" and isinstance(record, schema.Invoice):
                try:
                    schema.check_acts(record, tables[-1])
                except BillingError as exc:
                    raise _refused(f"invoice {record_id}", exc) from None

    # ---- what the office loaded ------------------------------------------------------
    def list(self, request: Request, ctx: Context) -> dict[str, Any]:
        after = request.body.get("after")
        if after is not None and not (isinstance(after, list) and len(after) == 2
                                      and all(isinstance(x, str) for x in after)):
            raise MgmtError(MgmtErr.EINVAL, "'after' is [kind, id]")
        try:  # the office's ids are sealed at rest (docs/store.md): the unit must be unlocked
            rows = [[r.kind, r.record_id, r.professional_id, r.status, r.size]
                    for kind in KINDS for r in self.store.list_records(kind)]
        except StoreError as exc:
            raise store_error(GROUP_LOAD, exc) from None
        if after is not None:
            keys = [row[:2] for row in rows]
            rows = rows[keys.index(after) + 1:] if after in keys else rows
        return {"recs": rows[:LIST_MAX], "more": len(rows) > LIST_MAX}

    def fse_ranges(self, request: Request, ctx: Context) -> dict[str, Any]:
        return {"ranges": [list(r) for r in self.store.fse_ranges()]}

    def withdraw(self, request: Request, ctx: Context) -> dict[str, Any]:
        recs = list_field(request.body, "recs", 256)
        for item in recs:
            if not (isinstance(item, list) and len(item) == 2 and item[0] in KINDS
                    and isinstance(item[1], str)):
                raise MgmtError(MgmtErr.EINVAL, "'recs' items are [kind, id]")
        try:
            for kind, record_id in recs:  # all checked before any is removed
                info = self.store.record_info(kind, record_id)
                if info.status != "loaded":
                    raise data_error(GROUP_LOAD, DataErr.BAD_STATE,
                                     f"{kind} {record_id} belongs to a signed FSE")
            for kind, record_id in recs:
                self.store.delete_record(kind, record_id)
        except StoreError as exc:
            raise store_error(GROUP_LOAD, exc) from None
        return {"n": len(recs)}
