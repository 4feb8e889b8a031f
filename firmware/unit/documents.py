"""Decoding of what the office loads into the store (docs/visit.md §Loaded records).

The store keeps loaded payloads as opaque bytes. The unit reads them as:

- a CBOR data item (RFC 8949), the link's native encoding, or
- UTF-8 JSON (RFC 8259) when the first byte is ``{`` or ``[`` (no CBOR data item
  of the kinds below starts with 0x7B or 0x5B: those are a text and a byte
  string header).

Kinds, each checked by its schema in :mod:`firmware.loaded.schema` (the one ``tla
load`` and the load group apply, so what was loaded reads back):

- ``invoice``: the map of :meth:`firmware.billing.invoice.Invoice.to_dict`;
- ``tariff``: the map of :meth:`firmware.billing.tariffs.TariffTable.from_dict`;
- ``opposition``: ``{"serials": ["9100000001", ...]}`` or a bare list of serials
  (Vitale card serials, 1-32 ASCII digits).

Every failure raises :class:`DocumentError` with a stable code and French text.
"""

from __future__ import annotations

import json

import cbor2

from firmware.billing.errors import BillingError
from firmware.billing.invoice import Invoice
from firmware.billing.tariffs import TariffTable
from firmware.errors import TlaError
from firmware.loaded import schema


class DocumentError(TlaError):
    code = "document_invalid"
    message_fr = "Données chargées illisibles"


def decode(payload: bytes, what: str) -> object:
    """CBOR or JSON (see the module docstring) to plain Python values."""
    try:
        if payload[:1] in (b"{", b"["):
            return json.loads(payload.decode("utf-8"))
        return cbor2.loads(payload)
    except (ValueError, UnicodeDecodeError, cbor2.CBORDecodeError, EOFError, RecursionError) as exc:
        raise DocumentError(f"{what}: not CBOR or JSON ({exc})") from None


def invoice(payload: bytes, record_id: str) -> Invoice:
    try:
        inv = schema.check_invoice(decode(payload, f"invoice {record_id}"))
    except BillingError as exc:
        raise DocumentError(f"invoice {record_id}: {exc}", code="invoice_invalid",
                            message_fr="Facture illisible") from None
    return inv


def tariffs(payload: bytes, record_id: str) -> TariffTable:
    try:
        return schema.check_tariff(decode(payload, f"tariff {record_id}"))
    except BillingError as exc:
        raise DocumentError(f"tariff {record_id}: {exc}", code="tariff_invalid",
                            message_fr="Tarif illisible") from None


def opposition(payload: bytes) -> frozenset[str]:
    try:
        return schema.check_opposition(decode(payload, "opposition list"))
    except BillingError:
        raise DocumentError("opposition list must be a list of digit serials",
                            code="opposition_invalid",
                            message_fr="Liste d'opposition illisible") from None
