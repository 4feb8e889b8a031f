"""Table-driven billing cases against the SAMPLE tariff table
(firmware/billing/data/sample_tariffs.json). Every expected amount is computed by
hand in the comment beside it: unit price x coefficient [x km], rounded half-up to
the cent per line; AMO part = line x rate, rounded half-up per line."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from firmware.billing.checks import check_invoice
from firmware.billing.invoice import Invoice
from firmware.cardapps.model import AmcData, PartialDate, RightsPeriod

from .conftest import beneficiary, context, ps_card, situation, vitale

PRESC = {"prescriber_id": "10001234567", "date": "2026-03-01"}


def invoice(profession, lines, **kw) -> Invoice:
    raw = {"invoice_id": "INV-1", "billing_number": "123456789", "profession": profession,
           "date_of_care": "2026-03-10", "lines": lines}
    raw.update(kw)
    return Invoice.from_dict(raw)


# (name, invoice, context kwargs, expected line amounts, AMO lines, AMC total, due now)
CASES = [
    (
        "nurse series AMI 1.5 + AMI 4 + IFD + IK 12 km, tiers payant AMO",
        invoice("60", [{"code": "AMI", "coefficient": "1.5"}, {"code": "AMI", "coefficient": "4"},
                       {"code": "IFD"}, {"code": "IK", "km": "12"}],
                prescription=PRESC, tiers_payant="amo"),
        {},
        # 3.15*1.5=4.725->4.73 ; 3.15*4=12.60 ; IFD 2.75 ; 0.35*12=4.20
        [473, 1260, 275, 420],
        # 60%: 283.8->284 ; 756 ; 165 ; 252
        [284, 756, 165, 252],
        0,
        2428 - 1457,  # total 2428, AMO 1457, patient pays the rest
    ),
    (
        "GP home visit on Sunday: V + MD + F, no tiers payant",
        invoice("10", [{"code": "V"}, {"code": "MD"}, {"code": "F"}]),
        {},
        [3000, 1000, 1906],
        # 70%: 2100 ; 700 ; 1334.2->1334
        [2100, 700, 1334],
        0,
        5906,  # pays everything
    ),
    (
        "GP consultation with a CCAM act (ECG)",
        invoice("10", [{"code": "G"}, {"code": "DEQP003"}]),
        {},
        [3000, 1426],
        # 70%: 2100 ; 998.2->998
        [2100, 998],
        0,
        4426,
    ),
    (
        "physiotherapy AMK 7.5 + IFD",
        invoice("70", [{"code": "AMK", "coefficient": "7.5"}, {"code": "IFD"}],
                prescription=PRESC, tiers_payant="amo"),
        {},
        # 2.15*7.5=16.125->16.13 ; 2.50
        [1613, 250],
        # 60%: 967.8->968 ; 150
        [968, 150],
        0,
        1863 - 1118,
    ),
    (
        "ambulance AMB + 23.5 km + night supplement, tiers payant AMO+AMC",
        invoice("80", [{"code": "AMB"}, {"code": "AKM", "km": "23.5"}, {"code": "SNT"}],
                prescription=PRESC, tiers_payant="amo_amc"),
        {"ben": replace(beneficiary(), amc=AmcData("99999991", "TP", date(2026, 1, 1),
                                                   date(2026, 12, 31), tiers_payant=True))},
        # 51.30 ; 2.35*23.5=55.225->55.23 ; 25.00
        [5130, 5523, 2500],
        # 65%: 3334.5->3335 (half-up) ; 3589.95->3590 ; 1625
        [3335, 3590, 1625],
        1795 + 1933 + 875,  # AMC takes each line's remainder
        0,
    ),
    (
        "ALD exoneration 100%: AMI 2 + IFD",
        invoice("60", [{"code": "AMI", "coefficient": "2"}, {"code": "IFD"}],
                prescription=PRESC, exoneration="ald", tiers_payant="amo"),
        {"ben": beneficiary(rights=(RightsPeriod(date(2025, 1, 1), None, "4", ald=True),))},
        [630, 275],  # 3.15*2=6.30 ; 2.75
        [630, 275],
        0,
        0,
    ),
    (
        "maternite 100%: GP consultation",
        invoice("10", [{"code": "G"}], nature="maternite", tiers_payant="amo"),
        {},
        [3000],  # G price from 2024-12-22
        [3000],
        0,
        0,
    ),
    (
        "accident du travail 100%: AIS 3",
        invoice("60", [{"code": "AIS", "coefficient": "3"}], prescription=PRESC, nature="at",
                at_date="2026-02-20", at_number="AT123456", tiers_payant="amo"),
        {},
        [795],  # 2.65*3=7.95
        [795],
        0,
        0,
    ),
]


@pytest.mark.parametrize("name,inv,kw,amounts,amo,amc,due", CASES, ids=[c[0] for c in CASES])
def test_billing_case(tariffs, name, inv, kw, amounts, amo, amc, due):
    result = check_invoice(context(inv, tariffs, **kw))
    assert result.ok, result.issues
    a = result.amounts
    assert [line.amount_cents for line in a.lines] == amounts
    assert [line.amo_cents for line in a.lines] == amo
    assert a.total_cents == sum(amounts)
    assert a.amo_cents == sum(amo)
    assert a.amc_cents == amc
    assert a.patient_cents == sum(amounts) - sum(amo) - amc
    assert a.due_now_cents == due


def codes(result):
    return {i.code for i in result.issues if i.blocking}


NURSE = [{"code": "AMI", "coefficient": "1"}]


def test_closed_rights(tariffs):
    ben = beneficiary(rights=(RightsPeriod(date(2025, 1, 1), date(2025, 12, 31)),))
    r = check_invoice(context(invoice("60", NURSE, prescription=PRESC), tariffs, ben=ben))
    assert codes(r) == {"rights_closed"}
    assert r.issues[0].message_fr == "Droits fermés à la date"


def test_care_before_rights_start(tariffs):
    ben = beneficiary(rights=(RightsPeriod(date(2026, 3, 11), None),))
    r = check_invoice(context(invoice("60", NURSE, prescription=PRESC), tariffs, ben=ben))
    assert codes(r) == {"care_before_rights"}


def test_future_date(tariffs):
    inv = invoice("60", NURSE, prescription=PRESC, date_of_care="2026-03-11")
    assert codes(check_invoice(context(inv, tariffs))) == {"care_in_future"}


def test_twins_are_told_apart_by_birth_rank(tariffs):
    # Twins carried on the parent's NIR: same NIR, same birth date, ranks 1 and 2.
    birth = PartialDate(2019, 6, 2)
    twin1 = beneficiary(1, nir="1800175123456", rank=1, birth=birth, first="LEA")
    twin2 = beneficiary(2, nir="1800175123456", rank=2, birth=birth, first="LOU")
    card = vitale(beneficiary(), twin1, twin2)
    patient = {"nir": "1800175123456", "nir_key": "42", "birth_date": "02/06/2019",
               "birth_rank": 2}
    inv = invoice("60", NURSE, prescription=PRESC, patient=patient)
    wrong = check_invoice(context(inv, tariffs, ben=twin1, card=card))
    assert codes(wrong) == {"beneficiary_mismatch"}
    right = check_invoice(context(inv, tariffs, ben=twin2, card=card))
    assert right.ok


def test_opposed_and_expired_vitale(tariffs):
    ben = beneficiary()
    inv = invoice("60", NURSE, prescription=PRESC)
    card = vitale(ben, serial="999", valid_until=date(2026, 3, 9))
    r = check_invoice(context(inv, tariffs, ben=ben, card=card, opposition=frozenset({"999"})))
    assert codes(r) == {"vitale_opposed", "vitale_expired"}


def test_cpe_without_habilitation(tariffs):
    sit = situation(can_sign_fse=False)
    inv = invoice("60", NURSE, prescription=PRESC)
    r = check_invoice(context(inv, tariffs, sit=sit, ps=ps_card(sit, card_type="CPE")))
    assert codes(r) == {"ps_not_allowed"}


def test_prescription_required_and_flagged(tariffs):
    r = check_invoice(context(invoice("60", NURSE), tariffs))
    assert codes(r) == {"prescription_missing"}
    ok = check_invoice(context(invoice("60", NURSE, prescription=PRESC), tariffs))
    assert ok.ok and ok.pj == ("ORDN",)
    # a GP visit needs no prescription and flags no PJ
    assert check_invoice(context(invoice("10", [{"code": "V"}]), tariffs)).pj == ()


def test_prescription_after_care(tariffs):
    late = {"prescriber_id": "10001234567", "date": "2026-03-11"}
    inv = invoice("60", NURSE, prescription=late, date_of_care="2026-03-10")
    assert codes(check_invoice(context(inv, tariffs))) == {"prescription_after_care"}


def test_at_needs_date_and_number(tariffs):
    inv = invoice("60", NURSE, prescription=PRESC, nature="at")
    assert codes(check_invoice(context(inv, tariffs))) == {"at_details_missing"}


def test_ald_claimed_but_not_on_card(tariffs):
    inv = invoice("60", NURSE, prescription=PRESC, exoneration="ald")
    assert codes(check_invoice(context(inv, tariffs))) == {"ald_not_on_card"}


def test_amount_inconsistent_with_table(tariffs):
    # office said 4.72 for AMI 1.5; the table gives 3.15*1.5 = 4.725 -> 4.73
    inv = invoice("60", [{"code": "AMI", "coefficient": "1.5", "amount_cents": 472}],
                  prescription=PRESC)
    r = check_invoice(context(inv, tariffs))
    assert codes(r) == {"amount_mismatch"}
    assert [i.field for i in r.issues if i.blocking] == ["lines[0].amount_cents"]


def test_tariff_validity_dates(tariffs):
    # G: 26.50 until 2024-12-21, 30.00 from 2024-12-22; nothing before 2023-11-01.
    ben = beneficiary(rights=(RightsPeriod(date(2020, 1, 1), None),))
    for day, cents in (("2024-12-21", 2650), ("2024-12-22", 3000)):
        r = check_invoice(context(invoice("10", [{"code": "G"}], date_of_care=day), tariffs,
                                  ben=ben))
        assert r.ok and r.amounts.total_cents == cents
    r = check_invoice(context(invoice("10", [{"code": "G"}], date_of_care="2023-10-31"),
                              tariffs, ben=ben))
    assert codes(r) == {"tariff_not_valid"}


def test_act_of_another_profession(tariffs):
    r = check_invoice(context(invoice("10", [{"code": "AMI", "coefficient": "1"}]), tariffs))
    assert codes(r) == {"tariff_unknown"}


def test_ik_needs_km_and_fixed_acts_refuse_coefficient(tariffs):
    r = check_invoice(context(invoice("60", [{"code": "IK"}, {"code": "IFD", "coefficient":
                                                               "2"}]), tariffs))
    assert codes(r) == {"km_missing", "coefficient_unexpected"}


def test_degraded_mode_flags_paper_sheet(tariffs):
    patient = {"nir": "1800175123456", "nir_key": "42", "birth_date": "15/01/1980",
               "name": "DUPONT", "first_name": "JEAN", "regime": "01", "caisse": "341",
               "centre": "0000"}
    inv = invoice("60", NURSE, prescription=PRESC, patient=patient)
    r = check_invoice(context(inv, tariffs, mode="degraded"))
    assert r.ok
    assert r.pj == ("ORDN", "FSP")
    assert "pj_paper_sheet" in {i.code for i in r.issues}
    # degraded without the patient's organism cannot be routed
    bare = invoice("60", NURSE, prescription=PRESC)
    assert codes(check_invoice(context(bare, tariffs, mode="degraded"))) == {
        "patient_data_missing"}


def test_secured_needs_the_vitale(tariffs):
    from dataclasses import replace
    ctx = replace(context(invoice("10", [{"code": "V"}]), tariffs), vitale=None,
                  beneficiary=None)
    assert codes(check_invoice(ctx)) == {"vitale_missing"}


def test_sans_vitale_rules(tariffs):
    rental = invoice("90", [{"code": "LOC"}], prescription=PRESC)
    ben = beneficiary()
    ok = check_invoice(context(rental, tariffs, mode="sans_vitale", ben=ben,
                               vitale_read_on=date(2026, 1, 15)))
    assert ok.ok
    assert ok.amounts.total_cents == 1250 and ok.amounts.amo_cents == 750  # 12.50, 60%
    old = check_invoice(context(rental, tariffs, mode="sans_vitale", ben=ben,
                                vitale_read_on=date(2025, 12, 9)))  # 91 days before
    assert codes(old) == {"earlier_read_too_old"}
    care = check_invoice(context(invoice("60", NURSE, prescription=PRESC), tariffs,
                                 mode="sans_vitale", ben=ben, vitale_read_on=date(2026, 3, 1)))
    assert codes(care) == {"sans_vitale_not_allowed"}
