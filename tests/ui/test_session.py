"""Start, lock, CPS + PIN, idle lock, CPS pulled: driven by key and card events."""

from __future__ import annotations

from firmware.parts import Beep

from .driver import Driver


def test_start_shows_version_and_short_seal_then_the_lock_screen(drv: Driver):
    seal = drv.board.unit.seal.hex()
    assert drv.screen == "start"
    assert drv.text().splitlines()[1:3] == ["Version 0.1.0", f"Sceau {seal[:8]}"]
    drv.wait(1)
    drv.wait(1.5)
    assert drv.screen == "start"  # two seconds from the first tick
    drv.wait(1)
    assert drv.screen == "lock"
    assert "Insérer la CPS" in drv.text()


def test_pin_masked_corriger_erases_one_and_valider_unlocks(drv: Driver):
    drv.key("valider")  # leaves the start screen
    drv.insert("cps", "cps_medecin")
    assert drv.screen == "pin"
    drv.digits("129")
    assert drv.text().splitlines()[1] == "● ● ● ○"
    assert "129" not in drv.text()
    drv.key("corriger")
    assert drv.text().splitlines()[1] == "● ● ○ ○"
    drv.key("valider")  # 2 digits: nothing happens
    assert drv.jobs == [] and drv.screen == "pin"
    drv.digits("34")
    drv.key("valider")
    assert drv.jobs == ["unlock"]
    assert drv.screen == "home" and drv.terminal.is_unlocked
    assert drv.ui.status.locked is False
    assert drv.text().splitlines()[0] == "> Factures préparées 2"


def test_wrong_pin_tries_left_last_try_warning_then_blocked(drv: Driver):
    drv.key("valider")
    drv.insert("cps", "cps_medecin")
    drv.digits("0000")
    drv.key("valider")
    assert drv.screen == "pin" and "Code faux, 2 essais restants" in drv.flat()
    assert "DERNIER ESSAI" not in drv.text()
    assert drv.sounds[-1] == Beep.ERROR
    drv.digits("0000")
    drv.key("valider")
    assert "Code faux, 1 essai restant" in drv.flat()
    assert drv.text().startswith("DERNIER ESSAI !")
    drv.digits("0000")
    drv.key("valider")
    assert drv.screen == "error"
    assert drv.text().startswith("Carte bloquée") and "code de déblocage" in drv.flat()
    drv.key("valider")
    assert drv.screen == "lock" and not drv.terminal.is_unlocked
    # the right PIN no longer opens it
    drv.key("valider")
    drv.digits("1234")
    drv.key("valider")
    assert drv.screen == "error" and drv.ui.ctx.problem.code == "pin_blocked"


def test_pulling_the_cps_locks_at_once(home: Driver):
    home.key("valider")
    assert home.screen == "invoices"
    home.pull("cps")
    assert home.screen == "lock" and not home.terminal.is_unlocked
    assert "CPS retirée" in home.text()


def test_pulling_the_cps_during_pin_entry_goes_back_to_lock(drv: Driver):
    drv.key("valider")
    drv.insert("cps", "cps_medecin")
    drv.digits("12")
    drv.pull("cps")
    assert drv.screen == "lock"


def test_idle_lock_after_the_configured_time(home: Driver):
    home.wait(299)  # UiBoard: idle_timeout_s=300
    assert home.screen == "home"
    home.wait(2)
    assert home.screen == "lock" and "Verrouillé (inactivité)" in home.text()
    assert not home.terminal.is_unlocked


def test_a_key_press_restarts_the_idle_timer(home: Driver):
    home.wait(250)
    home.key("down")
    home.wait(250)
    assert home.screen == "home"


def test_a_cps_not_enrolled_is_refused_with_what_to_do(drv: Driver):
    drv.key("valider")
    drv.insert("cps", "cps_infirmier")
    drv.digits("4321")
    drv.key("valider")
    assert drv.screen == "error" and drv.ui.ctx.problem.code == "store_wrong_card"
    assert "CPS non enrôlée sur ce terminal" in drv.flat()
    drv.key("valider")
    assert drv.screen == "lock"


def test_unit_information(home: Driver):
    home.key("4")
    assert home.screen == "info"
    text = home.text()
    assert "N° TLA-0A1B2C3D4E5F" in text and f"Sceau {home.board.unit.seal.hex()[:14]}" in text
    assert "Batterie 87 %" in text and "Le 10/03/2026 10:30" in text  # 09:30 UTC
    home.key("annuler")
    assert home.screen == "home"


def test_screen_text_with_the_status_bar(home: Driver):
    """What the simulator's `screen` command prints."""
    assert home.ui.text().splitlines()[:2] == ["[87% 10:30 ouvert FSE:0 mém:0%]",
                                               "> Factures préparées 2"]
    home.pull("cps")
    assert home.ui.text().splitlines()[0] == "[87% 10:30 verrouillé FSE:0 mém:0%]"
