"""`tla-unit sim --record FILE.gif`: every frame the display twin showed during the
session, as an animated GIF written at exit (a frame equal to the one before it is
merged); and `--interactive` refused without a terminal."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageSequence
from visit.simboard import PAUL, PINS, invoice

from board.sim.commands import run_sim
from board.sim.pki import TestPki

from .sim_state import CPS, prepare_state


@pytest.fixture
def state(tmp_path):
    prepare_state(tmp_path / "unit", [invoice("INV-1", patient=PAUL)], TestPki.create())
    return tmp_path / "unit"


def frames_of(gif) -> list[bytes]:
    with Image.open(gif) as image:
        assert image.format == "GIF" and image.size == (128, 64)
        return [frame.convert("L").point(lambda v: 255 if v > 127 else 0).convert("1").tobytes()
                for frame in ImageSequence.Iterator(image)]


def test_the_gif_holds_every_screen_of_the_session_in_order(state, tmp_path):
    snaps = [tmp_path / f"s{i}.png" for i in range(4)]
    lines = ["insert ps cps_medecin", f"snapshot {snaps[0]}", f"key {PINS[CPS][0]}",
             f"snapshot {snaps[1]}", *[f"key {d}" for d in PINS[CPS][1:]], "key valider",
             f"snapshot {snaps[2]}", "insert vitale vitale_famille_essai",
             f"snapshot {snaps[3]}"]
    script = tmp_path / "day.txt"
    script.write_text("\n".join(lines) + "\n")
    gif = tmp_path / "day.gif"
    out: list[str] = []
    assert run_sim(state=state, script=script, stdin=[], print_=out.append, record=gif) == 0
    frames = frames_of(gif)
    assert out[-2] == f"recorded {gif} ({len(frames)} frames)"
    wanted = []
    for snap in snaps:  # pin screen, one digit, home, recap
        with Image.open(snap) as image:
            wanted.append(image.convert("1").tobytes())
    positions = [frames.index(w) for w in wanted]
    assert positions == sorted(positions) and len(set(positions)) == 4
    assert frames[-1] == wanted[-1]  # the recap was the last thing shown
    # start screen, lock screen, pin with 0..4 digits, home, recap at the least
    assert len(frames) >= 9
    assert all(a != b for a, b in zip(frames, frames[1:], strict=False))  # repeats merged


def test_a_gif_that_cannot_be_written_fails_the_run(state, tmp_path):
    gif = tmp_path / "no-dir" / "day.gif"
    out: list[str] = []
    assert run_sim(state=state, stdin=["quit"], print_=out.append, record=gif) == 1
    assert out[-2].startswith(f"error: cannot write {gif}: ")


def test_interactive_without_a_terminal_is_a_usage_error(state, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    out: list[str] = []
    assert run_sim(state=state, interactive=True, print_=out.append) == 2
    assert out == ["error: --interactive needs a terminal on stdin"]
