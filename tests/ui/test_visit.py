"""Visits through the keypad and the card slots: a prepared invoice in secured
mode (from the list, and found by the Vitale card alone), degraded mode, the
signed FSE checked by the office's verifier. Amounts from TEST_TARIFF by hand:
INV-1 (PAUL) V 30.00 + MD 10.00 + IK 12 km x 0.61 = 47,32 €, AMO 70 % = 33,12 €;
INV-2 (MARIE) G = 30,00 €."""

from __future__ import annotations

from firmware.parts import Beep

from .driver import DAY, Driver, prepare

FAMILY = "vitale_famille_essai"


def test_prepared_invoice_from_the_list_secured(home: Driver):
    home.key("valider")
    assert home.screen == "invoices"
    assert home.text().splitlines()[1:] == ["> ESSAI PAUL     47,32", "ESSAI MARIE    30,00"]
    home.key("valider")
    assert home.screen == "detail"
    assert home.text().splitlines() == ["ESSAI PAUL", "Soins du 10/03/2026", "3 actes, 47,32 €",
                                        "Valider: carte Vitale"]
    home.key("valider")
    assert home.screen == "insert_vitale" and "Insérer la carte" in home.text()
    home.insert("vitale", FAMILY)
    assert home.screen == "beneficiaries"
    lines = home.text().splitlines()
    # the invoice's patient pre-selected; LEA's rights are closed (marked)
    assert lines[1] == ">  PAUL ESSAI 1980"
    assert "×LEA ESSAI 2001" in lines
    home.key("valider")
    assert home.screen == "recap"
    assert home.text().splitlines()[:4] == ["ESSAI PAUL", "47,32 €", "AMO 33,12 AMC 0,00",
                                            "À régler 47,32 €"]
    home.key("valider")
    assert home.screen == "signed"
    assert home.jobs == ["unlock", "read_vitale", "choose", "sign"]
    # the recap's layout: the patient stays the title, the number where the total was
    assert home.text().splitlines() == ["ESSAI PAUL", "n° 1", "FSE signée", "À régler 47,32 €"]
    assert home.sounds[-1] == Beep.DONE
    fses = home.board.unit.store.list_fses()
    store = home.board.unit.store
    assert [(f.fse_number, f.invoice_key) for f in fses] == [(1, store.record_key("invoice", "INV-1"))]
    verified = home.board.verifier().verify(home.board.unit.store.get_fse(fses[0].fse_id))
    assert verified.mode == "secured" and verified.payload["amounts"]["total_cents"] == 4732
    assert home.ui.status.waiting == 1
    home.key("valider")  # next: the list, with the one left
    assert home.screen == "invoices"
    assert home.text().splitlines()[1:] == ["> ESSAI MARIE    30,00"]


def vitale_reads(drv: Driver) -> int:
    """Times the Vitale card was read (its timing traces)."""
    return sum(t.operation == "card.vitale.read" for t in drv.board.unit.store.traces())


def test_vitale_on_the_home_screen_finds_the_invoice_then_one_key_signs(board):
    prepare(board, invoices=DAY[:1])  # PAUL's invoice only
    home = Driver(board)
    home.wait(3)
    home.unlock()
    keys_before = len(home.sounds)
    home.insert("vitale", FAMILY)
    assert home.screen == "recap"
    assert home.ui.ctx.invoice.invoice_id == "INV-1"
    assert home.text().splitlines()[:2] == ["ESSAI PAUL", "47,32 €"]
    assert vitale_reads(home) == 1  # read once: to find the invoice, and for the visit
    home.key("valider")
    assert home.screen == "signed" and home.text().splitlines()[1] == "n° 1"
    assert home.sounds[keys_before:].count(Beep.KEY) == 1  # card in, Valider: one key
    assert home.board.unit.store.record_info("invoice", "INV-1").status == "used"
    verified = home.board.verifier().verify(home.board.unit.store.get_fse(
        home.board.unit.store.list_fses()[0].fse_id))
    assert verified.mode == "secured" and verified.payload["amounts"]["total_cents"] == 4732
    # Annuler on the signed screen discards nothing
    home.key("annuler")
    assert home.screen == "home"
    store = home.board.unit.store
    assert [f.invoice_key for f in store.list_fses()] == [store.record_key("invoice", "INV-1")]


def test_a_family_card_asks_whose_visit_it_is_then_two_keys_sign(home: Driver):
    """PAUL and MARIE are both on the family card and both have an invoice."""
    keys_before = len(home.sounds)
    home.insert("vitale", FAMILY)
    assert home.screen == "card_invoices"
    assert home.text().splitlines() == ["Factures de la carte", "> ESSAI PAUL", "ESSAI MARIE"]
    home.key("down", "valider")  # MARIE's
    assert home.screen == "recap" and home.ui.ctx.invoice.invoice_id == "INV-2"
    assert home.text().splitlines()[:2] == ["ESSAI MARIE", "30,00 €"]
    assert vitale_reads(home) == 1  # the choice did not read the card again
    home.key("annuler", "annuler")  # the beneficiaries, then the choice again
    assert home.screen == "card_invoices"
    home.key("valider")  # PAUL's this time
    assert home.screen == "recap" and home.ui.ctx.invoice.invoice_id == "INV-1"
    home.key("valider")
    assert home.screen == "signed"
    assert vitale_reads(home) == 1
    assert home.sounds[keys_before:].count(Beep.KEY) == 6  # down, valider, 2 annuler, 2 valider
    store = home.board.unit.store
    assert [f.invoice_key for f in store.list_fses()] == [store.record_key("invoice", "INV-1")]


def test_the_card_pulled_on_the_choice_goes_home(home: Driver):
    home.insert("vitale", FAMILY)
    assert home.screen == "card_invoices"
    home.pull("vitale")
    assert home.screen == "home"
    home.insert("vitale", FAMILY)  # a new card session: read again
    assert home.screen == "card_invoices" and vitale_reads(home) == 2


def test_a_card_swapped_after_the_read_is_not_signed_with(home: Driver):
    """The read kept for the visit belongs to the card that was in the slot: a
    card swapped on the recap is refused at Valider (its link is the old
    card's), nothing is signed, and the new card is read before signing."""
    home.insert("vitale", FAMILY)
    home.key("valider")
    assert home.screen == "recap"
    home.pull("vitale")
    home.insert("vitale", "vitale_corse")
    home.key("valider")
    assert home.screen == "error" and home.ui.ctx.problem.code == "card_removed"
    assert home.board.unit.store.list_fses() == []
    home.key("valider")  # read the card now in the slot
    assert home.screen == "beneficiaries" and vitale_reads(home) == 2
    assert "PAUL" not in home.text()  # the other card's people


def test_a_kept_read_from_another_card_session_is_not_reused(home: Driver):
    """``Visit.read_vitale(kept)``: the same session uses the read, a session
    ended by a removal reads the card again (the use case's own rule)."""
    term = home.terminal
    home.board.insert("vitale", FAMILY)
    read = term.read_vitale_card()
    assert vitale_reads(home) == 1
    term.start_visit("INV-1").read_vitale(kept=read)
    assert vitale_reads(home) == 1
    home.board.pull("vitale")
    term.card_removed("vitale")
    home.board.insert("vitale", "vitale_corse")
    view = term.start_visit("INV-1").read_vitale(kept=read)
    assert vitale_reads(home) == 2
    assert view.serial != read.card.serial  # the card in the slot now, not the kept one


def test_vitale_finds_the_other_beneficiarys_invoice(home: Driver):
    """INV-2 is MARIE's: the card is the family's, the invoice found is hers."""
    home.key("valider", "valider", "valider")  # sign PAUL's invoice from the list
    home.insert("vitale", FAMILY)
    home.key("valider", "valider")
    assert home.screen == "signed"
    home.key("annuler")
    home.pull("vitale")
    home.insert("vitale", FAMILY)
    assert home.screen == "recap" and home.ui.ctx.invoice.invoice_id == "INV-2"
    assert home.text().splitlines()[:2] == ["ESSAI MARIE", "30,00 €"]
    home.key("annuler")  # change the beneficiary: the list, MARIE pre-selected
    assert home.screen == "beneficiaries" and ">  MARIE ESSAI 1983" in home.text()


def test_vitale_of_a_patient_without_invoice(home: Driver):
    """No prepared invoice for anyone on this card: said so, nothing started."""
    home.insert("vitale", "vitale_corse")
    assert home.screen == "no_invoice" and "Aucune facture" in home.text()
    home.key("annuler")
    assert home.screen == "home" and home.board.unit.store.list_fses() == []
    home.pull("vitale")
    home.insert("vitale", "vitale_corse")
    home.key("valider")  # make one on the spot: the acts of the tariff
    assert home.screen == "acts"
    home.key("valider", "valider", "valider")  # G, 1, Terminer
    assert home.screen == "beneficiaries"  # the card still in its slot: read at once


def test_degraded_is_an_explicit_choice_with_the_paper_sheet(home: Driver):
    home.key("valider", "valider", "valider")
    assert home.screen == "insert_vitale"
    home.key("menu")
    assert home.screen == "no_vitale"
    assert home.text().splitlines()[1:] == ["> Mode dégradé", "Lecture gardée"]
    home.key("valider")
    assert home.screen == "degraded" and "feuille papier" in home.flat()
    home.key("annuler")
    assert home.screen == "insert_vitale"
    home.key("menu", "1", "valider")
    assert home.screen == "recap"
    assert "! Feuille papier signée à envoyer" in home.flat()
    home.key("valider")
    signed = home.ui.view()
    assert home.screen == "signed" and signed.lines[-1].text == "Faire feuille papier"
    assert signed.offset == 0  # below the four lines the screen holds: down shows it
    home.key("down")
    assert home.screen == "signed" and home.ui.view().offset == 1
    fse = home.board.unit.store.list_fses()[0]
    verified = home.board.verifier().verify(home.board.unit.store.get_fse(fse.fse_id))
    assert verified.mode == "degraded"


def test_annuler_walks_back_and_cancels_the_visit(home: Driver):
    home.key("valider", "valider", "valider")
    home.insert("vitale", FAMILY)
    assert home.screen == "beneficiaries"
    home.key("annuler", "annuler")
    assert home.screen == "detail"
    assert home.terminal.visit.state == "aborted"
    home.key("annuler", "annuler")
    assert home.screen == "home"
    assert home.board.unit.store.list_fses() == []


def test_restart_shows_the_last_fse_signed(home: Driver):
    home.insert("vitale", FAMILY)
    home.key("valider", "valider")  # PAUL's invoice, signed
    assert home.screen == "signed"
    home.restart()  # the power goes before anyone reads the screen
    assert home.screen == "start" and "Dernière FSE n° 1" in home.text()
    home.wait(0)
    home.wait(3)
    home.unlock()
    assert home.screen == "last_fse"
    assert home.text().splitlines() == ["Dernière FSE signée", "n° 1", "ESSAI PAUL",
                                        "47,32 € à 10:30"]
    home.key("valider")
    assert home.screen == "home"
