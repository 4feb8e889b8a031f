"""Checks before signing. Each finding is an :class:`Issue` with a stable code and a
French message; errors block the signature, warnings are shown and recorded.

The table of codes is in docs/billing.md §Checks.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, timedelta

from firmware.cardapps.model import AmcData, Beneficiary, ProfessionalCard, Situation, VitaleCard

from . import modes
from .errors import ERROR, WARNING, BillingError, Issue
from .invoice import Invoice
from .pricing import Amounts, line_amount, lookup, price_invoice
from .tariffs import TariffTable


@dataclass(frozen=True)
class CheckContext:
    """Everything the checks look at. ``today`` is the unit's date at signing."""

    invoice: Invoice
    mode: str
    tariffs: TariffTable
    ps_card: ProfessionalCard
    situation: Situation
    today: date
    vitale: VitaleCard | None = None
    beneficiary: Beneficiary | None = None
    opposition: Collection[str] = field(default_factory=frozenset)  # opposed Vitale serials
    vitale_read_on: date | None = None  # sans_vitale: date of the earlier secured read


@dataclass(frozen=True)
class CheckResult:
    issues: tuple[Issue, ...]
    amounts: Amounts | None  # None when the invoice cannot be priced
    pj: tuple[str, ...]  # PJ codes that must follow the FSE

    @property
    def ok(self) -> bool:
        return not any(i.blocking for i in self.issues)


def _e(code: str, msg: str, fld: str = "", detail: str = "") -> Issue:
    return Issue(code, msg, ERROR, fld, detail)


def _w(code: str, msg: str, fld: str = "", detail: str = "") -> Issue:
    return Issue(code, msg, WARNING, fld, detail)


def check_invoice(ctx: CheckContext) -> CheckResult:
    issues: list[Issue] = []
    rules = modes.rules(ctx.mode)
    issues += _check_dates(ctx)
    issues += _check_professional(ctx)
    issues += _check_mode(ctx, rules)
    if ctx.beneficiary is not None:
        issues += _check_beneficiary(ctx, ctx.beneficiary)
        if ctx.vitale is not None:
            issues += _check_vitale(ctx, ctx.vitale)
    issues += _check_amc(ctx)
    amounts, tariff_issues, prescribed = _check_tariffs(ctx)
    issues += tariff_issues
    issues += _check_prescription(ctx, prescribed)
    issues += _check_nature(ctx)
    pj = modes.required_pj(ctx.mode, prescribed)
    for code in pj:
        if code == modes.PJ_PRESCRIPTION:
            issues.append(_w("pj_prescription", "Joindre l'ordonnance (PJ)", "prescription"))
        else:
            issues.append(_w("pj_paper_sheet", "Feuille papier signée à envoyer", "mode"))
    return CheckResult(tuple(issues), amounts, pj)


def _check_dates(ctx: CheckContext) -> list[Issue]:
    inv = ctx.invoice
    if inv.date_of_care > ctx.today:
        return [_e("care_in_future", "Date de soins dans le futur", "date_of_care")]
    return []


def _check_professional(ctx: CheckContext) -> list[Issue]:
    out = []
    ps, sit = ctx.ps_card, ctx.situation
    if ps.valid_until is not None and ps.valid_until < ctx.today:
        out.append(_e("ps_card_expired", "Carte CPS expirée", "ps_card"))
    if not sit.can_sign_fse:
        out.append(_e("ps_not_allowed", "Carte non habilitée à signer", "situation"))
    if sit.billing_number != ctx.invoice.billing_number:
        out.append(_e("ps_situation_mismatch", "Facture d'une autre situation", "billing_number"))
    if sit.profession != ctx.invoice.profession:
        out.append(_e("ps_profession_mismatch", "Profession différente", "profession"))
    return out


def _check_mode(ctx: CheckContext, rules: modes.ModeRules) -> list[Issue]:
    out = []
    inv = ctx.invoice
    if ctx.mode == modes.SECURED:
        if ctx.vitale is None or ctx.beneficiary is None:
            out.append(_e("vitale_missing", "Carte Vitale absente", "vitale"))
    elif ctx.mode == modes.DEGRADED:
        if ctx.vitale is not None:
            out.append(_e("mode_vitale_present", "Vitale présente: mode sécurisé", "mode"))
        p = inv.patient
        if p is None or not (p.regime and p.caisse and p.name):
            out.append(_e("patient_data_missing", "Données patient incomplètes", "patient"))
    else:  # sans_vitale
        if ctx.beneficiary is None or ctx.vitale is None or ctx.vitale_read_on is None:
            out.append(_e("earlier_read_missing", "Lecture Vitale antérieure absente", "vitale"))
        elif ctx.today - ctx.vitale_read_on > timedelta(days=modes.SANS_VITALE_MAX_AGE_DAYS):
            out.append(_e("earlier_read_too_old", "Lecture Vitale trop ancienne", "vitale"))
        for i, line in enumerate(inv.lines):
            entry = ctx.tariffs.entry(inv.profession, line.code)
            if entry is not None and entry.category not in modes.SANS_VITALE_CATEGORIES:
                out.append(_e("sans_vitale_not_allowed", "Acte hors location: Vitale requise",
                              f"lines[{i}].code"))
    return out


def _check_beneficiary(ctx: CheckContext, ben: Beneficiary) -> list[Issue]:
    out = []
    inv = ctx.invoice
    p = inv.patient
    if p is not None:
        same = (
            p.nir == ben.nir
            and p.nir_key == ben.nir_key
            and p.birth_rank == ben.birth_rank
            and p.birth_date == ben.birth_date
        )
        if not same:
            out.append(_e("beneficiary_mismatch", "Patient différent de la facture", "patient"))
    period = ben.rights_at(inv.date_of_care)
    if period is None:
        starts = [r.start for r in ben.rights]
        if starts and inv.date_of_care < min(starts):
            out.append(_e("care_before_rights", "Soins avant ouverture droits", "date_of_care"))
        else:
            out.append(_e("rights_closed", "Droits fermés à la date", "date_of_care"))
    elif inv.exoneration == "ald" and not period.ald:
        out.append(_e("ald_not_on_card", "ALD absente des droits", "exoneration"))
    return out


def amc_valid_at(amc: AmcData | None, day: date) -> bool:
    """The card's AMC (mutuelle) rights cover ``day``: start and end inclusive, either
    open when absent from the card."""
    return amc is not None and (amc.start is None or amc.start <= day) and (
        amc.end is None or day <= amc.end)


def _check_amc(ctx: CheckContext) -> list[Issue]:
    """Tiers payant AMO+AMC needs AMC rights on the beneficiary's card at the date of
    care, granting tiers payant (docs/billing.md §AMC). Without a card read (degraded
    mode) nothing proves them."""
    inv, ben = ctx.invoice, ctx.beneficiary
    if inv.tiers_payant != "amo_amc":
        return []
    amc = None if ben is None else ben.amc
    if amc is None:
        return [_e("amc_rights_missing", "Droits AMC absents de la carte", "tiers_payant")]
    if not amc_valid_at(amc, inv.date_of_care):
        return [_e("amc_rights_closed", "Droits AMC fermés à la date", "tiers_payant",
                   f"AMC {amc.organism} {amc.start} .. {amc.end}")]
    if not amc.tiers_payant:
        return [_e("amc_no_tiers_payant", "AMC sans tiers payant", "tiers_payant",
                   f"AMC {amc.organism}")]
    return []


def _check_vitale(ctx: CheckContext, v: VitaleCard) -> list[Issue]:
    out = []
    if v.serial in ctx.opposition:
        out.append(_e("vitale_opposed", "Carte Vitale en opposition", "vitale"))
    if v.valid_until is not None and v.valid_until < ctx.today:
        out.append(_e("vitale_expired", "Carte Vitale expirée", "vitale"))
    return out


def _check_tariffs(ctx: CheckContext) -> tuple[Amounts | None, list[Issue], bool]:
    inv = ctx.invoice
    out: list[Issue] = []
    prescribed = False
    if ctx.tariffs.amo_rate(inv.profession) is None:
        return None, [_e("profession_unknown", "Profession inconnue du tarif", "profession")], False
    for i, line in enumerate(inv.lines):
        try:
            entry = lookup(inv, ctx.tariffs, i)
            prescribed = prescribed or entry.prescription
            amount = line_amount(line, entry, inv, f"lines[{i}]")
        except BillingError as exc:
            out.append(_e(exc.code, exc.message_fr, exc.field, exc.detail))
            continue
        if line.amount_cents is not None and line.amount_cents != amount:
            out.append(_e("amount_mismatch", f"Montant {line.code} incohérent",
                          f"lines[{i}].amount_cents", f"{line.amount_cents} != {amount}"))
    amounts = None if out and any(i.code != "amount_mismatch" for i in out) else price_invoice(
        inv, ctx.tariffs)
    return amounts, out, prescribed


def _check_prescription(ctx: CheckContext, prescribed: bool) -> list[Issue]:
    inv = ctx.invoice
    if not prescribed:
        return []
    if inv.prescription is None:
        return [_e("prescription_missing", "Prescription obligatoire", "prescription")]
    if inv.prescription.date > inv.date_of_care:
        return [_e("prescription_after_care", "Prescription postérieure aux soins",
                   "prescription.date")]
    return []


def _check_nature(ctx: CheckContext) -> list[Issue]:
    inv = ctx.invoice
    out = []
    if inv.nature == "at":
        if inv.at_date is None or not inv.at_number:
            out.append(_e("at_details_missing", "Date et numéro AT requis", "at_date"))
        elif inv.at_date > inv.date_of_care:
            out.append(_e("at_after_care", "Date AT postérieure aux soins", "at_date"))
    elif inv.at_date is not None or inv.at_number:
        out.append(_e("at_details_unexpected", "Données AT hors nature AT", "at_number"))
    return out
