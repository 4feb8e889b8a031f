"""A card's signature answer hit on the line is never stored as a signed FSE (issue 9,
defect 1; docs/visit.md §Signing).

T=0 has no block check: one character of the CPS's or the Vitale's signature answer
corrupted on the line used to reach the FSE, which the store committed as signed (the
invoice used, the FSE number consumed) and the office then refused
(``fse_bad_signature``). The unit now checks each card signature against the card's
certificate before the FSE is built further, asks the card once more on a mismatch,
and otherwise fails with ``card_bad_signature``, nothing committed.

The sweeps put one fault (corrupted, lost, parity-flagged) on characters of the
signature answer in turn (procedure byte, 256 signature bytes, SW1 SW2; which ones:
``line_faults.positions``, every one with TLA_FULL_SWEEP=1) on one shared board. Each run ends signed with an FSE the office's FseVerifier accepts, or failed
cleanly with a card error: no FSE, the number skipped with the error's code, the
invoice still loaded, and signed again on a clean line it verifies. The CPS sweep signs
in degraded mode (the CPS exchange is the same in every mode; no Vitale read per run).
"""

from __future__ import annotations

from collections import Counter

import pytest

from firmware.iso7816.errors import CardError
from firmware.visit import VisitError

from .conftest import enrol
from .line_faults import ANSWER, FAULTS, SIGNATURE, Line, expected, learn_answer, positions, ram_dir
from .simboard import MEDECIN_BN, PAUL, PINS, SimBoard, invoice

PIN = PINS["cps_medecin"]


@pytest.fixture
def ram_board(tmp_path, pki):
    with ram_dir(tmp_path) as base:
        board = SimBoard(base, pki)
        yield board
        board.unit.close()


class Desk:
    """One enrolled unit and the office's verifier, for many visits."""

    def __init__(self, board: SimBoard):
        self.board = board
        self.term = enrol(board, "cps_medecin")
        board.unit.store.load_fse_range("R-sweep", MEDECIN_BN, 501, 9999)
        self.term.unlock(PIN)
        board.insert("vitale", "vitale_famille_essai")
        self.verifier = board.verifier()
        self.count = 0

    def ready(self, secured: bool, invoice_id: str | None = None):
        """A visit of a new prepared invoice (or ``invoice_id``), checked."""
        if not self.term.is_unlocked:
            self.term.unlock(PIN)
        if invoice_id is None:
            self.count += 1
            invoice_id = f"INV-{self.count}"
            self.board.load_invoice(invoice(invoice_id, patient=PAUL))
        visit = self.term.start_visit(invoice_id)
        self.prepare(visit, secured)
        return visit

    @staticmethod
    def prepare(visit, secured: bool) -> None:
        if secured:
            visit.read_vitale()
            visit.choose_beneficiary(0)
        else:
            visit.use_degraded()
        assert visit.check().ok

    def verifies(self, fse_id: str) -> bool:
        payload = self.verifier.verify(self.board.unit.store.get_fse(fse_id)).payload
        return payload["fse_number"] == int(fse_id.rsplit("-", 1)[1])

    def status(self, invoice_id: str) -> str:
        return self.board.unit.store.record_info("invoice", invoice_id).status

    def number(self, number: int):
        return next(n for n in self.board.unit.store.numbering(MEDECIN_BN) if n.number == number)


def learn(desk: Desk, slot: str, secured: bool) -> Line:
    visit = desk.ready(secured)
    answer = learn_answer(desk.board, slot, visit.sign)
    assert answer.length == ANSWER and not answer.resets
    return Line(desk.board, slot, answer)


def sign_after_fault(desk: Desk, line: Line, fault: str, position: int, secured: bool) -> str:
    """One run: the fault, the outcome checked, a failure signed again on a clean line.
    Returns the outcome code ("ok" or the error's)."""
    visit = desk.ready(secured)
    invoice_id = visit.invoice.invoice_id
    line.arm(fault, position)
    try:
        signed = visit.sign()
    except VisitError as exc:
        error = exc
    else:
        assert desk.verifies(signed.fse_id) and desk.status(invoice_id) == "used"
        assert expected(fault, position) in ("ok", "card error"), (fault, position)
        return "ok"
    finally:
        line.clear()  # what follows runs on a clean line
    want = expected(fault, position)
    assert isinstance(error.cause, CardError) and want in (error.code, "card error"), \
        (fault, position, error)
    assert desk.status(invoice_id) == "loaded"
    skipped = [n for n in desk.board.unit.store.numbering(MEDECIN_BN) if n.state == "skipped"]
    assert skipped[-1].reason == error.code.lower()  # skip reasons are [a-z0-9_.] (docs/store.md)
    if line.slot == "cps":  # a CPS error locks the unit: the card and its PIN again
        assert not desk.term.is_unlocked
        visit = desk.ready(secured, invoice_id)
    else:  # a Vitale error asks for the card to be read again
        assert visit.state == "started"
        desk.prepare(visit, secured)
    signed = visit.sign()
    assert desk.verifies(signed.fse_id) and desk.status(invoice_id) == "used"
    return error.code


def all_fses_verify(desk: Desk) -> None:
    fses = desk.board.unit.store.list_fses()
    assert len(fses) == desk.count  # one per invoice: none lost, none twice
    assert all(desk.verifies(f.fse_id) for f in fses)


@pytest.mark.parametrize("slot", ["cps", "vitale"])
def test_one_corrupted_signature_character_is_caught_and_signed_again(board, slot):
    """Fails before the fix: the corrupted signature was committed as signed."""
    desk = Desk(board)
    line = learn(desk, slot, secured=True)
    visit = desk.ready(secured=True)
    line.arm("corrupt_at", 100)  # a byte in the middle of the signature
    signed = visit.sign()
    line.clear()
    assert desk.verifies(signed.fse_id)
    assert desk.number(signed.fse_number).state == "used"
    all_fses_verify(desk)


@pytest.mark.parametrize(("slot", "card"), [("cps", "CPS"), ("vitale", "Vitale")])
def test_signature_corrupted_twice_fails_cleanly_and_the_invoice_stays_signable(board, slot,
                                                                                 card):
    desk = Desk(board)
    line = learn(desk, slot, secured=True)
    visit = desk.ready(secured=True)
    invoice_id = visit.invoice.invoice_id
    line.arm_both_tries("corrupt_at", 7)
    with pytest.raises(VisitError) as exc:
        visit.sign()
    line.clear()
    assert (exc.value.code, exc.value.message_fr) == ("card_bad_signature",
                                                       f"Signature {card} erronée")
    store = board.unit.store
    assert len(store.list_fses()) == 1  # the one signed while learning
    number = store.numbering(MEDECIN_BN)[-1]
    assert (number.state, number.reason, number.fse_id) == ("skipped", "card_bad_signature", None)
    assert desk.status(invoice_id) == "loaded"
    # the CPS locks the unit, the Vitale must be read again
    assert desk.term.is_unlocked is (slot == "vitale")
    if slot == "cps":
        visit = desk.ready(True, invoice_id)
    else:
        desk.prepare(visit, True)
    signed = visit.sign()
    assert signed.fse_number == number.number + 1 and desk.verifies(signed.fse_id)
    assert desk.status(invoice_id) == "used"
    all_fses_verify(desk)


def sweep(desk: Desk, slot: str, secured: bool, every_corruption: bool) -> Counter:
    line = learn(desk, slot, secured)
    outcomes: Counter = Counter()
    for fault in FAULTS:
        for position in positions(fault, every_corruption and fault == "corrupt_at"):
            code = sign_after_fault(desk, line, fault, position, secured)
            outcomes[fault, "ok" if code == "ok" else "failed"] += 1
    all_fses_verify(desk)
    return outcomes


def swept(every_corruption: bool) -> dict:
    """Every corrupted signature byte caught and signed again; the frame's 3 other
    bytes and every lost character fail cleanly; every parity-flagged character is
    repeated by the card."""
    hit = {f: positions(f, every_corruption and f == "corrupt_at") for f in FAULTS}
    signature = len([p for p in hit["corrupt_at"] if p in SIGNATURE])
    return {("corrupt_at", "ok"): signature,
            ("corrupt_at", "failed"): len(hit["corrupt_at"]) - signature,
            ("lost_at", "failed"): len(hit["lost_at"]), ("parity_at", "ok"): len(hit["parity_at"])}


def test_cps_signature_answer_sweep(ram_board):
    """Corruption at every character of the CPS's answer (the others: see positions)."""
    assert sweep(Desk(ram_board), "cps", False, every_corruption=True) == swept(True)


def test_vitale_signature_answer_sweep(ram_board):
    assert sweep(Desk(ram_board), "vitale", True, every_corruption=False) == swept(False)
