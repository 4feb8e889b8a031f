"""The invoice made on the spot, the Vitale read only and the pairing code,
through the keypad. Amounts from TEST_TARIFF: V 30.00, IK 0.61 per km."""

from __future__ import annotations

from firmware.office_link.events import PairingEnded, PairingRequested
from firmware.ui.events import CardInserted

from .driver import Driver

FAMILY = "vitale_famille_essai"


def test_invoice_on_the_spot_with_km_typed_on_the_keypad(home: Driver):
    home.key("2")
    assert home.screen == "acts"
    assert home.text().splitlines() == ["Nouvelle facture", "> G Consultation", "V Visite",
                                        "MD Majoration depla…", "IK Indemnite km"]
    home.key("down", "valider")  # V
    assert home.screen == "quantity" and "Quantité à 30,00 €" in home.text()
    home.key("valider")  # 1 visit
    assert home.screen == "acts" and home.text().splitlines()[1] == "> Terminer (1 acte)"
    home.key("up", "valider")  # IK, the last line
    assert home.text().splitlines()[1] == "Kilomètres à 0,61 €"
    home.digits("23")
    home.key("menu")
    home.digits("5")
    assert home.text().splitlines()[2] == "23,5"
    home.key("valider")
    home.key("valider")  # Terminer (2 actes)
    assert home.screen == "insert_vitale"
    home.insert("vitale", FAMILY)
    home.key("down", "valider")  # MARIE
    assert home.screen == "recap"
    # IK 23.5 x 0.61 = 14.335 -> 14,34 ; total 44,34
    assert home.text().splitlines()[:2] == ["ESSAI MARIE", "44,34 €"]
    home.key("valider")
    assert home.screen == "signed"
    fse = home.board.unit.store.list_fses()[0]
    payload = home.board.verifier().verify(home.board.unit.store.get_fse(fse.fse_id)).payload
    assert [(line["code"], line.get("km")) for line in payload["invoice"]["lines"]] == [
        ("V", None), ("IK", "23.5")]
    assert fse.invoice_key is None  # no prepared invoice used


def test_corriger_and_annuler_while_keying_an_act(home: Driver):
    home.key("2", "valider")  # G
    home.digits("12")
    home.key("corriger")
    assert home.text().splitlines()[2] == "1"
    home.key("annuler")
    assert home.screen == "acts" and "Terminer" not in home.text()
    home.key("annuler")
    assert home.screen == "home"


def test_vitale_read_only_is_kept_for_the_office(home: Driver):
    home.key("3")
    assert home.screen == "read_only"
    home.insert("vitale", FAMILY)
    assert home.text().splitlines()[:3] == ["Lecture gardée", "5 bénéficiaires", "PAUL ESSAI"]
    assert len(home.terminal.vitale_reads()) == 1
    home.key("valider")
    assert home.screen == "home"


def test_vitale_read_only_of_an_opposed_card_keeps_nothing(home: Driver):
    home.board.load_opposition(b'{"serials": ["9100000001"]}')
    home.key("3")
    home.insert("vitale", FAMILY)
    assert home.screen == "error" and home.ui.ctx.problem.code == "vitale_opposed"
    assert home.terminal.vitale_reads() == []
    home.key("valider")
    assert home.screen == "home"


def test_pairing_code_confirmed_with_valider_from_any_screen(drv: Driver):
    drv.key("valider")
    assert drv.screen == "lock"
    drv.feed(PairingRequested("482913", "Cabinet Essai"))
    assert drv.screen == "pairing" and "Code 482913" in drv.text()
    drv.key("valider")
    assert drv.pairing_answers == [True] and drv.screen == "lock"


def test_pairing_refused_with_annuler(home: Driver):
    home.feed(PairingRequested("111222", "Portable inconnu"))
    home.key("annuler")
    assert home.pairing_answers == [False] and home.screen == "home"


def test_pairing_that_ends_by_itself(home: Driver):
    home.feed(PairingRequested("111222", "Portable"))
    home.feed(PairingEnded("expired"))
    assert home.screen == "home" and home.text().splitlines()[0] == "Appairage expiré"


def test_pairing_request_waits_for_a_signature_in_progress(home: Driver):
    home.insert("vitale", FAMILY)
    home.key("valider")  # PAUL's invoice
    assert home.screen == "recap"

    def during(job: str) -> None:
        if job == "sign":
            assert home.ui.handle(PairingRequested("333444", "Cabinet")) == []
    home.on_job = during
    home.key("valider")
    assert home.screen == "pairing"  # shown once "signée" is committed
    assert home.board.unit.store.list_fses()[0].fse_number == 1
    home.key("annuler")
    assert home.screen == "signed"


def test_a_vitale_inserted_on_a_locked_unit_does_nothing(drv: Driver):
    drv.key("valider")
    drv.feed(CardInserted("vitale"))
    assert drv.screen == "lock" and drv.jobs == []


def test_sesam_sans_vitale_on_a_kept_read(board):
    """The nurse read the card at the first visit; the rental invoice, prepared
    for PAUL, is billed on that read (CPS only, the read's date in the FSE)."""
    from visit.simboard import NURSE_BN, PAUL, PRESCRIPTION, invoice

    from .driver import prepare

    prepare(board, cps="cps_infirmier", invoices=[invoice(
        "INV-L", NURSE_BN, "60", patient=PAUL, prescription=PRESCRIPTION,
        lines=[{"code": "LOC"}])])
    drv = Driver(board)
    drv.key("valider")
    drv.unlock("cps_infirmier")
    drv.key("3")
    drv.insert("vitale", FAMILY)  # read only: kept
    drv.key("valider")
    drv.pull("vitale")
    drv.key("1", "valider", "valider")  # the list, LOC for PAUL, "Insérer la carte Vitale"
    drv.key("menu", "2")
    assert drv.screen == "kept_reads"
    assert drv.text().splitlines()[1] == "> ESSAI PAUL     10/03"
    drv.key("valider")
    assert drv.screen == "recap"
    assert drv.text().splitlines()[:2] == ["ESSAI PAUL", "12,50 €"]  # LOC 12.50
    drv.key("valider")
    assert drv.screen == "signed"
    fse = board.unit.store.list_fses()[0]
    v = board.verifier().verify(board.unit.store.get_fse(fse.fse_id))
    assert v.mode == "sans_vitale" and v.payload["vitale"]["read_on"] == "2026-03-10"


def test_sans_vitale_refused_for_care_acts(home: Driver):
    """PAUL's invoice is a visit (V, MD, IK), not a rental: the checks refuse it."""
    home.key("3")
    home.insert("vitale", FAMILY)
    home.key("valider")
    home.pull("vitale")
    home.key("1", "valider", "valider", "menu", "2", "valider")
    assert home.screen == "report"
    assert "× Acte hors location: Vitale requise" in home.flat()


def test_a_prescribed_act_on_the_spot_asks_for_the_prescription(board):
    """The nurse's AMI needs a prescription (the checks block without one): the
    prescriber's number and the date are typed on the keypad, into the FSE.
    AMI 2 x 3.15 + IFD 2.75 = 9,05 €."""
    from .driver import prepare

    prepare(board, cps="cps_infirmier")
    drv = Driver(board)
    drv.key("valider")
    drv.unlock("cps_infirmier")
    drv.key("2")
    assert drv.text().splitlines()[1:3] == ["> AMI Acte infirmier", "IFD Deplacement"]
    drv.key("valider", "2", "valider")  # AMI 2
    drv.key("down", "down", "valider", "valider")  # IFD
    drv.key("valider")  # Terminer (2 actes)
    assert drv.screen == "prescription"
    assert drv.text().splitlines() == ["Prescription", "Prescripteur n°", "_", "Valider: suite"]
    drv.digits("1000123456")
    drv.key("valider")  # 10 digits: neither RPPS nor AM
    assert drv.screen == "prescription" and drv.text().splitlines()[-1] == "11 ou 9 chiffres"
    drv.digits("7")
    drv.key("valider")
    assert drv.text().splitlines()[1:3] == ["Date JJMMAAAA", "_"]
    drv.digits("31022026")  # no 31 February
    drv.key("valider")
    assert drv.screen == "prescription" and drv.text().splitlines()[-1] == "Date invalide"
    drv.key(*["corriger"] * 6)
    drv.digits("032026")  # 31/03/2026: after the care, refused by the checks later
    assert drv.text().splitlines()[2] == "31/03/2026"
    drv.key(*["corriger"] * 8)
    drv.digits("03032026")
    assert drv.text().splitlines()[2] == "03/03/2026"
    drv.key("valider")
    assert drv.screen == "insert_vitale"
    drv.insert("vitale", FAMILY)
    drv.key("valider")  # PAUL, the first on the card
    assert drv.screen == "recap" and drv.text().splitlines()[:2] == ["ESSAI PAUL", "9,05 €"]
    drv.key("valider")
    assert drv.screen == "signed"
    fse = board.unit.store.list_fses()[0]
    payload = board.verifier().verify(board.unit.store.get_fse(fse.fse_id)).payload
    assert payload["invoice"]["prescription"]["prescriber_id"] == "10001234567"
    assert payload["invoice"]["prescription"]["date"] == "2026-03-03"


def test_annuler_on_the_prescription_goes_back_to_the_acts(board):
    from .driver import prepare

    prepare(board, cps="cps_infirmier")
    drv = Driver(board)
    drv.key("valider")
    drv.unlock("cps_infirmier")
    drv.key("2", "valider", "valider", "valider")  # AMI 1, Terminer
    assert drv.screen == "prescription"
    drv.key("annuler")
    assert drv.screen == "acts" and drv.text().splitlines()[1] == "> Terminer (1 acte)"
