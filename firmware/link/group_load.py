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
  FSE number ranges; reloading an identical range is a no-op.

Kinds: ``invoice`` (payload: deterministic CBOR of firmware.billing Invoice.to_dict,
``prof`` = billing number), ``patient``, ``tariff`` (CBOR of the tariff table),
``opposition`` (CBOR ``{"serials": [...]}``). Invoices and tariffs are validated
again on the unit (BAD_RECORD names the field).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cbor2

from firmware.billing.errors import BillingError
from firmware.billing.invoice import Invoice
from firmware.billing.tariffs import TariffTable
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
from .header import MgmtErr, MgmtError, Op, Request

GROUP_LOAD = 82
KINDS = ("invoice", "patient", "tariff", "opposition")
MAX_RECORD = 1024 * 1024  # one loaded record (an opposition list of ~50,000 serials)


class LoadCommand:
    BATCH = 0
    CHUNK = 1
    RANGE = 2
    INFO = 3


def check_payload(kind: str, record_id: str, payload: bytes) -> None:
    """Raise BAD_RECORD unless ``payload`` is CBOR of the kind's documented shape."""
    try:
        value = cbor2.loads(payload)
    except Exception:
        raise data_error(GROUP_LOAD, DataErr.BAD_RECORD, f"{kind} {record_id}: not CBOR") from None
    try:
        if kind == "invoice":
            Invoice.from_dict(value)
        elif kind == "tariff":
            TariffTable.from_dict(value)
        elif kind == "opposition":
            serials = value.get("serials") if isinstance(value, dict) else None
            if not isinstance(serials, list) or not all(isinstance(s, str) for s in serials):
                raise BillingError("serials must be a list of texts", field="serials")
        elif not isinstance(value, dict):
            raise BillingError("patient must be a map", field="$")
    except BillingError as exc:  # name the field, never its value: this reason is logged
        where = exc.field or "$"
        raise data_error(GROUP_LOAD, DataErr.BAD_RECORD,
                         f"{kind} {record_id}: field {where} invalid ({exc.code})") from None


class LoadGroup:
    """Group 82 over a firmware.store Store (``load_batch``, ``load_fse_range``)."""

    group_id = GROUP_LOAD

    def __init__(self, store: Any) -> None:
        self.store = store
        self._upload: dict[str, Any] | None = None  # the CHUNK record being received

    def routes(self) -> Iterable[Route]:
        return [
            Route(LoadCommand.BATCH, Op.WRITE, self.batch),
            Route(LoadCommand.CHUNK, Op.WRITE, self.chunk),
            Route(LoadCommand.RANGE, Op.WRITE, self.ranges),
            Route(LoadCommand.INFO, Op.READ, self.info),
        ]

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
        if value not in KINDS:
            raise MgmtError(MgmtErr.EINVAL, f"kind must be one of {', '.join(KINDS)}")
        return value  # type: ignore[return-value]

    def batch(self, request: Request, ctx: Context) -> dict[str, Any]:
        items = []
        for item in list_field(request.body, "items", 1024):
            if not (isinstance(item, list) and len(item) == 5):
                raise MgmtError(MgmtErr.EINVAL,
                                "'items' entries are [kind, id, prof, payload, signature]")
            kind, record_id, prof, payload, sig = item
            fields = {"kind": kind, "id": record_id, "prof": prof, "d": payload, "sig": sig}
            kind = self._kind(kind)
            record_id = text_field(fields, "id")
            prof = text_field(fields, "prof", optional=True)
            payload = bytes_field(fields, "d")
            sig = bytes_field(fields, "sig")
            check_payload(kind, record_id, payload)
            items.append((kind, record_id, prof, payload, sig))
        return {"n": self._store(items, ctx)}

    def chunk(self, request: Request, ctx: Context) -> dict[str, Any]:
        body = request.body
        kind = self._kind(body.get("kind"))
        record_id = text_field(body, "id")
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
        check_payload(kind, record_id, payload)
        self._store([(kind, record_id, prof, payload, sig)], ctx)
        return {"next": size}

    def ranges(self, request: Request, ctx: Context) -> dict[str, Any]:
        ranges = list_field(request.body, "ranges", 256)
        for item in ranges:
            ok = (isinstance(item, list) and len(item) == 4
                  and all(isinstance(x, str) for x in item[:2])
                  and all(isinstance(x, int) and not isinstance(x, bool) for x in item[2:]))
            if not ok:
                raise MgmtError(MgmtErr.EINVAL, "'ranges' entries are [range id, prof, first, last]")
        for range_id, prof, first, last in ranges:
            try:
                self.store.load_fse_range(range_id, prof, first, last)
            except StoreError as exc:
                raise store_error(GROUP_LOAD, exc) from None
        return {"n": len(ranges)}
