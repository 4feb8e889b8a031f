"""Builders for the office tests: signed FSEs imported into an office database, and
emulated CPS cards (a copy of a sample personalisation, valid until 2040 so that the
tests never depend on today's date)."""

from __future__ import annotations

import copy
from dataclasses import replace

from billing.conftest import (
    SEAL,
    SIGNED_AT,
    UNIT_ID,
    beneficiary,
    card_signer,
    context,
    situation,
)
from billing.fse_helpers import PATIENT, PRESC, verifier

from board.sim.cardos.apdu_connection import ApduConnection
from board.sim.cards.loader import build_card, personalisation
from firmware.billing.cose import DeviceSigner
from firmware.billing.fse import build_fse
from firmware.billing.invoice import Invoice
from firmware.cardapps.model import AmcData

NURSE = "699999025"  # cps_infirmier's billing number (profession 60)
DOCTOR = "759999014"  # cps_medecin's (profession 10)
NURSE_PIN = "4321"
MUTUELLE = AmcData("99999991", "TP", None, None, tiers_payant=True)


def nurse_fse(pki, tariffs, number, *, regime="01", caisse="341", seal=SEAL,
              tiers_payant="none", mode="secured", billing=NURSE, version=""):
    """AMI 1.5 + IFD on 2026-03-10: 473 + 275 = 748 cents, AMO 60 % 284 + 165 = 449."""
    raw = {"invoice_id": f"INV-{number}", "billing_number": billing, "profession": "60",
           "date_of_care": "2026-03-10", "prescription": PRESC, "tiers_payant": tiers_payant,
           "lines": [{"code": "AMI", "coefficient": "1.5"}, {"code": "IFD"}]}
    if mode == "degraded":
        raw["patient"] = {**PATIENT, "regime": regime, "caisse": caisse}
    inv = Invoice.from_dict(raw)
    sit = situation(profession="60", billing=billing)
    ben = None
    if mode == "secured":
        ben = replace(beneficiary(), regime=regime, caisse=caisse, amc=MUTUELLE)
    ctx = context(inv, tariffs, mode=mode, sit=sit, ben=ben)
    vit = card_signer(pki.vitale_cert, pki.vitale_key) if mode == "secured" else None
    return build_fse(ctx, number=number, unit_id=UNIT_ID, signed_at=SIGNED_AT,
                     cps=card_signer(pki.cps_cert, pki.cps_key), vitale=vit,
                     device=DeviceSigner(UNIT_ID, pki.device_key, seal, version))


def import_all(db, pki, fses) -> list[str]:
    """Verify and import like tla unload does; returns the import ids."""
    ver = verifier(pki, seals=None)
    ids = []
    for fse in fses:
        v = ver.verify(fse.encoded)
        ids.append(db.import_fse(UNIT_ID, f"F{v.billing_number}-{v.number}", fse.encoded,
                                 v.payload, v.seal).import_id)
    return ids


def cps_spec(name="cps_infirmier", **changes) -> dict:
    spec = copy.deepcopy(personalisation(name))
    spec["valid_until"] = "2040-12-31"
    spec.update(changes)
    return spec


def cps_connection(spec: dict | None = None) -> ApduConnection:
    return ApduConnection(build_card(spec or cps_spec()))
