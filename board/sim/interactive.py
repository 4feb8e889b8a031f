"""``tla-unit sim --interactive``: the unit held in a terminal (docs/demo.md).

The OLED is drawn from the display twin's frames in half blocks
(:func:`board.sim.terminal_view.half_blocks`), redrawn when a frame arrives, with the
UI's screen name and text under it. The terminal is put in cbreak mode (termios/tty,
restored on exit, Ctrl-C included); keys reach the keypad twin and ``v`` / ``c``
insert or pull the emulated Vitale / CPS. Key presses and cards are handled on a
worker thread, in order, so the screen keeps being redrawn while the unit works
(reading a card, signing)."""

from __future__ import annotations

import os
import queue
import select
import sys
import termios
import threading
import time
import tty
from collections import deque
from typing import TextIO

from board.sim.terminal_view import decode_keys, half_blocks
from board.sim.unit import SimUnit

DEFAULT_VITALE = "vitale_famille_essai"
DEFAULT_CPS = "cps_medecin"
POLL_S = 0.05  # how often the view looks for a new frame or a key
TEXT_POLL_S = 0.5  # how often it asks the unit for the screen's text without a new frame


class Messages:
    """The simulator's own lines (link port, ``[unit] ...`` events, errors): printed
    while the view is not up, kept and shown under the screen while it is."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = False
        self.lines: deque[str] = deque(maxlen=4)
        self._lock = threading.Lock()

    def add(self, text: str) -> None:
        with self._lock:
            self.lines.extend(text.splitlines() or [""])
            if not self.live:
                self.stream.write(text + "\n")
                self.stream.flush()

    def last(self) -> list[str]:
        with self._lock:
            return list(self.lines)


def help_line(vitale: str, cps: str) -> str:
    return (f"keys: 0-9  Enter=valider  Esc=annuler  Backspace=corriger  up/down  m=menu  "
            f"v=Vitale ({vitale})  c=CPS ({cps})  q=quit")


def _worker(sim: SimUnit, jobs: queue.Queue, cards: dict[str, str], messages: Messages,
            describe) -> None:
    while True:
        action = jobs.get()
        if action is None:
            return
        try:
            if action.startswith("card:"):
                slot = action.split(":", 1)[1]
                if slot in sim.cards:
                    sim.remove(slot)
                else:
                    sim.insert(slot, cards[slot])
            else:
                sim.press(action)
        except Exception as exc:  # noqa: BLE001 - shown under the screen, the unit goes on
            messages.add(describe(exc))


def run_interactive(sim: SimUnit, messages: Messages, *, vitale: str, cps: str,
                    describe, stdin: TextIO | None = None,
                    stdout: TextIO | None = None) -> None:
    """Until ``q`` (or Ctrl-C, raised as KeyboardInterrupt after the terminal is restored)."""
    fd_in = (stdin or sys.stdin).fileno()
    out = stdout or sys.stdout
    display = sim.board.display if sim.board is not None else None
    frames = getattr(display, "frames", [])
    jobs: queue.Queue = queue.Queue()
    worker = threading.Thread(target=_worker, name="sim-interactive", daemon=True,
                              args=(sim, jobs, {"vitale": vitale, "ps": cps}, messages,
                                    describe))
    worker.start()
    saved = termios.tcgetattr(fd_in)
    tty.setcbreak(fd_in)
    messages.live = True
    out.write("\x1b[?25l\x1b[2J")  # hide the cursor, clear
    try:
        shown: tuple = ()
        seen_frames, text_at, screen = -1, 0.0, ("", "")
        while True:
            ready, _, _ = select.select([fd_in], [], [], POLL_S)
            if ready:
                data = os.read(fd_in, 64)
                if not data:
                    return  # the terminal went away
                for action in decode_keys(data):
                    if action == "quit":
                        return
                    jobs.put(action)
            now = time.monotonic()
            if len(frames) != seen_frames or now - text_at > TEXT_POLL_S:
                seen_frames, text_at = len(frames), now
                try:
                    screen = sim.screen()
                except Exception as exc:  # noqa: BLE001 - the unit stopped: say so
                    screen = ("?", describe(exc))
            cards = dict(sim.cards)
            view = (seen_frames, screen, tuple(sorted(cards.items())), tuple(messages.last()))
            if view != shown:
                shown = view
                out.write(draw(frames[-1] if frames else None, screen, cards,
                               messages.last(), help_line(vitale, cps)))
                out.flush()
    finally:
        jobs.put(None)
        messages.live = False
        termios.tcsetattr(fd_in, termios.TCSADRAIN, saved)
        out.write("\x1b[?25h\n")
        out.flush()


def draw(frame, screen: tuple[str, str], cards: dict[str, str], messages: list[str],
         help_text: str) -> str:
    """The whole view as one write: home the cursor, each line cleared to its end."""
    oled = half_blocks(frame) if frame is not None else ["(nothing shown yet)"]
    width = max(len(line) for line in oled)
    lines = ["┌" + "─" * width + "┐", *(f"│{line:<{width}}│" for line in oled),
             "└" + "─" * width + "┘"]
    name, text = screen
    lines.append(f"screen: {name}")
    lines += ["  " + line for line in text.splitlines()]
    lines.append("cards: " + (" ".join(f"{slot}={card}" for slot, card in sorted(cards.items()))
                              or "none"))
    lines.append(help_text)
    lines += messages
    return "\x1b[H" + "".join(line + "\x1b[K\n" for line in lines) + "\x1b[J"
