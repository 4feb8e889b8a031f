"""Builders of signed FSEs for the tests."""

from __future__ import annotations

from firmware.billing.fse import build_fse
from firmware.billing.invoice import Invoice
from firmware.billing.verify import FseVerifier

from .conftest import (
    SEAL,
    SIGNED_AT,
    UNIT_ID,
    beneficiary,
    card_signer,
    context,
    device_public,
    device_signer,
)

PRESC = {"prescriber_id": "10001234567", "date": "2026-03-01"}
PATIENT = {"nir": "1800175123456", "nir_key": "42", "birth_date": "15/01/1980",
           "name": "DUPONT", "first_name": "JEAN", "regime": "01", "caisse": "341",
           "centre": "0000"}


def nurse_invoice(**kw) -> Invoice:
    raw = {"invoice_id": "INV-1", "billing_number": "123456789", "profession": "60",
           "date_of_care": "2026-03-10", "prescription": PRESC,
           "lines": [{"code": "AMI", "coefficient": "1.5"}, {"code": "IFD"}]}
    raw.update(kw)
    return Invoice.from_dict(raw)


def secured(pki, tariffs, number=1, cps=None, vitale=None, signed_at=SIGNED_AT, **kw):
    inv = kw.pop("invoice", None) or nurse_invoice()
    ctx = context(inv, tariffs, mode="secured", ben=kw.pop("ben", beneficiary()), **kw)
    return build_fse(ctx, number=number, unit_id=UNIT_ID, signed_at=signed_at,
                     cps=cps or card_signer(pki.cps_cert, pki.cps_key),
                     vitale=vitale or card_signer(pki.vitale_cert, pki.vitale_key),
                     device=device_signer(pki))


def degraded(pki, tariffs, number=2):
    ctx = context(nurse_invoice(patient=PATIENT), tariffs, mode="degraded")
    return build_fse(ctx, number=number, unit_id=UNIT_ID, signed_at=SIGNED_AT,
                     cps=card_signer(pki.cps_cert, pki.cps_key), device=device_signer(pki))


def verifier(pki, seals=(SEAL,)) -> FseVerifier:
    return FseVerifier(pki.trust(), {UNIT_ID: device_public(pki)}, reference_seals=seals)
