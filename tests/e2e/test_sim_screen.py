"""The unit's screen reached by a person at the simulated unit: keys through the
keypad twin, cards in the slots, `screen` and `snapshot` (tla-unit sim), and the
main loop (UnitApp) showing the UI's frames on the display twin. Amounts from
TEST_TARIFF by hand (tests/ui/test_visit.py): INV-1 (PAUL) V 30.00 + MD 10.00 +
IK 12 km x 0.61 = 47,32 €, AMO 70 % = 33,12 €."""

from __future__ import annotations

import time

import pytest
from PIL import Image
from visit.simboard import MEDECIN_BN, PAUL, PINS, invoice

from board import build
from board.config import BoardConfig
from board.sim import commands
from board.sim.commands import run_sim
from board.sim.parts import SimBuzzer, SimDisplay, SimKeypad
from board.sim.pki import TestPki
from board.sim.unit import SimUnit
from firmware.app import UnitApp, UnitThread
from firmware.parts import Beep, Key

from .sim_state import CPS, prepare_state

FAMILY = "vitale_famille_essai"
PIN_KEYS = [f"key {digit}" for digit in PINS[CPS]]


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.create()


@pytest.fixture
def state(tmp_path, pki):
    """A unit paired, enrolled for the doctor's CPS, clock set, INV-1 (PAUL) loaded."""
    prepare_state(tmp_path / "unit", [invoice("INV-1", patient=PAUL)], pki)
    return tmp_path / "unit"


def execute(sim: SimUnit, line: str) -> str:
    answer = commands.execute(sim, line)
    assert answer is not None, line
    return answer


def twins(board) -> tuple[SimKeypad, SimDisplay, SimBuzzer]:
    keypad, display, buzzer = board.keypad, board.display, board.buzzer
    assert isinstance(keypad, SimKeypad) and isinstance(display, SimDisplay)
    assert isinstance(buzzer, SimBuzzer)
    return keypad, display, buzzer


def _body(answer: str) -> list[str]:
    """The lines of a `screen` answer after its status bar."""
    lines = answer.splitlines()
    return [line.removeprefix("  ") for line in lines[2:]]


def test_the_pin_typed_on_the_keypad_opens_the_home_screen(state, tmp_path):
    script = tmp_path / "pin.txt"
    script.write_text("\n".join(["insert ps cps_medecin", "screen", "key 1", "screen",
                                 *PIN_KEYS[1:], "key valider", "screen"]) + "\n")
    out: list[str] = []
    assert run_sim(state=state, script=script, stdin=[], print_=out.append) == 0
    answers = out[2:]
    assert answers[0] == "ok cps_medecin in slot ps"
    assert answers[1].splitlines()[0] == "ok screen pin"  # the CPS on the lock screen
    assert _body(answers[1]) == ["Code porteur", "○ ○ ○ ○", "Corriger efface"]
    assert answers[2] == "ok 1 pressed"
    assert _body(answers[3]) == ["Code porteur", "● ○ ○ ○", "Corriger efface"]
    assert answers[4:8] == [f"ok {d} pressed" for d in PINS[CPS][1:]] + ["ok valider pressed"]
    home = answers[8].splitlines()
    assert home[0] == "ok screen home"
    assert "ouvert" in home[1] and "verrouillé" not in home[1]  # the status bar's padlock
    assert _body(answers[8]) == ["> Factures préparées 1", "Nouvelle facture",
                                 "Lecture Vitale seule", "Informations", "Mise à jour"]
    assert answers[9:] == ["stopped"]


def test_a_vitale_on_the_home_screen_is_signed_with_keys_only(state, tmp_path, pki):
    png = tmp_path / "signed.png"
    with SimUnit(state, pki=pki) as sim:
        for line in ["insert ps cps_medecin", *PIN_KEYS, "key valider"]:
            execute(sim, line)
        assert execute(sim, "screen").splitlines()[0] == "ok screen home"
        execute(sim, f"insert vitale {FAMILY}")  # finds PAUL's invoice by itself
        recap = execute(sim, "screen")
        assert recap.splitlines()[0] == "ok screen recap"
        assert _body(recap)[:4] == ["ESSAI PAUL", "47,32 €", "AMO 33,12 AMC 0,00",
                                    "À régler 47,32 €"]
        assert execute(sim, "key valider") == "ok valider pressed"
        signed = execute(sim, "screen")
        assert signed.splitlines()[0] == "ok screen signed"
        assert _body(signed)[:3] == ["ESSAI PAUL", "n° 1", "FSE signée"]
        fses = sim.call(lambda: [(f.professional_id, f.fse_number, f.status, f.invoice_key)
                                 for f in sim.unit.store.list_fses()])
        assert [f[:3] for f in fses] == [(MEDECIN_BN, 1, "signed")]  # stored, then "signée"
        assert fses[0][3] is not None  # it consumed the prepared invoice
        _, display, buzzer = twins(sim.board)
        assert buzzer.beeps[-1] == Beep.DONE
        assert execute(sim, f"snapshot {png}") == f"ok snapshot {png} (128x64)"
        last = display.frames[-1]
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (128, 64) and image.mode == "1"
        assert image.tobytes() == last.tobytes()


def test_snapshot_before_any_frame_and_to_a_bad_path_are_errors(state, tmp_path, pki):
    out: list[str] = []
    run_sim(state=state, print_=out.append,
            stdin=[f"snapshot {tmp_path / 'no-dir' / 'x.png'}", "screen extra", "key"])
    assert out[2].startswith(f"error: cannot write {tmp_path / 'no-dir' / 'x.png'}: ")
    assert out[3] == "error: usage: screen"
    assert out[4] == "error: usage: key NAME (0-9, valider, annuler, corriger, up, down, menu)"


def _wait(app: UnitApp, screen: str) -> None:
    for _ in range(600):  # a bound for a stuck unit, not a speed check
        if app.call(lambda: app.ui.ui.screen) == screen:
            return
        time.sleep(0.05)
    pytest.fail(f"the unit never showed {screen}")


def test_a_key_on_the_keypad_twin_changes_what_the_display_twin_shows(tmp_path):
    board = build(BoardConfig(board="sim", state_dir=str(tmp_path)))
    # a frozen clock: the start screen waits for a key (its two seconds never pass)
    thread = UnitThread(lambda: UnitApp(board, tmp_path, monotonic=lambda: 1000.0))
    app = thread.start()
    keypad, display, buzzer = twins(board)
    try:
        frames = display.frames
        assert app.call(lambda: app.ui.ui.screen) == "start"
        before = app.call(lambda: len(frames))
        start = frames[-1].tobytes()
        keypad.press(Key.VALIDER)  # a press and a release
        _wait(app, "lock")
        drawn = app.call(lambda: app.ui.ui.render())
        assert app.call(lambda: len(frames)) == before + 1  # the release drew nothing new
    finally:
        thread.stop()
    assert frames[-1].tobytes() != start
    assert frames[-1].tobytes() == drawn.tobytes()
    assert buzzer.beeps == [Beep.KEY]
