"""The invoice: what the professional bills for one patient and one date of care.

Immutable (frozen dataclasses, tuples). ``to_dict``/``from_dict`` give plain dicts of
text, integers, booleans, lists and None only (no floats), ready for CBOR or JSON;
``from_dict`` names the faulty field in its :class:`InvoiceFormatError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from firmware.cardapps.model import PartialDate

from .amounts import decimal_text, parse_decimal
from .errors import InvoiceFormatError

NATURES = ("maladie", "maternite", "at")  # nature d'assurance
EXONERATIONS = ("none", "ald")  # exonération du ticket modérateur claimed by the invoice
TIERS_PAYANT = ("none", "amo", "amo_amc")
_NIR = re.compile(r"^[12][0-9]{2}[0-9]{2}(?:[0-9]{2}|2A|2B)[0-9]{6}$")
_DIGITS = re.compile(r"^[0-9]+$")
_BIRTH = re.compile(r"^([0-9]{2})/([0-9]{2})/([0-9]{4})$")


@dataclass(frozen=True)
class ActLine:
    """One billed act: NGAP code with coefficient (AMI 1.5), fixed act (V, MD,
    IFD, CCAM code), or per-km code (IK, AKM) with ``km``. ``amount_cents`` is the
    amount the office computed, if any; the checks compare it with the table."""

    code: str
    coefficient: Decimal = Decimal(1)
    quantity: int = 1
    km: Decimal | None = None
    amount_cents: int | None = None


@dataclass(frozen=True)
class PatientRef:
    """The patient an invoice prepared at the office is bound to (by NIR), or the
    patient data typed in degraded mode. Twins share a NIR: ``birth_rank`` and
    ``birth_date`` tell them apart."""

    nir: str
    nir_key: str
    birth_date: PartialDate
    birth_rank: int = 1
    name: str = ""
    first_name: str = ""
    regime: str = ""
    caisse: str = ""
    centre: str = ""


@dataclass(frozen=True)
class Prescription:
    prescriber_id: str  # RPPS (11 digits) or AM number of the prescriber
    date: date
    prescriber_name: str = ""


@dataclass(frozen=True)
class Invoice:
    invoice_id: str  # office reference
    billing_number: str  # the PS situation it is billed under
    profession: str
    date_of_care: date
    lines: tuple[ActLine, ...]
    patient: PatientRef | None = None  # None: unbound, beneficiary chosen on the card
    prescription: Prescription | None = None
    nature: str = "maladie"
    at_date: date | None = None
    at_number: str = ""
    exoneration: str = "none"
    tiers_payant: str = "none"

    # ---- serialisation -------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "invoice_id": self.invoice_id,
            "billing_number": self.billing_number,
            "profession": self.profession,
            "date_of_care": self.date_of_care.isoformat(),
            "patient": None if self.patient is None else _patient_to_dict(self.patient),
            "lines": [_line_to_dict(line) for line in self.lines],
            "prescription": None
            if self.prescription is None
            else {
                "prescriber_id": self.prescription.prescriber_id,
                "prescriber_name": self.prescription.prescriber_name,
                "date": self.prescription.date.isoformat(),
            },
            "nature": self.nature,
            "at_date": None if self.at_date is None else self.at_date.isoformat(),
            "at_number": self.at_number,
            "exoneration": self.exoneration,
            "tiers_payant": self.tiers_payant,
        }

    @classmethod
    def from_dict(cls, raw: object) -> Invoice:
        r = _Reader(raw, "")
        lines_raw = r.get("lines", list)
        if not lines_raw:
            raise InvoiceFormatError("an invoice needs at least one act line", field="lines")
        if len(lines_raw) > 99:
            raise InvoiceFormatError("at most 99 act lines", field="lines")
        lines = tuple(_line_from(x, f"lines[{i}]") for i, x in enumerate(lines_raw))
        patient_raw = r.get("patient", (dict, type(None)), optional=True)
        presc_raw = r.get("prescription", (dict, type(None)), optional=True)
        prescription = None
        if presc_raw is not None:
            p = _Reader(presc_raw, "prescription")
            prescription = Prescription(
                prescriber_id=p.text("prescriber_id", pattern=_DIGITS),
                date=p.required_date("date"),
                prescriber_name=p.text("prescriber_name", optional=True),
            )
        nature = r.choice("nature", NATURES, default="maladie")
        at_date = r.optional_date("at_date")
        invoice = cls(
            invoice_id=r.text("invoice_id"),
            billing_number=r.text("billing_number", pattern=_DIGITS),
            profession=r.text("profession"),
            date_of_care=r.required_date("date_of_care"),
            lines=lines,
            patient=None if patient_raw is None else _patient_from(patient_raw, "patient"),
            prescription=prescription,
            nature=nature,
            at_date=at_date,
            at_number=r.text("at_number", optional=True),
            exoneration=r.choice("exoneration", EXONERATIONS, default="none"),
            tiers_payant=r.choice("tiers_payant", TIERS_PAYANT, default="none"),
        )
        return invoice


def _line_to_dict(line: ActLine) -> dict:
    return {
        "code": line.code,
        "coefficient": decimal_text(line.coefficient),
        "quantity": line.quantity,
        "km": None if line.km is None else decimal_text(line.km),
        "amount_cents": line.amount_cents,
    }


def _line_from(raw: object, field: str) -> ActLine:
    r = _Reader(raw, field)
    coefficient = r.decimal("coefficient", default=Decimal(1))
    if coefficient <= 0:
        raise InvoiceFormatError("coefficient must be > 0", field=f"{field}.coefficient")
    quantity = r.integer("quantity", default=1, low=1, high=99)
    km = r.decimal("km", default=None)
    amount = r.integer("amount_cents", default=None, low=0, high=10_000_000)
    return ActLine(r.text("code"), coefficient, quantity, km, amount)


def _patient_to_dict(p: PatientRef) -> dict:
    return {
        "nir": p.nir,
        "nir_key": p.nir_key,
        "birth_date": str(p.birth_date),
        "birth_rank": p.birth_rank,
        "name": p.name,
        "first_name": p.first_name,
        "regime": p.regime,
        "caisse": p.caisse,
        "centre": p.centre,
    }


def _patient_from(raw: object, field: str) -> PatientRef:
    r = _Reader(raw, field)
    birth = r.text("birth_date")
    m = _BIRTH.match(birth)
    if not m:
        raise InvoiceFormatError("birth date must be DD/MM/YYYY", field=f"{field}.birth_date")
    day, month, year = (int(g) for g in m.groups())
    if month > 12 or day > 31:
        raise InvoiceFormatError("birth date out of range", field=f"{field}.birth_date")
    return PatientRef(
        nir=r.text("nir", pattern=_NIR),
        nir_key=r.text("nir_key", pattern=re.compile(r"^[0-9]{2}$")),
        birth_date=PartialDate(year, month, day),
        birth_rank=r.integer("birth_rank", default=1, low=1, high=9),
        name=r.text("name", optional=True),
        first_name=r.text("first_name", optional=True),
        regime=r.text("regime", optional=True),
        caisse=r.text("caisse", optional=True),
        centre=r.text("centre", optional=True),
    )


class _Reader:
    """Typed access to one mapping, naming ``field.key`` in every error."""

    def __init__(self, raw: object, field: str):
        if not isinstance(raw, Mapping):
            raise InvoiceFormatError("expected a mapping", field=field or "$")
        self.raw = raw
        self.field = field

    def name(self, key: str) -> str:
        return f"{self.field}.{key}" if self.field else key

    def get(self, key: str, types, optional: bool = False):
        if key not in self.raw:
            if optional:
                return None
            raise InvoiceFormatError("missing", field=self.name(key))
        value = self.raw[key]
        if not isinstance(value, types):
            raise InvoiceFormatError(f"wrong type {type(value).__name__}", field=self.name(key))
        return value

    def text(self, key: str, *, optional: bool = False, pattern: re.Pattern | None = None) -> str:
        value = self.get(key, str, optional=optional)
        if value is None or value == "":
            if optional:
                return ""
            raise InvoiceFormatError("empty", field=self.name(key))
        if len(value) > 80:
            raise InvoiceFormatError("text longer than 80 characters", field=self.name(key))
        if pattern is not None and not pattern.match(value):
            raise InvoiceFormatError(f"bad format {value!r}", field=self.name(key))
        return value

    def required_date(self, key: str) -> date:
        value = self.get(key, (str, type(None)))
        if value is None:
            raise InvoiceFormatError("missing", field=self.name(key))
        return self._parse_date(key, value)

    def optional_date(self, key: str) -> date | None:
        value = self.get(key, (str, type(None)), optional=True)
        return None if value is None else self._parse_date(key, value)

    def _parse_date(self, key: str, value: str) -> date:
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise InvoiceFormatError(f"not a date {value!r}", field=self.name(key)) from exc

    def choice(self, key: str, allowed: tuple[str, ...], *, default: str) -> str:
        value = self.get(key, str, optional=True)
        if value is None:
            return default
        if value not in allowed:
            raise InvoiceFormatError(f"must be one of {allowed}", field=self.name(key))
        return value

    def integer(self, key: str, *, default, low: int, high: int):
        value = self.raw.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvoiceFormatError(f"must be an integer {low}..{high}", field=self.name(key))
        return value

    def decimal(self, key: str, *, default):
        value = self.raw.get(key)
        if value is None:
            return default
        return parse_decimal(value, self.name(key))
