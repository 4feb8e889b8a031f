"""Fixtures: the UI on the simulated board (see driver.py)."""

from __future__ import annotations

import pytest

from board.sim.pki import TestPki

from .driver import DAY, Driver, UiBoard, prepare


@pytest.fixture(scope="session")
def pki() -> TestPki:
    return TestPki.create()


@pytest.fixture
def board(tmp_path, pki):
    b = UiBoard(tmp_path, pki)
    yield b
    b.unit.close()


@pytest.fixture
def drv(board) -> Driver:
    """A prepared unit (two invoices: PAUL 47,32 €, MARIE 30,00 €) at its start screen."""
    prepare(board, invoices=DAY)
    return Driver(board)


@pytest.fixture
def home(drv) -> Driver:
    """Unlocked by the doctor's CPS, on the home screen."""
    drv.wait(3)
    drv.unlock()
    assert drv.screen == "home"
    return drv
