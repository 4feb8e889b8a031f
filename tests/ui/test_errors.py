"""Every error of the use cases gets a screen with its French text and a way
forward, reached by key and card events only."""

from __future__ import annotations

import pytest

from firmware.parts import Beep
from firmware.store.capacity import Usage
from firmware.store.errors import StoreFull
from firmware.ui.events import CardRemoved
from firmware.ui.problems import HINTS

from .driver import DAY, Driver, mute, prepare

FAMILY = "vitale_famille_essai"


def to_recap(home: Driver) -> None:
    """Home -> PAUL's invoice -> Vitale -> recap."""
    home.key("valider", "valider", "valider")
    home.insert("vitale", FAMILY)
    home.key("valider")
    assert home.screen == "recap"


def pull_during(home: Driver, slot: str) -> None:
    """Pull ``slot`` inside the card exchanges of signing; the slot's removal
    event reaches the UI while the job runs (it waits for the job's end)."""
    def hook(job: str) -> None:
        if job == "sign":
            home.board.pull(slot, after_s=0.002)
            assert home.ui.handle(CardRemoved(slot)) == []
            assert home.screen == "signing"
    home.on_job = hook


def test_vitale_pulled_during_signing_then_signed_again(home: Driver):
    to_recap(home)
    pull_during(home, "vitale")
    home.key("valider")
    assert home.screen == "error"
    assert home.text().startswith("Carte Vitale retirée") and "Réinsérer la carte" in home.flat()
    assert home.sounds[-1] == Beep.ERROR
    assert home.board.unit.store.list_fses() == []
    home.on_job = None
    home.key("valider")
    assert home.screen == "insert_vitale"
    home.insert("vitale", FAMILY)
    home.key("valider", "valider")
    assert home.screen == "signed" and "n° 2" in home.text()  # 1 was skipped, recorded


def test_cps_pulled_during_signing_locks_and_the_invoice_stays(home: Driver):
    to_recap(home)
    pull_during(home, "cps")
    home.key("valider")
    assert home.screen == "error" and home.text().startswith("Carte CPS retirée")
    assert "la facture reste à signer" in home.flat()
    assert not home.terminal.is_unlocked
    home.on_job = None
    home.key("valider")
    assert home.screen == "lock"
    home.unlock()
    assert home.screen == "home" and "Factures préparées 2" in home.text()
    assert home.board.unit.store.record_info("invoice", "INV-1").status == "loaded"


def test_mute_vitale_card(home: Driver):
    home.key("valider", "valider", "valider")
    mute(home.board, "vitale", FAMILY)
    home.key("valider")  # the card is in: read it
    assert home.screen == "error" and home.text().startswith("Carte muette")
    assert "Retourner la carte" in home.flat()
    home.key("valider")
    assert home.screen == "insert_vitale"
    home.key("menu", "1")  # the way out: degraded
    assert home.screen == "degraded"


def test_cps_in_the_vitale_slot(home: Driver):
    home.key("valider", "valider", "valider")
    home.insert("vitale", "cps_infirmier")
    assert home.screen == "error"
    assert home.ui.ctx.problem.code == "card_wrong_type"
    assert home.text().startswith("Carte non reconnue") and "Vérifier la carte et sa fente" in home.flat()
    home.key("valider")
    assert home.screen == "insert_vitale"


def test_opposed_vitale_leads_to_the_degraded_choice(home: Driver):
    home.board.load_opposition(b'{"serials": ["9100000001"]}')
    home.key("valider", "valider", "valider")
    home.insert("vitale", FAMILY)
    assert home.screen == "error" and home.text().startswith("Carte Vitale en")
    assert "opposition" in home.flat() and "mode dégradé possible" in home.flat()
    home.key("valider")
    assert home.screen == "degraded"
    home.key("annuler")
    assert home.screen == "insert_vitale"


def test_opposed_vitale_on_the_home_screen(home: Driver):
    home.board.load_opposition(b'{"serials": ["9100000001"]}')
    home.insert("vitale", FAMILY)
    assert home.screen == "error" and home.ui.ctx.problem.code == "vitale_opposed"
    home.key("valider")
    assert home.screen == "home"  # no visit started: nothing to degrade


def test_another_beneficiary_than_the_invoices(home: Driver):
    home.key("valider", "valider", "valider")
    home.insert("vitale", FAMILY)
    home.key("up")  # LEA, the last one, rights closed
    assert home.text().splitlines()[-1] == "> ×LEA ESSAI 2001"
    home.key("valider")
    assert home.screen == "error"  # PAUL's invoice: LEA is not the patient
    assert home.flat() == "Patient différent de la facture Choisir le patient de la facture"
    home.key("valider")
    assert home.screen == "beneficiaries"


def test_rights_closed_on_an_invoice_without_patient(board, pki):
    from visit.simboard import invoice

    prepare(board, invoices=[invoice("INV-9", lines=[{"code": "G"}])])
    drv = Driver(board)
    drv.key("valider")
    drv.unlock()
    drv.key("valider", "valider", "valider")
    drv.insert("vitale", FAMILY)
    drv.key("up", "valider")
    assert drv.screen == "error"
    assert drv.flat() == "Droits fermés à la date Choisir un autre bénéficiaire ou mode dégradé"
    drv.key("valider")
    assert drv.screen == "beneficiaries"


def test_no_fse_numbers_left(board):
    prepare(board, invoices=DAY, ranges=False)  # the office never loaded a range
    drv = Driver(board)
    drv.key("valider")
    drv.unlock()
    to_recap(drv)
    drv.key("valider")
    assert drv.screen == "error" and drv.ui.ctx.problem.code == "store_no_fse_number"
    assert "Recharger des numéros au cabinet" in drv.flat()
    drv.key("valider")
    assert drv.screen == "home"


def test_store_full_at_commit(home: Driver, monkeypatch):
    def full(*args, **kwargs):
        raise StoreFull("no room")
    monkeypatch.setattr(home.board.unit.store, "signed_fse", full)
    to_recap(home)
    home.key("valider")
    assert home.screen == "error" and home.ui.ctx.problem.code == "store_full"
    assert "Décharger les FSE au cabinet" in home.flat()
    home.key("valider")
    assert home.screen == "home"
    assert home.board.unit.store.record_info("invoice", "INV-1").status == "loaded"


def test_store_nearly_full_is_shown(home: Driver, monkeypatch):
    store = home.board.unit.store
    monkeypatch.setattr(store, "usage", lambda: Usage(850, 1000, 100, 2, 0, 0))
    home.key("down")
    assert home.ui.status.store_warning and home.ui.status.store_percent == 85
    assert home.text().splitlines()[0] == "Mémoire pleine à 85%"


def test_battery_low_refuses_to_start_a_signature(home: Driver):
    to_recap(home)
    home.battery(9)
    assert "! Batterie 9 %" in home.text()
    home.key("valider")
    assert home.screen == "error" and home.flat() == "Batterie faible Brancher le chargeur"
    assert home.jobs[-1] != "sign"
    home.key("valider")
    assert home.screen == "recap"
    home.battery(10)  # the threshold: 10 % and above may sign
    home.key("valider")
    assert home.screen == "signed"


def test_clock_not_set(drv: Driver):
    drv.board.clock._offset = None  # as after an RTC battery failure
    drv.ui.refresh_status()
    assert "Heure non réglée" in drv.text() and drv.ui.status.clock is None
    drv.key("valider")
    drv.unlock()
    assert drv.screen == "error" and drv.flat().startswith("Heure non réglée Régler l'heure")
    drv.key("valider")
    assert drv.screen == "lock"


@pytest.mark.parametrize("code", sorted(HINTS))
def test_every_hint_leads_somewhere_on_the_map(code):
    from firmware.ui.screen_map import MAP

    assert ("error", HINTS[code][1]) in MAP


def test_cps_pulled_on_an_error_screen_leads_to_the_lock_screen(home: Driver):
    to_recap(home)
    home.battery(5)
    home.key("valider")
    assert home.screen == "error"
    home.pull("cps")
    assert home.screen == "error"  # the text stays until read
    home.key("valider")  # would go back to the recap: the unit is locked now
    assert home.screen == "lock" and not home.terminal.is_unlocked


def test_a_cpe_without_the_right_to_sign_gets_the_report(board):
    """The CPE unlocks (it may prepare) but its situation cannot sign: the checks'
    report says so and Valider goes back; nothing is signed."""
    from visit.simboard import PAUL, invoice

    prepare(board, cps="cpe_ambulance",
            invoices=[invoice("INV-C", "069999050", "10", patient=PAUL, lines=[{"code": "G"}])])
    drv = Driver(board)
    drv.key("valider")
    drv.unlock("cpe_ambulance")
    drv.insert("vitale", FAMILY)
    assert drv.screen == "report"
    assert "× Carte non habilitée à signer" in drv.flat()
    drv.key("valider")
    assert drv.screen == "beneficiaries"
    assert board.unit.store.list_fses() == []


def test_a_vitale_in_the_cps_slot(drv: Driver):
    drv.key("valider")
    drv.insert("cps", FAMILY)
    drv.digits("1234")
    drv.key("valider")
    assert drv.screen == "error" and drv.ui.ctx.problem.code == "card_wrong_type"
    assert "Vérifier la carte et sa fente" in drv.flat()
    drv.key("valider")
    assert drv.screen == "lock"
