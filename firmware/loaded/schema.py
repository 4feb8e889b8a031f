"""One schema per loaded record kind: invoice, patient, tariff, opposition list, FSE range.

Each ``check_*`` takes the plain value (decoded CBOR on the unit, the file's JSON or CSV
cells at the office) and returns the typed record, or raises a
:class:`firmware.billing.errors.BillingError` whose ``field`` names the faulty item
relative to the record (``lines[1].code``, ``patient.nir_key``, ``serials[3]``,
``first``). The same functions run in ``tla load`` before anything is sent, in the
unit's load group before anything is stored, and in the unit's reader, so a value the
office accepts is one the unit stores and reads back.

Rules beyond the billing core's own (``Invoice.from_dict``, ``TariffTable.from_dict``):

- ids (record, billing number of a range, range id): 1-64 of ``[A-Za-z0-9._:-]``;
- no unknown field (a misspelt one would silently take its default);
- NIR + key pass the mod-97 check (``firmware/cardapps/nir.py``);
- dates of care, of prescription and of accident in 2000-2099 (the unit clock's range),
  birth years 1900-2099;
- Vitale serials in an opposition list: 1-32 ASCII digits (what a card's serial is);
- FSE ranges: ``1 <= first <= last <= 999999999``.

:func:`check_acts` (profession and act codes against a tariff table) runs wherever the
table is known: ``tla load`` (the table loaded with the invoices or the office's copy of
the last one sent) and the unit's load group (a table in the same load).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import cbor2

from firmware.billing.errors import BillingError
from firmware.billing.invoice import Invoice
from firmware.billing.tariffs import TariffTable
from firmware.cardapps.nir import is_valid_nir

KINDS = ("invoice", "patient", "tariff", "opposition")
ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
SERIAL = re.compile(r"[0-9]{1,32}")
MAX_FSE_NUMBER = 999_999_999
CARE_YEARS = (2000, 2099)
BIRTH_YEARS = (1900, 2099)

PATIENT_FIELDS = ("nir", "nir_key", "birth_date", "birth_rank", "name", "first_name",
                  "regime", "caisse", "centre")
LINE_FIELDS = ("code", "coefficient", "quantity", "km", "amount_cents")
PRESCRIPTION_FIELDS = ("prescriber_id", "date", "prescriber_name")
INVOICE_FIELDS = ("invoice_id", "billing_number", "profession", "date_of_care", "nature",
                  "exoneration", "tiers_payant", "at_date", "at_number", "patient",
                  "prescription", "lines")
RANGE_FIELDS = ("range_id", "professional_id", "first", "last")


class RecordError(BillingError):
    """A loaded record breaks a rule of this module (``field`` names where)."""

    code = "record_invalid"
    message_fr = "Donnée chargée invalide"


@dataclass(frozen=True)
class FseRange:
    range_id: str
    professional_id: str
    first: int
    last: int

    def as_list(self) -> list:
        return [self.range_id, self.professional_id, self.first, self.last]


def check_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not ID.fullmatch(value):
        raise RecordError("1-64 of [A-Za-z0-9._:-]", field=field)
    return value


def _known(raw: object, known: tuple[str, ...], prefix: str = "") -> None:
    if isinstance(raw, Mapping):
        unknown = sorted(str(k) for k in raw if k not in known)
        if unknown:
            raise RecordError(f"unknown field (known: {', '.join(known)})",
                              field=prefix + unknown[0])


def _year(day: date | None, field: str, years: tuple[int, int] = CARE_YEARS) -> None:
    if day is not None and not years[0] <= day.year <= years[1]:
        raise RecordError(f"year {day.year} outside {years[0]}-{years[1]}", field=field)


def _nir(nir: str, key: str, prefix: str) -> None:
    if not is_valid_nir(nir + key):
        raise RecordError("NIR key does not match the NIR (mod 97)", field=f"{prefix}nir_key")


def check_invoice(raw: object) -> Invoice:
    _known(raw, INVOICE_FIELDS)
    if isinstance(raw, Mapping):
        lines = raw.get("lines")
        for i, line in enumerate(lines if isinstance(lines, list) else []):
            _known(line, LINE_FIELDS, f"lines[{i}].")
        _known(raw.get("prescription"), PRESCRIPTION_FIELDS, "prescription.")
        _known(raw.get("patient"), PATIENT_FIELDS, "patient.")
    invoice = Invoice.from_dict(raw)
    check_id(invoice.invoice_id, "invoice_id")
    _year(invoice.date_of_care, "date_of_care")
    _year(invoice.at_date, "at_date")
    if invoice.prescription is not None:
        _year(invoice.prescription.date, "prescription.date")
    if invoice.patient is not None:
        p = invoice.patient
        _nir(p.nir, p.nir_key, "patient.")
        if not BIRTH_YEARS[0] <= p.birth_date.year <= BIRTH_YEARS[1]:
            raise RecordError(f"birth year outside {BIRTH_YEARS[0]}-{BIRTH_YEARS[1]}",
                              field="patient.birth_date")
    return invoice


def check_patient(raw: object) -> dict:
    """A patient record: ``patient_id`` and the patient fields of an invoice."""
    if not isinstance(raw, Mapping):
        raise RecordError("expected a map", field="$")
    pid = check_id(raw.get("patient_id"), "patient_id")
    fields = {k: v for k, v in raw.items() if k != "patient_id"}
    _known(fields, PATIENT_FIELDS)
    probe = {"invoice_id": "x", "billing_number": "1", "profession": "x",
             "date_of_care": "2026-01-01", "lines": [{"code": "X"}], "patient": fields}
    try:  # the billing core's patient rules, and ours (NIR key, birth year)
        check_invoice(probe)
    except BillingError as exc:
        raise type(exc)(exc.detail, field=exc.field.removeprefix("patient.")) from None
    return {"patient_id": pid, **{k: fields[k] for k in PATIENT_FIELDS if k in fields}}


def check_tariff(raw: object) -> TariffTable:
    return TariffTable.from_dict(raw)


def check_serial(value: object, field: str = "serial") -> str:
    if not isinstance(value, str) or not SERIAL.fullmatch(value):
        raise RecordError("a Vitale serial is 1-32 digits", field=field)
    return value


def check_opposition(raw: object) -> frozenset[str]:
    """``{"serials": [...]}`` (what ``tla load`` sends) or a bare list of serials."""
    serials = raw.get("serials") if isinstance(raw, Mapping) else raw
    if isinstance(raw, Mapping):
        _known(raw, ("serials",))
    if not isinstance(serials, list):
        raise RecordError("expected a list of serials", field="serials")
    return frozenset(check_serial(s, f"serials[{i}]") for i, s in enumerate(serials))


def check_range(raw: object) -> FseRange:
    """``{range_id, professional_id, first, last}`` or ``[range_id, prof, first, last]``."""
    if isinstance(raw, list | tuple) and len(raw) == 4:
        raw = dict(zip(RANGE_FIELDS, raw, strict=True))
    if not isinstance(raw, Mapping):
        raise RecordError("expected a map", field="$")
    _known(raw, RANGE_FIELDS)
    rid = check_id(raw.get("range_id"), "range_id")
    prof = check_id(raw.get("professional_id"), "professional_id")
    bounds = []
    for name in ("first", "last"):
        value = raw.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_FSE_NUMBER:
            raise RecordError(f"an integer 1..{MAX_FSE_NUMBER}", field=name)
        bounds.append(value)
    if bounds[0] > bounds[1]:
        raise RecordError("first must not exceed last", field="last")
    return FseRange(rid, prof, bounds[0], bounds[1])


def check_acts(invoice: Invoice, table: TariffTable) -> None:
    """The invoice's profession and every act code exist in ``table``."""
    if table.amo_rate(invoice.profession) is None:
        raise RecordError(f"profession {invoice.profession!r} is not in the tariff table",
                          code="profession_unknown", field="profession")
    for i, line in enumerate(invoice.lines):
        if table.entry(invoice.profession, line.code) is None:
            raise RecordError(f"act {line.code!r} is not in the tariff table for profession "
                              f"{invoice.profession}", code="tariff_unknown",
                              field=f"lines[{i}].code")


CHECKS = {"invoice": check_invoice, "patient": check_patient, "tariff": check_tariff,
          "opposition": check_opposition}


def check(kind: str, value: object) -> object:
    """The typed record of ``kind`` (one of :data:`KINDS`) or a BillingError."""
    if kind not in CHECKS:
        raise RecordError(f"kind must be one of {', '.join(KINDS)}", field="kind")
    return CHECKS[kind](value)


def decode(payload: bytes) -> object:
    """A loaded payload (one CBOR data item, as ``tla load`` sends it) to plain values."""
    try:
        return cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError, EOFError, RecursionError):
        raise RecordError("not CBOR", field="$") from None


def encode(kind: str, record: object) -> bytes:
    """The deterministic CBOR payload ``tla load`` sends for a checked record."""
    from firmware.billing.cbor_det import encode as det

    if kind == "invoice" and isinstance(record, Invoice):
        return det(record.to_dict())
    if kind == "opposition" and isinstance(record, frozenset):
        return det({"serials": sorted(record)})
    return det(record)
