"""Plain, frozen result objects the use cases return (what the screen shows).
No card, store or key object leaks through them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class SituationView:
    index: int
    billing_number: str
    profession: str
    specialty: str
    can_sign_fse: bool
    practice_name: str


@dataclass(frozen=True)
class Professional:
    """The unlocked professional (from the CPS)."""

    card_type: str
    name: str
    first_name: str
    situations: tuple[SituationView, ...]
    pin_tries_left: int


@dataclass(frozen=True)
class InvoiceSummary:
    """One prepared invoice in the list; ``total_cents`` None if it cannot be priced."""

    invoice_id: str
    billing_number: str
    date_of_care: date
    patient_name: str  # "" for an invoice not bound to a patient
    lines: int
    total_cents: int | None


@dataclass(frozen=True)
class ActOption:
    """An act of the loaded tariff the professional can pick on the spot."""

    code: str
    label: str
    kind: str  # coefficient | fixed | per_km
    unit_price: str  # decimal text, euros, at the date of care
    prescription: bool


@dataclass(frozen=True)
class ActChoice:
    """What the professional keyed in for one act line."""

    code: str
    coefficient: str = "1"  # decimal text
    quantity: int = 1
    km: str | None = None  # decimal text, per_km acts only


@dataclass(frozen=True)
class BeneficiaryView:
    index: int
    name: str
    first_name: str
    birth_date: str  # DD/MM/YYYY (00 when unknown)
    quality: str
    rights_open: bool  # rights cover the date of care
    matches_invoice: bool | None  # None: the invoice is not bound to a patient


@dataclass(frozen=True)
class VitaleView:
    serial: str
    variant: str
    can_sign: bool  # Vitale 2 (has a card key); a Vitale 1 cannot secure an FSE
    beneficiaries: tuple[BeneficiaryView, ...]
    suggested: int | None  # index of the only beneficiary matching a bound invoice


@dataclass(frozen=True)
class IssueView:
    code: str
    message_fr: str
    field: str


@dataclass(frozen=True)
class CheckReport:
    ok: bool
    errors: tuple[IssueView, ...]
    warnings: tuple[IssueView, ...]
    total_cents: int | None
    amo_cents: int | None
    amc_cents: int | None
    patient_cents: int | None
    due_now_cents: int | None


@dataclass(frozen=True)
class SignedResult:
    """Returned only after the store committed the FSE."""

    fse_id: str
    fse_number: int
    mode: str
    billing_number: str
    signed_at: datetime
    total_cents: int
    due_now_cents: int
    pj: tuple[str, ...]  # ORDN, FSP: documents that must follow
    paper_sheet: bool  # degraded: the patient signs a paper care sheet
    warnings: tuple[IssueView, ...]


@dataclass(frozen=True)
class VitaleReadResult:
    read_id: str
    serial: str
    read_at: datetime
    beneficiaries: tuple[BeneficiaryView, ...]
