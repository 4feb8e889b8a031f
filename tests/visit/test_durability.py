"""Durability of the signature path: "signed" is returned only after the store
committed; after it, reopening finds the FSE exactly once; a failure before the
commit leaves no FSE, the prepared invoice still loaded, and the FSE number
recorded as skipped with its reason (never reused, never silently lost)."""

from __future__ import annotations

import pytest

from firmware.store.errors import StoreIOError
from firmware.visit import Terminal, VisitError

from .simboard import MEDECIN_BN, PAUL, PINS, invoice


def ready_to_sign(board, term, invoice_id="INV-1"):
    board.load_invoice(invoice(invoice_id, patient=PAUL))
    board.insert("vitale", "vitale_famille_essai")
    visit = term.start_visit(invoice_id)
    visit.read_vitale()
    visit.choose_beneficiary(0)
    assert visit.check().ok
    return visit


def numbers(board):
    return [(n.number, n.state, n.reason, n.fse_id) for n in board.unit.store.numbering(MEDECIN_BN)]


def test_signed_fse_is_found_exactly_once_after_reopening(board, medecin):
    signed = ready_to_sign(board, medecin).sign()
    unit = board.reopen()
    fses = unit.store.list_fses()
    assert [(f.fse_id, f.fse_number, f.invoice_key, f.status) for f in fses] == [
        (signed.fse_id, 1, unit.store.record_key("invoice", "INV-1"), "signed")]
    assert numbers(board) == [(1, "used", None, signed.fse_id)]
    assert unit.store.record_info("invoice", "INV-1").status == "used"
    term = Terminal(unit)
    board.insert("cps", "cps_medecin")
    term.unlock(PINS["cps_medecin"])
    assert term.prepared_invoices() == []
    assert board.verifier().verify(unit.store.get_fse(signed.fse_id)).number == 1


def test_vitale_pulled_during_signature_then_retry(board, medecin):
    visit = ready_to_sign(board, medecin)
    board.pull("vitale", after_s=0.002)  # inside the INTERNAL AUTHENTICATE exchange
    with pytest.raises(VisitError) as exc:
        visit.sign()
    assert (exc.value.code, exc.value.message_fr) == ("card_removed", "Carte Vitale retirée")
    store = board.unit.store
    assert store.list_fses() == []
    assert numbers(board) == [(1, "skipped", "card_removed", None)]
    assert store.record_info("invoice", "INV-1").status == "loaded"
    assert visit.state == "started" and medecin.is_unlocked  # read the card again

    board.insert("vitale", "vitale_famille_essai")
    visit.read_vitale()
    visit.choose_beneficiary(0)
    visit.check()
    signed = visit.sign()
    assert signed.fse_number == 2
    assert numbers(board) == [(1, "skipped", "card_removed", None),
                              (2, "used", None, signed.fse_id)]
    assert board.verifier().verify(store.get_fse(signed.fse_id)).number == 2


def test_cps_pulled_during_signature_locks_the_unit(board, medecin):
    visit = ready_to_sign(board, medecin)
    board.pull("cps", after_s=0.002)  # inside the PSO: COMPUTE DIGITAL SIGNATURE
    with pytest.raises(VisitError) as exc:
        visit.sign()
    assert (exc.value.code, exc.value.message_fr) == ("card_removed", "Carte CPS retirée")
    assert not medecin.is_unlocked and not board.unit.store.is_unlocked
    assert visit.state == "aborted"
    assert board.unit.store.list_fses() == []
    assert numbers(board) == [(1, "skipped", "card_removed", None)]
    assert board.unit.store.record_info("invoice", "INV-1").status == "loaded"


class PowerCut(BaseException):
    """Stands for the power going away: nothing after it runs."""


def test_power_cut_before_commit_leaves_a_recorded_skip(board, medecin, monkeypatch):
    visit = ready_to_sign(board, medecin)

    def cut(*args, **kwargs):
        raise PowerCut

    monkeypatch.setattr(board.unit.store, "signed_fse", cut)
    with pytest.raises(PowerCut):
        visit.sign()
    assert numbers(board) == [(1, "reserved", None, None)]  # fate unknown until restart
    board.unit.store._conn.close()  # no orderly close: the process died
    board.unit = board.open_unit()
    assert board.unit.store.list_fses() == []
    assert numbers(board) == [(1, "skipped", "interrupted_before_signature", None)]
    assert board.unit.store.record_info("invoice", "INV-1").status == "loaded"


def test_store_write_failure_at_commit_is_not_signed(board, medecin, monkeypatch):
    visit = ready_to_sign(board, medecin)

    def failing(*args, **kwargs):
        raise StoreIOError("disk full")

    monkeypatch.setattr(board.unit.store, "signed_fse", failing)
    with pytest.raises(VisitError) as exc:
        visit.sign()
    assert (exc.value.code, exc.value.message_fr) == ("store_io", "Erreur écriture mémoire")
    assert visit.state == "checked"  # the professional may try again
    monkeypatch.undo()
    assert board.unit.store.list_fses() == []
    assert numbers(board) == [(1, "skipped", "store_io", None)]
    signed = visit.sign()
    assert signed.fse_number == 2 and len(board.unit.store.list_fses()) == 1


def test_signature_and_unlock_outcomes_are_traced(board, medecin):
    visit = ready_to_sign(board, medecin)
    board.pull("vitale", after_s=0.002)
    with pytest.raises(VisitError):
        visit.sign()
    board.insert("vitale", "vitale_famille_essai")
    visit.read_vitale()
    visit.choose_beneficiary(0)
    visit.check()
    visit.sign()
    traces = [(t.operation, t.outcome) for t in board.unit.store.traces()]
    # use-case traces only (the card and FSE steps are traced too: tests/traces)
    assert [t for t in traces if t[0].startswith("visit.")] == [
        ("visit.enrol", "ok"), ("visit.unlock", "ok"), ("visit.sign", "card_removed"),
        ("visit.sign", "ok")]
