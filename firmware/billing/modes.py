"""Securing modes of an FSE and their rules (docs/billing.md §Modes).

- ``secured``: CPS + Carte Vitale present, both sign; payment guaranteed on the
  card's rights at the date of care; no paper sheet.
- ``degraded`` (SESAM dégradé): CPS only; no payment guarantee; the paper care sheet
  signed by the patient must follow, or its scan as a PJ (SCOR, seed 003).
- ``sans_vitale`` (SESAM sans Vitale): secured by the CPS alone, only for rental
  acts (category ``rental``) billed over time on beneficiary data read from the
  Vitale card at most ``SANS_VITALE_MAX_AGE_DAYS`` before, in secured mode.
"""

from __future__ import annotations

from dataclasses import dataclass

SECURED = "secured"
DEGRADED = "degraded"
SANS_VITALE = "sans_vitale"
MODES = (SECURED, DEGRADED, SANS_VITALE)

SANS_VITALE_MAX_AGE_DAYS = 90
SANS_VITALE_CATEGORIES = frozenset({"rental"})

# PJ (pièce justificative, SCOR) type codes flagged on the FSE.
PJ_PRESCRIPTION = "ORDN"  # ordonnance (seed 003: "ORDN: Ordonnance normale")
PJ_PAPER_SHEET = "FSP"  # feuille de soins papier signée par le patient (our code)

CONTENT_TYPE_PREFIX = "application/vnd.opentla.fse"


@dataclass(frozen=True)
class ModeRules:
    mode: str
    vitale_signs: bool  # a Vitale signature is required (and only allowed) in this mode
    vitale_data: str  # "card" (read now), "earlier_read", "typed" (patient data from office)
    payment_guarantee: bool
    paper_sheet: bool  # signed paper sheet (or its scan) must follow
    label_fr: str

    @property
    def content_type(self) -> str:
        """COSE content type (RFC 9052 §3.1 label 3) of the FSE body in this mode."""
        return f"{CONTENT_TYPE_PREFIX}.{self.mode}+cbor"


RULES = {
    SECURED: ModeRules(SECURED, True, "card", True, False, "FSE securisee"),
    DEGRADED: ModeRules(DEGRADED, False, "typed", False, True, "FSE degradee"),
    SANS_VITALE: ModeRules(SANS_VITALE, False, "earlier_read", True, False, "SESAM sans Vitale"),
}


def rules(mode: str) -> ModeRules:
    try:
        return RULES[mode]
    except KeyError:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}") from None


def required_pj(mode: str, prescribed: bool) -> tuple[str, ...]:
    """PJ codes that must follow the FSE (seed 003, "Documents indispensables")."""
    pj = []
    if prescribed:
        pj.append(PJ_PRESCRIPTION)
    if rules(mode).paper_sheet:
        pj.append(PJ_PAPER_SHEET)
    return tuple(pj)
