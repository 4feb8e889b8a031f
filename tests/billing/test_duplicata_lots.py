"""Duplicata data and lots grouped by destination organism."""

from __future__ import annotations

import pytest

from firmware.billing.duplicata import make_duplicata
from firmware.billing.errors import BillingError
from firmware.billing.lots import MAX_FSE_PER_LOT, MAX_LOT_NUMBER, group_lots, make_lot

from .conftest import SEAL, beneficiary
from .fse_helpers import degraded, nurse_invoice, secured, verifier


@pytest.fixture(scope="module")
def verified(pki, tariffs):
    ver = verifier(pki)
    paris = beneficiary()  # regime 01, caisse 341
    msa = beneficiary(name="DURAND")
    msa = type(msa)(**{**msa.__dict__, "regime": "02", "caisse": "751"})
    fses = [
        secured(pki, tariffs, number=1, ben=paris),
        secured(pki, tariffs, number=2, ben=msa,
                invoice=nurse_invoice(tiers_payant="amo")),
        degraded(pki, tariffs, number=3),  # typed patient: 01/341
        secured(pki, tariffs, number=4, ben=msa),
    ]
    return [ver.verify(f.encoded) for f in fses]


def test_lots_by_destination_with_seal(verified):
    lots = group_lots(reversed(verified), billing_number="123456789", can_sign_lot=True,
                      first_lot_number=7)
    assert [(lot.lot_number, lot.regime, lot.caisse, lot.fse_numbers) for lot in lots] == [
        (7, "01", "341", (1, 3)), (8, "02", "751", (2, 4))]
    # each FSE: AMI 1.5 (473) + IFD (275) = 748, AMO 284 + 165 = 449
    end = lots[0].end_record()
    assert end == {"count": 2, "fse_numbers": [1, 3], "total_cents": 1496, "amo_cents": 898,
                   "amc_cents": 0, "seal": SEAL}


def test_lot_rules(verified):
    with pytest.raises(BillingError) as exc:
        group_lots(verified, billing_number="123456789", can_sign_lot=False,
                   first_lot_number=1)
    assert exc.value.code == "ps_lot_not_allowed"
    with pytest.raises(BillingError) as exc:
        group_lots(verified + verified[:1], billing_number="123456789", can_sign_lot=True,
                   first_lot_number=1)
    assert exc.value.code == "lot_duplicate_fse"
    with pytest.raises(BillingError) as exc:
        group_lots(verified, billing_number="999999999", can_sign_lot=True,
                   first_lot_number=1)
    assert exc.value.code == "lot_other_professional"


def test_big_group_is_split(verified):
    from dataclasses import replace
    many = [replace(verified[0], number=n) for n in range(1, MAX_FSE_PER_LOT + 3)]
    lots = group_lots(many, billing_number="123456789", can_sign_lot=True,
                      first_lot_number=1)
    assert [len(lot.fse_numbers) for lot in lots] == [MAX_FSE_PER_LOT, 2]


def test_seals_split_lots_and_a_lot_never_mixes_them(verified):
    from dataclasses import replace
    other = bytes(32)
    fses = [verified[0], replace(verified[2], seal=other)]  # both 01/341
    lots = group_lots(fses, billing_number="123456789", can_sign_lot=True, first_lot_number=4)
    # sorted by (regime, caisse, seal): bytes(32) < bytes(range(32))
    assert [(lot.lot_number, lot.fse_numbers, lot.seal) for lot in lots] == [
        (4, (3,), other), (5, (1,), SEAL)]
    with pytest.raises(BillingError) as exc:
        make_lot(9, "123456789", "01", "341", fses)
    assert exc.value.code == "lot_mixed_seals"


@pytest.mark.parametrize("number", [0, -1, MAX_LOT_NUMBER + 1, "3", True])
def test_lot_number_zero_and_out_of_range_refused(verified, number):
    with pytest.raises(BillingError) as exc:
        group_lots(verified, billing_number="123456789", can_sign_lot=True,
                   first_lot_number=number)
    assert exc.value.code == "lot_number_invalid" and exc.value.field == "first_lot_number"


def test_numbers_past_the_maximum_refused(verified):
    with pytest.raises(BillingError) as exc:  # two lots from 999999: the second is 1000000
        group_lots(verified, billing_number="123456789", can_sign_lot=True,
                   first_lot_number=MAX_LOT_NUMBER)
    assert exc.value.code == "lot_number_invalid"


def test_duplicata(verified):
    d = make_duplicata(verified[0], "transmission_failed", lot_number=7)
    assert (d.fse_number, d.lot_number, d.reason_fr) == (
        1, 7, "Échec de télétransmission de la FSE")
    assert d.lines == (("AMI", "SAMPLE Acte medico-infirmier", 473),
                       ("IFD", "SAMPLE Indemnite forfaitaire de deplacement", 275))
    assert (d.total_cents, d.amo_cents, d.patient_cents) == (748, 449, 299)
    assert d.send_to == "patient" and d.signatures == ("professionnel",)
    text = "\n".join(d.text_lines())
    assert "FSE no 1  Lot no 7" in text and "7,48 EUR" in text
    # with tiers payant the duplicata goes to the caisse, signed by both (seed 001)
    d2 = make_duplicata(verified[1], "lot_rejected")
    assert d2.send_to == "caisse" and d2.signatures == ("professionnel", "assure")
    assert "Lot no inconnu" in "\n".join(d2.text_lines())
    with pytest.raises(BillingError):
        make_duplicata(verified[0], "bored")
