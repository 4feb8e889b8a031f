"""The CPS's unlock proof hit on the line is never used (issue 9, defect 1;
docs/visit.md §Terminal).

The card proof (the CPS's PKCS#1 v1.5 signature of SHA-256 of the store's challenge)
wraps the store key at enrolment and opens it at unlock. A proof corrupted on the T=0
line used to be enrolled: enrolment reported success and the card then always got
``store_wrong_card``. The unit now checks the proof against the card's certificate
first, asks once more on a mismatch, and otherwise fails with ``card_bad_signature``.

The sweep puts one fault on characters of the proof's answer at enrolment (see
``line_faults.positions`` for which): after each, either enrolment failed cleanly and
enrolling again on a clean line works, or it succeeded; in both cases a later unlock
works.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from firmware.iso7816.errors import CardError
from firmware.visit import Terminal, VisitError

from .line_faults import (
    ANSWER,
    FAULTS,
    SIGNATURE,
    Answer,
    Line,
    expected,
    learn_answer,
    positions,
    ram_dir,
)
from .simboard import PINS, SimBoard

PIN = PINS["cps_medecin"]


def paired(base, pki, card=None) -> tuple[SimBoard, Terminal]:
    """A new unit paired with the office, its store unlocked, ``card`` (or the
    doctor's CPS) in the CPS slot."""
    os.makedirs(base)
    board = SimBoard(base, pki)
    board.pair()
    board.insert("cps", card or "cps_medecin")
    return board, Terminal(board.unit)


def enrol_answer(tmp_path, pki) -> tuple[Answer, object]:
    """Where the proof's answer lies at enrolment, and the card (reused by the runs)."""
    board, term = paired(tmp_path / "learn", pki)
    answer = learn_answer(board, "cps", lambda: term.enrol(PIN))
    board.unit.close()
    assert answer.length == ANSWER and answer.resets
    return answer, board.cards["cps"]


def unlocks(term: Terminal) -> bool:
    term.lock()
    return term.unlock(PIN).card_type == "CPS" and term.is_unlocked


def enrol_after_fault(base, pki, learnt, fault: str, position: int, both: bool = False) -> str:
    answer, card = learnt
    board, term = paired(base, pki, card)
    line = Line(board, "cps", answer)
    try:
        if both:
            line.arm_both_tries(fault, position)
        else:
            line.arm(fault, position)
        error = None
        try:
            term.enrol(PIN)
        except VisitError as exc:
            error = exc
        line.clear()  # the unlocks below run on a clean line
        if error is None:
            assert expected(fault, position) in ("ok", "card error"), (fault, position)
            assert unlocks(term), (fault, position)
            return "ok"
        assert isinstance(error.cause, CardError), (fault, position, error)
        assert board.unit.store.is_unlocked  # enrolling again needs no recovery
        term.enrol(PIN)
        assert unlocks(term), (fault, position)
        return error.code
    finally:
        board.unit.close()


def test_corrupted_proof_is_caught_at_enrolment_and_the_card_unlocks(tmp_path, pki):
    """Fails before the fix: the corrupted proof was enrolled, unlock then got
    store_wrong_card."""
    learnt = enrol_answer(tmp_path, pki)
    assert enrol_after_fault(tmp_path / "run", pki, learnt, "corrupt_at", 100) == "ok"


def test_proof_corrupted_twice_fails_enrolment_cleanly(tmp_path, pki):
    learnt = enrol_answer(tmp_path, pki)
    code = enrol_after_fault(tmp_path / "run", pki, learnt, "corrupt_at", 42, both=True)
    assert code == "card_bad_signature"


def test_unlock_proof_corrupted_once_or_twice(board):
    term = Terminal(board.unit)
    board.pair()
    board.insert("cps", "cps_medecin")
    term.enrol(PIN)
    term.lock()
    line = Line(board, "cps", learn_answer(board, "cps", lambda: term.unlock(PIN)))
    term.lock()
    line.arm("corrupt_at", 200)
    term.unlock(PIN)  # asked again: the store opens
    line.clear()
    assert term.is_unlocked
    term.lock()
    line.arm_both_tries("corrupt_at", 200)
    with pytest.raises(VisitError) as exc:
        term.unlock(PIN)
    line.clear()
    # not store_wrong_card: the card is enrolled, its answer was damaged
    assert (exc.value.code, exc.value.message_fr) == ("card_bad_signature",
                                                       "Signature CPS erronée")
    assert not term.is_unlocked and not board.unit.store.is_unlocked
    assert unlocks(term)


def test_enrolment_proof_answer_sweep(tmp_path, pki):
    learnt = enrol_answer(tmp_path, pki)
    outcomes: Counter = Counter()
    with ram_dir(tmp_path) as base:
        for fault in FAULTS:
            for position in positions(fault, every=False):
                code = enrol_after_fault(base / f"{fault}-{position}", pki, learnt, fault,
                                         position)
                outcomes[fault, "ok" if code == "ok" else "failed"] += 1
    sampled = {f: len(positions(f, every=False)) for f in FAULTS}
    corrupted_signature = len([p for p in positions("corrupt_at", every=False)
                               if p in SIGNATURE])
    assert outcomes == {("corrupt_at", "ok"): corrupted_signature,
                        ("corrupt_at", "failed"): sampled["corrupt_at"] - corrupted_signature,
                        ("lost_at", "failed"): sampled["lost_at"],
                        ("parity_at", "ok"): sampled["parity_at"]}
