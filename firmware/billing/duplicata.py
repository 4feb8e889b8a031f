"""Duplicata data: the paper copy of an FSE that could not be transmitted.

Seed 001 (convention, "duplicata"): it states the reason it was issued and the
references of the FSE not transmitted (FSE number and lot number). Without tiers
payant the professional signs it and gives it to the patient; with tiers payant
(dispense d'avance de frais) it goes to the patient's caisse signed by both.
"""

from __future__ import annotations

from dataclasses import dataclass

from .amounts import format_euros
from .errors import BillingError
from .verify import VerifiedFse

# Printed at the office (PDF, tla duplicata), never on the unit's screen: accented French.
REASONS = {
    "transmission_failed": "Échec de télétransmission de la FSE",
    "pj_transmission_failed": "Échec de transmission des pièces justificatives",
    "lot_rejected": "Lot rejeté par l'organisme (ARL négatif)",
}


@dataclass(frozen=True)
class Duplicata:
    reason: str
    reason_fr: str
    fse_number: int
    lot_number: int | None
    billing_number: str
    professional: str
    beneficiary: str
    nir: str
    destination: str  # regime/caisse/centre
    date_of_care: str
    mode: str
    lines: tuple[tuple[str, str, int], ...]  # (code, label, amount cents)
    total_cents: int
    amo_cents: int
    amc_cents: int
    patient_cents: int
    tiers_payant: str
    send_to: str  # "patient" or "caisse"
    signatures: tuple[str, ...]  # who signs the paper: ("professionnel",) or both

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["lines"] = [list(x) for x in self.lines]
        d["signatures"] = list(self.signatures)
        return d

    def text_lines(self) -> list[str]:
        """French text for printing."""
        out = [
            "DUPLICATA DE FEUILLE DE SOINS ELECTRONIQUE",
            f"Motif: {self.reason_fr}",
            f"FSE no {self.fse_number}  Lot no "
            + ("inconnu" if self.lot_number is None else str(self.lot_number)),
            f"Professionnel: {self.professional} ({self.billing_number})",
            f"Beneficiaire: {self.beneficiary}  NIR {self.nir}",
            f"Organisme: {self.destination}  Soins du {self.date_of_care}",
        ]
        out += [f"  {code:<8} {label[:24]:<24} {format_euros(c):>12}"
                for code, label, c in self.lines]
        out.append(f"Total {format_euros(self.total_cents)}  AMO {format_euros(self.amo_cents)}"
                   f"  AMC {format_euros(self.amc_cents)}")
        out.append("Signatures: " + ", ".join(self.signatures))
        return out


def make_duplicata(fse: VerifiedFse, reason: str, lot_number: int | None = None) -> Duplicata:
    if reason not in REASONS:
        raise BillingError(f"unknown duplicata reason {reason!r}", code="duplicata_reason",
                           message_fr="Motif de duplicata inconnu", field="reason")
    p = fse.payload
    ben, ps, am, inv = p["beneficiary"], p["ps"], p["amounts"], p["invoice"]
    tiers = inv["tiers_payant"]
    dispensed = tiers != "none"
    return Duplicata(
        reason=reason,
        reason_fr=REASONS[reason],
        fse_number=fse.number,
        lot_number=lot_number,
        billing_number=fse.billing_number,
        professional=f"{ps['name']} {ps['first_name']}",
        beneficiary=f"{ben['name']} {ben['first_name']}",
        nir=f"{ben['nir']} {ben['nir_key']}",
        destination=f"{ben['regime']}/{ben['caisse']}/{ben['centre']}",
        date_of_care=p["date_of_care"],
        mode=fse.mode,
        lines=tuple((x["code"], x["label"], x["amount_cents"]) for x in am["lines"]),
        total_cents=am["total_cents"],
        amo_cents=am["amo_cents"],
        amc_cents=am["amc_cents"],
        patient_cents=am["patient_cents"],
        tiers_payant=tiers,
        send_to="caisse" if dispensed else "patient",
        signatures=("professionnel", "assure") if dispensed else ("professionnel",),
    )
