"""Building the screen views of a Vitale card (pure functions)."""

from __future__ import annotations

from datetime import date

from firmware.billing.invoice import PatientRef
from firmware.cardapps.model import Beneficiary, VitaleCard

from .results import BeneficiaryView


def matches(patient: PatientRef, ben: Beneficiary) -> bool:
    """The rule of the billing checks (docs/billing.md): NIR + key + birth date +
    birth rank; twins share the NIR and birth date, the rank tells them apart."""
    return (patient.nir == ben.nir and patient.nir_key == ben.nir_key
            and patient.birth_date == ben.birth_date and patient.birth_rank == ben.birth_rank)


def beneficiary_views(card: VitaleCard, day: date,
                      patient: PatientRef | None) -> tuple[BeneficiaryView, ...]:
    return tuple(
        BeneficiaryView(b.index, b.name, b.first_name, str(b.birth_date), b.quality,
                        b.rights_at(day) is not None,
                        None if patient is None else matches(patient, b))
        for b in card.beneficiaries)
