"""Amounts of an invoice against the tariff table (docs/billing.md §Amounts).

Per line:   amount = round_half_up(unit_price x coefficient x quantity [x km]) to the cent
            amo    = round_half_up(amount x rate / 100)
Totals are sums of the line figures (so totals always equal the sum of lines).
Rate: 100 % for maternité, AT and ALD exoneration; otherwise the profession's rate.
AMC part: with tiers payant AMO+AMC, the AMC takes the remainder (ticket modérateur);
otherwise 0. ``due_now`` is what the patient pays at the visit.
"""

from __future__ import annotations

from dataclasses import dataclass

from .amounts import euros_to_cents, percent_of
from .errors import BillingError
from .invoice import ActLine, Invoice
from .tariffs import TariffEntry, TariffTable


@dataclass(frozen=True)
class PricedLine:
    code: str
    label: str
    amount_cents: int
    amo_cents: int
    amc_cents: int

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "label": self.label,
            "amount_cents": self.amount_cents,
            "amo_cents": self.amo_cents,
            "amc_cents": self.amc_cents,
        }


@dataclass(frozen=True)
class Amounts:
    rate: int
    lines: tuple[PricedLine, ...]
    total_cents: int
    amo_cents: int
    amc_cents: int
    patient_cents: int  # total - amo - amc
    due_now_cents: int  # paid by the patient at the visit (depends on tiers payant)

    def to_dict(self) -> dict:
        return {
            "rate": self.rate,
            "lines": [line.to_dict() for line in self.lines],
            "total_cents": self.total_cents,
            "amo_cents": self.amo_cents,
            "amc_cents": self.amc_cents,
            "patient_cents": self.patient_cents,
            "due_now_cents": self.due_now_cents,
        }


def amo_rate(invoice: Invoice, tariffs: TariffTable) -> int:
    """AMO rate in percent for this invoice."""
    if invoice.nature in ("maternite", "at") or invoice.exoneration == "ald":
        return 100
    rate = tariffs.amo_rate(invoice.profession)
    if rate is None:
        raise BillingError(
            f"profession {invoice.profession} not in the tariff table",
            code="profession_unknown",
            message_fr="Profession inconnue du tarif",
            field="profession",
        )
    return rate


def line_amount(line: ActLine, entry: TariffEntry, invoice: Invoice, field: str) -> int:
    """Amount in cents of one line, or BillingError (code tariff_*)."""
    price = entry.price_at(invoice.date_of_care)
    if price is None:
        raise BillingError(
            f"{entry.code} has no price on {invoice.date_of_care}",
            code="tariff_not_valid",
            message_fr=f"Tarif {entry.code} non valide à cette date",
            field=f"{field}.code",
        )
    factor = price * line.coefficient * line.quantity
    if entry.kind == "per_km":
        if line.km is None or line.km <= 0:
            raise BillingError(
                f"{entry.code} needs km",
                code="km_missing",
                message_fr=f"{entry.code}: kilomètres manquants",
                field=f"{field}.km",
            )
        factor *= line.km
    elif line.km is not None:
        raise BillingError(
            f"{entry.code} is not billed per km",
            code="km_unexpected",
            message_fr=f"{entry.code}: pas de kilomètres",
            field=f"{field}.km",
        )
    if entry.kind == "fixed" and line.coefficient != 1:
        raise BillingError(
            f"{entry.code} takes no coefficient",
            code="coefficient_unexpected",
            message_fr=f"{entry.code}: pas de coefficient",
            field=f"{field}.coefficient",
        )
    return euros_to_cents(factor)


def lookup(invoice: Invoice, tariffs: TariffTable, index: int) -> TariffEntry:
    line = invoice.lines[index]
    entry = tariffs.entry(invoice.profession, line.code)
    if entry is None:
        raise BillingError(
            f"{line.code} unknown for profession {invoice.profession}",
            code="tariff_unknown",
            message_fr=f"Acte {line.code} inconnu",
            field=f"lines[{index}].code",
        )
    return entry


def price_invoice(invoice: Invoice, tariffs: TariffTable) -> Amounts:
    """Compute every amount; raises BillingError on the first unpriceable line."""
    rate = amo_rate(invoice, tariffs)
    priced = []
    for i, line in enumerate(invoice.lines):
        entry = lookup(invoice, tariffs, i)
        amount = line_amount(line, entry, invoice, f"lines[{i}]")
        amo = percent_of(amount, rate)
        amc = amount - amo if invoice.tiers_payant == "amo_amc" else 0
        priced.append(PricedLine(line.code, entry.label, amount, amo, amc))
    total = sum(p.amount_cents for p in priced)
    amo_total = sum(p.amo_cents for p in priced)
    amc_total = sum(p.amc_cents for p in priced)
    patient = total - amo_total - amc_total
    if invoice.tiers_payant == "none":
        due = total
    elif invoice.tiers_payant == "amo":
        due = total - amo_total
    else:
        due = patient
    return Amounts(rate, tuple(priced), total, amo_total, amc_total, patient, due)
