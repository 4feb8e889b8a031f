"""End-to-end visits on the simulated board: real emulated cards through the
CardLink (T=0 and T=1), a real store, and the FSE checked by billing's
FseVerifier against the test PKI's trust anchors. Amounts are computed by hand
from TEST_TARIFF (tests/visit/simboard.py)."""

from __future__ import annotations

import pytest

from firmware.billing.errors import FseVerificationError
from firmware.billing.verify import FseVerifier
from firmware.visit import ActChoice, VisitError

from .conftest import enrol
from .simboard import MEDECIN_BN, NURSE_BN, PAUL, PINS, PRESCRIPTION, invoice


def test_prepared_invoice_secured_visit_signed_and_verified(board, medecin):
    board.load_invoice(invoice("INV-1", patient=PAUL))
    board.load_invoice(invoice("INV-2", date_of_care="2026-03-09", lines=[{"code": "G"}]))
    listed = medecin.prepared_invoices()
    # V 30.00 + MD 10.00 + IK 12 km x 0.61 = 7.32  -> 47.32 ; G 30.00
    assert [(s.invoice_id, s.total_cents, s.patient_name) for s in listed] == [
        ("INV-2", 3000, ""), ("INV-1", 4732, "ESSAI PAUL")]

    board.insert("vitale", "vitale_famille_essai")
    visit = medecin.start_visit("INV-1")
    view = visit.read_vitale()
    assert view.serial == "9100000001" and view.can_sign
    assert view.suggested == 0  # PAUL, the holder
    assert [b.rights_open for b in view.beneficiaries] == [True, True, True, True, False]
    visit.choose_beneficiary(0)
    report = visit.check()
    # AMO 70 %: 2100 + 700 + round(732 x 0.7 = 512.4) = 512 -> 3312
    assert report.ok and report.errors == ()
    assert (report.total_cents, report.amo_cents, report.patient_cents,
            report.due_now_cents) == (4732, 3312, 1420, 4732)
    signed = visit.sign()
    assert (signed.fse_number, signed.mode, signed.total_cents) == (1, "secured", 4732)
    assert signed.fse_id == f"FSE-{MEDECIN_BN}-000000001" and not signed.paper_sheet

    verified = board.verifier().verify(board.unit.store.get_fse(signed.fse_id))
    assert (verified.mode, verified.number, verified.unit_id) == ("secured", 1, board.unit.serial)
    assert verified.seal == board.unit.seal
    p = verified.payload
    assert p["beneficiary"]["nir"] == "1800799999012" and p["vitale"]["serial"] == "9100000001"
    assert p["amounts"]["total_cents"] == 4732 and p["amounts"]["amo_cents"] == 3312
    assert p["invoice"]["invoice_id"] == "INV-1"
    # the prepared invoice is used: gone from the list, and cannot start again
    assert [s.invoice_id for s in medecin.prepared_invoices()] == ["INV-2"]
    with pytest.raises(VisitError) as exc:
        medecin.start_visit("INV-1")
    assert exc.value.code == "invoice_used"


@pytest.mark.parametrize("prefer", [0, 1])
def test_cps_over_t0_and_t1(board, prefer):
    term = enrol(board, "cps_medecin", prefer)
    term.unlock(PINS["cps_medecin"])
    assert board.links["cps"][-1].protocol == prefer
    board.insert("vitale", "vitale_famille_essai")
    visit = term.new_visit([ActChoice("G")])
    visit.read_vitale()
    visit.choose_beneficiary(2)
    assert visit.check().ok
    signed = visit.sign()
    assert board.verifier().verify(board.unit.store.get_fse(signed.fse_id)).number == 1


def test_invoice_on_the_spot_from_the_tariff(board, medecin):
    acts = medecin.tariff_acts()
    assert {(a.code, a.kind, a.unit_price) for a in acts} == {
        ("G", "fixed", "30.00"), ("V", "fixed", "30.00"), ("MD", "fixed", "10.00"),
        ("IK", "per_km", "0.61")}
    board.insert("vitale", "vitale_famille_essai")
    visit = medecin.new_visit([ActChoice("V"), ActChoice("IK", km="23.5")],
                              tiers_payant="amo")
    visit.read_vitale()
    visit.choose_beneficiary(1)  # MARIE
    report = visit.check()
    # IK 23.5 x 0.61 = 14.335 -> 14.34 (half-up); total 44.34
    # AMO 70 %: 2100 + round(1434 x 0.7 = 1003.8) = 1004 -> 3104; due now = total - AMO
    assert (report.total_cents, report.amo_cents, report.due_now_cents) == (4434, 3104, 1330)
    signed = visit.sign()
    v = board.verifier().verify(board.unit.store.get_fse(signed.fse_id))
    assert v.payload["beneficiary"]["first_name"] == "MARIE"
    assert [line["code"] for line in v.payload["invoice"]["lines"]] == ["V", "IK"]
    assert board.unit.store.fse_info(signed.fse_id).invoice_id is None


def test_degraded_without_vitale(board):
    term = enrol(board, "cps_infirmier")
    term.unlock(PINS["cps_infirmier"])
    board.load_invoice(invoice("INV-N", NURSE_BN, "60", patient=PAUL, prescription=PRESCRIPTION,
                               lines=[{"code": "AMI", "coefficient": "1.5"}, {"code": "IFD"}]))
    visit = term.start_visit("INV-N")
    visit.use_degraded()
    report = visit.check()
    # AMI 1.5 x 3.15 = 4.725 -> 4.73 ; IFD 2.75 ; total 7.48
    # AMO 60 %: round(473 x 0.6 = 283.8) = 284 + 165 = 449
    assert report.ok and (report.total_cents, report.amo_cents) == (748, 449)
    assert {w.code for w in report.warnings} == {"pj_prescription", "pj_paper_sheet"}
    signed = visit.sign()
    assert signed.mode == "degraded" and signed.paper_sheet and signed.pj == ("ORDN", "FSP")
    v = board.verifier().verify(board.unit.store.get_fse(signed.fse_id))
    assert v.payload["vitale"] is None and v.payload["payment_guarantee"] is False


def test_read_vitale_only_then_sesam_sans_vitale(board):
    term = enrol(board, "cps_infirmier")
    term.unlock(PINS["cps_infirmier"])
    board.insert("vitale", "vitale_famille_essai")
    read = term.read_vitale_only()
    assert read.serial == "9100000001" and len(read.beneficiaries) == 5
    assert term.vitale_reads() == [read.read_id]
    info = board.unit.store.record_info("vitale_read", read.read_id)
    assert info.professional_id == NURSE_BN

    board.pull("vitale")  # the card is not there for the rental invoice
    visit = term.new_visit([ActChoice("LOC")], prescription=PRESCRIPTION)
    visit.use_sans_vitale(read.read_id, beneficiary=0)
    report = visit.check()
    # LOC 12.50, AMO 60 % = 750
    assert report.ok and (report.total_cents, report.amo_cents) == (1250, 750)
    signed = visit.sign()
    v = board.verifier().verify(board.unit.store.get_fse(signed.fse_id))
    assert v.mode == "sans_vitale" and v.payload["vitale"]["read_on"] == "2026-03-10"
    assert v.payload["payment_guarantee"] is True


def test_sans_vitale_refused_for_care_acts(board):
    term = enrol(board, "cps_infirmier")
    term.unlock(PINS["cps_infirmier"])
    board.insert("vitale", "vitale_famille_essai")
    read = term.read_vitale_only()
    visit = term.new_visit([ActChoice("IFD")])
    visit.use_sans_vitale(read.read_id, beneficiary=0)
    report = visit.check()
    assert not report.ok and [e.code for e in report.errors] == ["sans_vitale_not_allowed"]
    assert report.errors[0].message_fr == "Acte hors location: Vitale requise"


def test_verifier_rejects_the_fse_with_another_units_key(board, medecin):
    board.insert("vitale", "vitale_famille_essai")
    visit = medecin.new_visit([ActChoice("G")])
    visit.read_vitale()
    visit.choose_beneficiary(0)
    visit.check()
    signed = visit.sign()
    good = board.verifier()
    other = FseVerifier(good.trust, {board.unit.serial: bytes(32)})
    with pytest.raises(FseVerificationError) as exc:
        other.verify(board.unit.store.get_fse(signed.fse_id))
    assert exc.value.code == "fse_bad_signature"  # the unit is known, under another key


def test_unlock_reads_cps_and_lists_situations(board):
    term = enrol(board, "cps_medecin")
    assert not term.is_unlocked and board.unit.unit_info().locked
    pro = term.unlock(PINS["cps_medecin"])
    assert (pro.name, pro.first_name, pro.card_type) == ("ESSAI", "CLAIRE", "CPS")
    assert [(s.billing_number, s.can_sign_fse) for s in pro.situations] == [(MEDECIN_BN, True)]
    assert term.is_unlocked and not board.unit.unit_info().locked
    term.lock()
    assert not term.is_unlocked and board.unit.unit_info().locked


def test_invoice_and_tariff_loaded_as_json(board, medecin):
    board.load_tariff(as_json=True)
    board.load_invoice(invoice("INV-J", lines=[{"code": "MD"}]), as_json=True)
    assert [(s.invoice_id, s.total_cents) for s in medecin.prepared_invoices()] == [
        ("INV-J", 1000)]
