"""The "Mise à jour" screen: after the CPS unlock, a home menu entry opens the update
mode for 10 minutes (the image group then serves any host); Annuler or the timeout
closes it."""

from __future__ import annotations

import pytest

from board.sim.pki import TestPki
from firmware.update.service import UPDATE_MODE_S, UpdateMode
from tests.ui.driver import DAY, Driver, UiBoard, prepare


@pytest.fixture
def home(tmp_path):
    board = UiBoard(tmp_path, TestPki.create())
    prepare(board, invoices=DAY)
    drv = Driver(board)
    drv.ui.update_mode = UpdateMode(clock=lambda: board.monotonic.t)
    drv.wait(3)
    drv.unlock()
    assert drv.screen == "home"
    yield drv
    board.unit.close()


def test_the_menu_entry_opens_the_mode_and_annuler_closes_it(home: Driver):
    mode = home.ui.update_mode
    assert home.text().splitlines()[-1] == "Mise à jour"
    assert not mode.active()
    home.key("5")  # the fifth entry
    assert home.screen == "update" and mode.active()
    assert home.text().splitlines() == ["Mise à jour", "Ouverte au PC :", "envoyez la mise à jour",
                                        "Reste 10:00", "Annuler : fermer"]
    home.wait(75)
    assert "Reste 8:45" in home.text()
    home.key("annuler")
    assert home.screen == "home" and not mode.active()


def test_the_mode_ends_by_itself_at_its_timeout(home: Driver):
    home.ui.update_mode = mode = UpdateMode(120, clock=lambda: home.board.monotonic.t)
    assert UPDATE_MODE_S == 600  # the unit's own mode lasts 10 minutes
    home.key("5")
    assert mode.active()
    home.wait(60)
    assert home.screen == "update"
    home.wait(61)
    assert not mode.active() and home.screen == "home"


def test_pulling_the_cps_closes_it(home: Driver):
    home.key("5")
    assert home.ui.update_mode.active()
    home.pull("cps")
    assert home.screen == "lock"
    assert not home.ui.update_mode.active()
