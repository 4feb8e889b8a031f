"""AMC (mutuelle) checks and data: tiers payant AMO+AMC needs AMC rights on the
beneficiary's card at the date of care (2026-03-10 in every case), and the FSE names
the card's AMC organism and contract. Amounts are computed by hand beside each case."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from board.sim.cardos.apdu_connection import ApduConnection
from board.sim.cards.loader import load_card
from firmware.billing.checks import check_invoice
from firmware.billing.errors import CheckFailed
from firmware.cardapps.model import AmcData
from firmware.cardapps.vitale import read_vitale

from .conftest import beneficiary, context, vitale
from .fse_helpers import PATIENT, nurse_invoice, secured, verifier

MUTUELLE = AmcData("99999991", "TP", date(2026, 1, 1), date(2026, 12, 31), tiers_payant=True)


def with_amc(amc):
    return replace(beneficiary(), amc=amc)


def blocking(result):
    return [(i.code, i.field) for i in result.issues if i.blocking]


def test_amo_amc_with_valid_rights_splits_the_remainder(tariffs):
    inv = nurse_invoice(tiers_payant="amo_amc")
    r = check_invoice(context(inv, tariffs, ben=with_amc(MUTUELLE)))
    assert r.ok, r.issues
    a = r.amounts
    # AMI 1.5 x 3.15 = 4.725 -> 473, IFD 275; AMO 60 %: 283.8 -> 284, 165
    assert [(x.amount_cents, x.amo_cents, x.amc_cents) for x in a.lines] == [
        (473, 284, 189), (275, 165, 110)]
    assert (a.amc_cents, a.patient_cents, a.due_now_cents) == (299, 0, 0)


@pytest.mark.parametrize("amc, code", [
    (None, "amc_rights_missing"),
    (replace(MUTUELLE, end=date(2026, 3, 9)), "amc_rights_closed"),     # ended the day before
    (replace(MUTUELLE, start=date(2026, 3, 11)), "amc_rights_closed"),  # opens the day after
    (replace(MUTUELLE, tiers_payant=False), "amc_no_tiers_payant"),
], ids=["no_amc", "ended", "not_yet_open", "no_tiers_payant"])
def test_amo_amc_refused_without_amc_rights_at_the_date(tariffs, amc, code):
    r = check_invoice(context(nurse_invoice(tiers_payant="amo_amc"), tariffs, ben=with_amc(amc)))
    assert blocking(r) == [(code, "tiers_payant")]


def test_amc_period_bounds_are_inclusive_and_may_be_open(tariffs):
    inv = nurse_invoice(tiers_payant="amo_amc")
    for amc in (replace(MUTUELLE, end=date(2026, 3, 10)), replace(MUTUELLE, start=date(2026, 3, 10)),
                replace(MUTUELLE, start=None, end=None)):
        assert check_invoice(context(inv, tariffs, ben=with_amc(amc))).ok, amc


def test_tiers_payant_amo_alone_needs_no_amc(tariffs):
    r = check_invoice(context(nurse_invoice(tiers_payant="amo"), tariffs, ben=with_amc(None)))
    assert r.ok and r.amounts.amc_cents == 0 and r.amounts.due_now_cents == 748 - 449


def test_degraded_amo_amc_is_refused_no_card_proves_the_rights(tariffs):
    inv = nurse_invoice(patient=PATIENT, tiers_payant="amo_amc")
    r = check_invoice(context(inv, tariffs, mode="degraded"))
    assert blocking(r) == [("amc_rights_missing", "tiers_payant")]


def test_signing_is_refused_for_amo_amc_without_rights(pki, tariffs):
    with pytest.raises(CheckFailed) as exc:
        secured(pki, tariffs, invoice=nurse_invoice(tiers_payant="amo_amc"), ben=with_amc(None))
    assert exc.value.code == "amc_rights_missing" and exc.value.field == "tiers_payant"


def test_the_fse_names_the_amc_organism_and_contract(pki, tariffs):
    fse = secured(pki, tariffs, invoice=nurse_invoice(tiers_payant="amo_amc"),
                  ben=with_amc(MUTUELLE))
    payload = verifier(pki).verify(fse.encoded).payload
    assert payload["beneficiary"]["amc"] == {
        "organism": "99999991", "contract_type": "TP", "start": "2026-01-01",
        "end": "2026-12-31", "tiers_payant": True, "valid_at_care": True}
    assert payload["amounts"]["amc_cents"] == 299
    # a card without AMC data: the FSE says so (null), tiers payant AMO only
    plain = secured(pki, tariffs, number=2, invoice=nurse_invoice(tiers_payant="amo"))
    assert verifier(pki).verify(plain.encoded).payload["beneficiary"]["amc"] is None


def test_the_emulated_family_card(tariffs):
    """vitale_famille_essai: PAUL carries AMC 99999991 (TP, 2025-01-01..2026-12-31),
    MARIE none; both have AMO rights at the date of care."""
    card = read_vitale(ApduConnection(load_card("vitale_famille_essai")))
    paul, marie = card.beneficiaries[:2]
    assert paul.amc == AmcData("99999991", "TP", date(2025, 1, 1), date(2026, 12, 31), True)
    assert marie.amc is None
    inv = nurse_invoice(tiers_payant="amo_amc")
    ok = check_invoice(context(inv, tariffs, ben=paul, card=vitale(paul)))
    assert ok.ok and ok.amounts.amc_cents == 299
    refused = check_invoice(context(inv, tariffs, ben=marie, card=vitale(marie)))
    assert blocking(refused) == [("amc_rights_missing", "tiers_payant")]
