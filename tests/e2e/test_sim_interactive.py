"""`tla-unit sim --interactive` driven through tmux like a person at the keyboard:
the OLED drawn in half blocks, the UI's screen name and text under it, keys typed
(digits, Enter), cards put in with `c` (the CPS) and `v` (the Vitale), from the lock
screen to "FSE signée"; `q` quits and `--record` leaves a GIF of the session.
Amounts: INV-1 (PAUL) 47,32 € (tests/e2e/test_sim_screen.py)."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image
from visit.simboard import PAUL, PINS, invoice

from .sim_state import CPS, prepare_state

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 120.0  # a bound for a stuck simulator, not a speed check


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True,
                          text=True).stdout


def pane(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def start(session: str, *args: str) -> None:
    """The simulator in a tmux pane; after it exits the pane tells whether the
    terminal was given back in canonical mode (``stty`` prints ``icanon``)."""
    command = " ".join(shlex.quote(part) for part in [
        sys.executable, "-m", "board.main", "sim", "--interactive", *args])
    env = f"PYTHONPATH={shlex.quote(str(ROOT))}"
    # the OLED is 128 cells wide and 32 lines high, plus its frame and the text under it
    tmux("new-session", "-d", "-s", session, "-x", "140", "-y", "50",
         f"cd {shlex.quote(str(ROOT))} && {env} {command}; "
         "stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon' | sed 's/^/tty: /'; sleep 60")


def wait_for(session: str, *texts: str) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        shown = pane(session)
        if all(text in shown for text in texts):
            return shown
        time.sleep(0.1)
    pytest.fail(f"the pane never showed {texts}:\n{pane(session)}")


def test_lock_screen_to_fse_signed_typed_in_the_terminal(tmp_path):
    state = tmp_path / "unit"
    prepare_state(state, [invoice("INV-1", patient=PAUL)])
    gif = tmp_path / "day.gif"
    session = f"tla-sim-{uuid.uuid4().hex[:8]}"
    try:
        start(session, "--state", str(state), "--cps", CPS, "--vitale",
              "vitale_famille_essai", "--record", str(gif))
        shown = wait_for(session, "screen: lock", "Insérer la CPS")
        assert "▀" in shown or "█" in shown or "▄" in shown  # the OLED's pixels, drawn
        tmux("send-keys", "-t", session, "c")
        wait_for(session, "screen: pin", "Code porteur", f"ps={CPS}")
        tmux("send-keys", "-t", session, *PINS[CPS])
        wait_for(session, "● ● ● ●")
        tmux("send-keys", "-t", session, "Enter")
        wait_for(session, "screen: home", "Factures préparées 1")
        tmux("send-keys", "-t", session, "v")  # the Vitale finds PAUL's invoice by itself
        recap = wait_for(session, "screen: recap", "ESSAI PAUL", "À régler 47,32 €")
        assert "vitale=vitale_famille_essai" in recap
        tmux("send-keys", "-t", session, "Enter")
        signed = wait_for(session, "screen: signed", "FSE signée", "n° 1")
        assert "ESSAI PAUL" in signed
        tmux("send-keys", "-t", session, "q")
        wait_for(session, "stopped", "tty: icanon")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    with Image.open(gif) as image:  # lock, PIN 0..4 digits, home, recap, signed at least
        assert image.format == "GIF" and image.size == (128, 64)
        assert getattr(image, "n_frames", 1) >= 9


def test_ctrl_c_stops_the_simulator_and_gives_the_terminal_back(tmp_path):
    session = f"tla-sim-{uuid.uuid4().hex[:8]}"
    try:
        start(session, "--state", str(tmp_path / "unit"))
        wait_for(session, "screen: ")
        tmux("send-keys", "-t", session, "C-c")
        shown = wait_for(session, "stopped", "tty: ")
        assert "tty: icanon" in shown  # not "tty: -icanon": cbreak mode was undone
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
