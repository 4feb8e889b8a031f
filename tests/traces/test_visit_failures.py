"""Failures are traced with their codes at each level (card, FSE, use case), on the
visit layer's simulated board (tests/visit/simboard.py)."""

from __future__ import annotations

import pytest
from visit.conftest import enrol
from visit.simboard import PAUL, PINS, SimBoard, invoice

from board.sim.pki import TestPki
from firmware.visit import VisitError


@pytest.fixture
def board(tmp_path):
    b = SimBoard(tmp_path, TestPki.create())
    yield b
    b.unit.close()


def _since(board, mark):
    return [(t.operation, t.outcome) for t in board.unit.store.traces(mark)]


def _last_id(board):
    rows = board.unit.store.traces()
    return rows[-1].trace_id if rows else 0


def test_wrong_pin_is_traced_at_the_card_and_the_use_case(board):
    term = enrol(board, "cps_medecin")
    mark = _last_id(board)
    with pytest.raises(VisitError) as err:
        term.unlock("0000")
    assert err.value.code == "pin_wrong"
    # the PIN is refused before any signature: no card.cps.sign
    assert _since(board, mark) == [("card.cps.connect", "ok"), ("card.cps.read", "ok"),
                                   ("card.cps.verify_pin", "pin_wrong"),
                                   ("visit.unlock", "pin_wrong")]


def test_vitale_pulled_while_signing(board):
    term = enrol(board, "cps_medecin")
    term.unlock(PINS["cps_medecin"])
    board.load_invoice(invoice("INV-1", patient=PAUL))
    board.insert("vitale", "vitale_famille_essai")
    visit = term.start_visit("INV-1")
    mark = _last_id(board)
    visit.read_vitale()
    visit.choose_beneficiary(0)
    assert visit.check().ok
    board.pull("vitale", after_s=0.002)
    with pytest.raises(VisitError) as err:
        visit.sign()
    got = _since(board, mark)
    assert got[:2] == [("card.vitale.connect", "ok"), ("card.vitale.read", "ok")]
    # the failing card exchange, the FSE build it broke, then the use case
    failed = [t for t in got[2:] if t[1] != "ok"]
    assert [op for op, _ in failed] == ["card.vitale.sign", "fse.build", "visit.sign"]
    assert failed[0][1] == failed[1][1]  # the card error's own code, passed through
    assert failed[2][1] == err.value.code
    assert ("fse.commit", "ok") not in got  # nothing committed
