"""Each failure of a use case: a precise code and French text, and nothing
half-stored (no FSE, no Vitale read, no FSE number consumed)."""

from __future__ import annotations

import pytest

from firmware.visit import ActChoice, PinRejected, Terminal, VisitError, WrongState

from .conftest import enrol
from .simboard import EMMA, MEDECIN_BN, PAUL, PINS, invoice, vitale_spec


def nothing_stored(board, billing_number=MEDECIN_BN):
    store = board.unit.store
    return (store.list_fses() == [] and store.numbering(billing_number) == []
            and store.list_records("vitale_read") == [])


def test_wrong_pin_gives_tries_left_then_blocks(board):
    term = enrol(board, "cps_medecin")
    board.insert("cps", "cps_medecin")
    with pytest.raises(PinRejected) as exc:
        term.unlock("0000")
    assert (exc.value.code, exc.value.tries_left) == ("pin_wrong", 2)
    assert exc.value.message_fr == "Code faux, 2 essais restants"
    with pytest.raises(PinRejected) as exc:
        term.unlock("0001")
    assert exc.value.message_fr == "Code faux, 1 essai restant"
    with pytest.raises(VisitError) as exc:
        term.unlock("0002")
    assert (exc.value.code, exc.value.message_fr) == ("pin_blocked", "Carte bloquée")
    with pytest.raises(VisitError) as exc:  # even the right PIN now
        term.unlock(PINS["cps_medecin"])
    assert exc.value.code == "pin_blocked"
    assert not term.is_unlocked and not board.unit.store.is_unlocked


def test_pin_of_the_wrong_shape_costs_no_try(board):
    term = enrol(board, "cps_medecin")
    board.insert("cps", "cps_medecin")
    with pytest.raises(VisitError) as exc:
        term.unlock("12a")
    assert (exc.value.code, exc.value.message_fr) == ("pin_format", "Code à 4 chiffres")
    assert board.cards["cps"].pin_tries_left == 3


def test_right_pin_resets_the_counter(board):
    term = enrol(board, "cps_medecin")
    board.insert("cps", "cps_medecin")
    with pytest.raises(PinRejected):
        term.unlock("9999")
    term.unlock(PINS["cps_medecin"])
    assert board.cards["cps"].pin_tries_left == 3


def test_cps_not_enrolled_on_this_unit(board):
    term = enrol(board, "cps_medecin")
    board.insert("cps", "cps_kine")
    with pytest.raises(VisitError) as exc:
        term.unlock(PINS["cps_kine"])
    assert (exc.value.code, exc.value.message_fr) == ("store_wrong_card", "Carte CPS non reconnue")
    assert not term.is_unlocked


def test_no_cps_in_the_slot(board):
    term = Terminal(board.unit)
    board.pair()
    with pytest.raises(VisitError) as exc:
        term.unlock("1234")
    assert (exc.value.code, exc.value.message_fr) == ("card_absent", "Insérer carte CPS")


def test_expired_cps_refused_at_unlock(board):
    term = Terminal(board.unit)
    board.pair()
    board.insert("cps", "cps_medecin_expiree")
    with pytest.raises(VisitError) as exc:
        term.unlock("1234")
    assert (exc.value.code, exc.value.message_fr) == ("ps_card_expired", "Carte CPS expirée")


def test_cps_without_fse_habilitation_cannot_sign(board):
    term = enrol(board, "cpe_ambulance")
    pro = term.unlock(PINS["cpe_ambulance"])
    assert [s.can_sign_fse for s in pro.situations] == [False]
    board.insert("vitale", "vitale_famille_essai")
    visit = term.new_visit([ActChoice("G")])
    visit.read_vitale()
    visit.choose_beneficiary(0)
    report = visit.check()
    assert not report.ok
    assert ("ps_not_allowed", "Carte non habilitée à signer") in {
        (e.code, e.message_fr) for e in report.errors}
    with pytest.raises(WrongState):
        visit.sign()
    assert nothing_stored(board, "069999050")


def test_opposed_vitale_refused_and_nothing_stored(board, medecin):
    board.load_opposition(b'{"serials": ["9100000001"]}')
    board.insert("vitale", "vitale_famille_essai")
    visit = medecin.new_visit([ActChoice("G")])
    with pytest.raises(VisitError) as exc:
        visit.read_vitale()
    assert (exc.value.code, exc.value.message_fr) == ("vitale_opposed",
                                                      "Carte Vitale en opposition")
    assert visit.state == "started"
    with pytest.raises(VisitError) as exc:
        medecin.read_vitale_only()
    assert exc.value.code == "vitale_opposed"
    assert nothing_stored(board)


def test_expired_vitale_refused(board, medecin):
    board.insert("vitale", vitale_spec(valid_until="2025-12-31", serial="9100000009"))
    visit = medecin.new_visit([ActChoice("G")])
    with pytest.raises(VisitError) as exc:
        visit.read_vitale()
    assert (exc.value.code, exc.value.message_fr) == ("vitale_expired", "Carte Vitale expirée")
    with pytest.raises(VisitError) as exc:
        medecin.read_vitale_only()
    assert exc.value.code == "vitale_expired"
    assert nothing_stored(board)


def test_closed_rights_refused_at_choice(board, medecin):
    board.insert("vitale", "vitale_famille_essai")
    visit = medecin.new_visit([ActChoice("G")])
    view = visit.read_vitale()
    assert view.beneficiaries[4].first_name == "LEA" and not view.beneficiaries[4].rights_open
    with pytest.raises(VisitError) as exc:
        visit.choose_beneficiary(4)
    assert (exc.value.code, exc.value.message_fr) == ("rights_closed", "Droits fermés à la date")
    assert visit.state == "card_read"
    with pytest.raises(WrongState):
        visit.check()


def test_nir_bound_invoice_must_match_and_twins_are_told_apart(board, medecin):
    board.load_invoice(invoice("INV-T", patient=EMMA))
    board.insert("vitale", "vitale_famille_essai")
    visit = medecin.start_visit("INV-T")
    view = visit.read_vitale()
    # LUCAS (index 2) and EMMA (index 3) share the birth date; EMMA is rank 2
    assert view.suggested == 3
    assert [b.matches_invoice for b in view.beneficiaries] == [False, False, False, True, False]
    for wrong in (0, 2):
        with pytest.raises(VisitError) as exc:
            visit.choose_beneficiary(wrong)
        assert (exc.value.code, exc.value.message_fr) == (
            "beneficiary_mismatch", "Patient différent de la facture")
    visit.choose_beneficiary(3)
    assert visit.check().ok


def test_degraded_refused_when_a_signing_vitale_was_read(board, medecin):
    board.load_invoice(invoice("INV-D", patient=PAUL))
    board.insert("vitale", "vitale_famille_essai")
    visit = medecin.start_visit("INV-D")
    visit.read_vitale()
    with pytest.raises(VisitError) as exc:
        visit.use_degraded()
    assert exc.value.code == "mode_vitale_present"


def test_vitale_1_cannot_secure_but_degraded_is_offered(board, medecin):
    board.load_invoice(invoice("INV-V1", patient=PAUL))
    board.insert("vitale", "vitale1_lunaire")
    visit = medecin.start_visit("INV-V1")
    view = visit.read_vitale()
    assert view.variant == "vitale1" and not view.can_sign
    visit.use_degraded()  # the card cannot sign: its read is dropped
    assert visit.vitale is None and visit.check().ok


def test_idle_timeout_locks_through_the_store(board, medecin):
    board.monotonic.t += board.unit.store.idle_timeout_s - 1
    medecin.touch()
    board.monotonic.t += board.unit.store.idle_timeout_s - 1
    assert medecin.is_unlocked  # the key press restarted the timer
    board.monotonic.t += 2
    assert not medecin.is_unlocked
    with pytest.raises(VisitError) as exc:
        medecin.prepared_invoices()
    assert (exc.value.code, exc.value.message_fr) == ("unit_locked", "Insérer carte CPS")


def test_idle_timeout_aborts_an_open_visit(board, medecin):
    visit = medecin.new_visit([ActChoice("G")])
    board.monotonic.t += board.unit.store.idle_timeout_s
    with pytest.raises(VisitError) as exc:
        visit.use_degraded()
    assert exc.value.code == "unit_locked" and visit.state == "aborted"


def test_clock_never_set_refuses_to_sign(board, medecin):
    board.insert("vitale", "vitale_famille_essai")
    visit = medecin.new_visit([ActChoice("G")])
    visit.read_vitale()
    visit.choose_beneficiary(0)
    visit.check()
    board.clock._offset = None  # as after an RTC battery failure
    with pytest.raises(VisitError) as exc:
        visit.sign()
    assert (exc.value.code, exc.value.message_fr) == ("clock_not_set", "Heure non réglée")
    assert nothing_stored(board)


def test_no_fse_number_left(board):
    term = Terminal(board.unit)
    board.pair()
    board.insert("cps", "cps_medecin")
    term.enrol(PINS["cps_medecin"])
    board.load_tariff()
    board.insert("vitale", "vitale_famille_essai")
    visit = term.new_visit([ActChoice("G")])
    visit.read_vitale()
    visit.choose_beneficiary(0)
    visit.check()
    with pytest.raises(VisitError) as exc:
        visit.sign()
    assert (exc.value.code, exc.value.message_fr) == ("store_no_fse_number",
                                                      "Plus de numéros FSE")
    assert board.unit.store.list_fses() == []


def test_steps_out_of_order_are_refused(board, medecin):
    visit = medecin.new_visit([ActChoice("G")])
    for step in (visit.sign, visit.check, lambda: visit.choose_beneficiary(0)):
        with pytest.raises(WrongState) as exc:
            step()
        assert exc.value.code == "visit_wrong_state"
    visit.cancel()
    with pytest.raises(WrongState):
        visit.read_vitale()


def test_unknown_act_on_the_spot_is_reported_by_the_checks(board, medecin):
    visit = medecin.new_visit([ActChoice("ZZZ")])
    visit.use_degraded()
    report = visit.check()
    assert "tariff_unknown" in {e.code for e in report.errors}


def test_bad_quantity_on_the_spot(board, medecin):
    with pytest.raises(VisitError) as exc:
        medecin.new_visit([ActChoice("G", quantity=0)])
    assert exc.value.code == "invoice_format"


def test_our_misuse_of_the_card_link_is_not_shown_as_a_card_fault(board, monkeypatch):
    """Issue 10 item 7: LinkUsageError is our bug, not the card's: the use case lets
    it through (an internal error) instead of turning it into a card message."""
    from firmware.iso7816.errors import CardError, LinkUsageError

    term = enrol(board, "cps_medecin")
    board.insert("cps", "cps_medecin")

    def misused():
        raise LinkUsageError("T=1 exchange already in progress (busy)")

    monkeypatch.setattr(board.unit, "connect_cps", misused)
    with pytest.raises(LinkUsageError) as exc:
        term.unlock(PINS["cps_medecin"])
    assert not isinstance(exc.value, (CardError, VisitError))
    assert not term.is_unlocked
