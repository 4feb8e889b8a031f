"""Fixtures: a paired unit on the simulated board with an enrolled CPS."""

from __future__ import annotations

import pytest

from board.sim.pki import TestPki
from firmware.visit import Terminal

from .simboard import MEDECIN_BN, NURSE_BN, PINS, SimBoard


@pytest.fixture(scope="session")
def pki() -> TestPki:
    return TestPki.create()


@pytest.fixture
def board(tmp_path, pki):
    b = SimBoard(tmp_path, pki)
    yield b
    b.unit.close()


def enrol(board: SimBoard, name: str, prefer: int | None = None) -> Terminal:
    """Pair the unit, enrol the CPS ``name``, lock; load tariff and ranges."""
    term = Terminal(board.unit)
    board.pair()
    board.insert("cps", name, prefer)
    term.enrol(PINS[name])
    term.lock()
    board.load_tariff()
    board.load_range(MEDECIN_BN)
    board.load_range(NURSE_BN)
    return term


@pytest.fixture
def medecin(board) -> Terminal:
    """Unlocked terminal of the doctor (CPS4, cps_medecin)."""
    term = enrol(board, "cps_medecin")
    term.unlock(PINS["cps_medecin"])
    return term
