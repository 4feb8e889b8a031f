"""Faults on one card's line at chosen characters of one exchange (issue 9, defect 1).

The card emulator counts the characters of the protocol phase in both directions from
the last reset (``board.sim.card_emulator.Faults``). :func:`learn_answer` runs an action
once on a clean line and finds where the card's last answer in it lies: for a T=0
signature that is the procedure byte, the 256 signature bytes and SW1 SW2 (259
characters) after the GET RESPONSE the reader sent. :class:`Line` then puts one fault on
one of those characters of the next run of the same action, and takes it away after.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from board.sim.card_emulator import CardEmulator, Faults

FAULTS = ("corrupt_at", "lost_at", "parity_at")


@dataclass(frozen=True)
class Answer:
    """Where the card's last answer of an action lies, in line characters counted
    from ``start`` (the emulator's count when the action begins; 0 when the action
    powers the card up)."""

    offset: int
    length: int
    resets: bool
    exchange: int  # characters of the whole signing exchange (asked again: as many more)


def faults(fault: str, at: frozenset[int]) -> Faults:
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}")
    none: frozenset[int] = frozenset()
    return Faults(corrupt_at=at if fault == "corrupt_at" else none,
                  lost_at=at if fault == "lost_at" else none,
                  parity_at=at if fault == "parity_at" else none)


def emulator(board, slot: str) -> CardEmulator:
    return board.slots[slot].emulator


def learn_answer(board, slot: str, action: Callable[[], object]) -> Answer:
    emu = emulator(board, slot)
    start, resets, logged = emu._index, emu.resets, len(emu.log)
    action()
    chars = emu.log[logged:]
    runs = [len(list(g)) for _, g in itertools.groupby(c.from_card for c in chars)]
    assert chars[-1].from_card, "the action must end with the card's answer"
    reset = emu.resets != resets
    counted = emu._index if reset else emu._index - start
    # T=0 case 4: header, INS, data, 61 xx, GET RESPONSE, INS + signature + SW
    return Answer(counted - runs[-1], runs[-1], reset, sum(runs[-6:]))


class Line:
    """One fault at character ``position`` of ``answer`` in the next action on ``slot``."""

    def __init__(self, board, slot: str, answer: Answer):
        self.board, self.slot, self.answer = board, slot, answer

    def arm(self, fault: str, position: int) -> None:
        if not 0 <= position < self.answer.length:
            raise ValueError(f"position {position} outside the answer")
        emu = emulator(self.board, self.slot)
        base = 0 if self.answer.resets else emu._index
        emu.faults = faults(fault, frozenset({base + self.answer.offset + position}))

    def arm_both_tries(self, fault: str, position: int) -> None:
        """The same fault at the same character of the answer and of the answer to
        the signature asked again right after it (one exchange later)."""
        emu = emulator(self.board, self.slot)
        base = (0 if self.answer.resets else emu._index) + self.answer.offset + position
        emu.faults = faults(fault, frozenset({base, base + self.answer.exchange}))

    def clear(self) -> None:
        emulator(self.board, self.slot).faults = Faults()


# ---- what the sweeps hit and what they expect -------------------------------------------
ANSWER = 259  # a T=0 signature answer: procedure byte, RSA-2048 signature, SW1 SW2
SIGNATURE = range(1, 257)
FRAME = (0, 1, 256, 257, 258)  # procedure byte, first and last signature byte, SW1, SW2
# A corrupted procedure byte (ISO/IEC 7816-3 §10.3.3) is no procedure byte; a
# corrupted SW1 or SW2 (90 00, XOR 03) is a status the card reader refuses.
CORRUPTED_FRAME = {0: "t0_bad_procedure", 257: "card_sw_9300", 258: "card_sw_9003"}
# TLA_FULL_SWEEP=1: every character of every answer for every fault (minutes).
FULL = os.environ.get("TLA_FULL_SWEEP") == "1"


def positions(fault: str, every: bool) -> list[int]:
    """Characters of the answer a sweep hits: all of them when ``every`` (or
    TLA_FULL_SWEEP=1); else the frame and every 4th signature byte for corruption, the
    frame and every 16th for loss and parity (their effect does not depend on the
    byte's value), to keep the suite's time down."""
    if every or FULL:
        return list(range(ANSWER))
    stride = 4 if fault == "corrupt_at" else 16
    return sorted(set(FRAME) | set(range(1, 257, stride)))


def expected(fault: str, position: int) -> str:
    """``ok``, the error code, or ``card error``: any error of the card link or the
    card (what a lost character leads to depends on the bytes that follow it)."""
    if fault == "parity_at":  # §7.3: the card repeats the character
        return "ok"
    if fault == "corrupt_at":  # a signature byte is caught, and asked for again
        return "ok" if position in SIGNATURE else CORRUPTED_FRAME[position]
    return "card error"  # T=0 cannot resynchronise after a lost character


@contextlib.contextmanager
def ram_dir(tmp_path: Path) -> Iterator[Path]:
    """Where a sweep keeps its stores: in RAM when the machine has /dev/shm. The sweeps
    test what is signed, not the disk (tests/visit/test_durability.py does), and a
    synced commit per run on a slow disk costs more than the run itself."""
    if not os.path.isdir("/dev/shm"):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="tla-sweep-") as name:
        yield Path(name)
