"""``tla duplicata``: the PDF states DUPLICATA, the reason, the FSE and lot numbers, the
professional, the patient, the acts and amounts (hand-computed: AMI 1.5 = 4,73 €,
IFD 2,75 €, AMO 60 % 2,84 + 1,65 €) and who it goes to and signs it; read back with
pypdf, the page rendered by pdftoppm (poppler-utils)."""

from __future__ import annotations

import json
import subprocess

import pytest
from billing.conftest import SEAL
from PIL import Image
from pypdf import PdfReader

from host_tools import cli, office_lots
from host_tools.lot_maker import make_lots
from host_tools.office_db import OfficeDb

from .helpers import NURSE, NURSE_PIN, cps_connection, import_all, nurse_fse


@pytest.fixture
def office(tmp_path, pki, tariffs):
    """FSE 1 (no tiers payant) and FSE 2 (AMO+AMC, the card's AMC) in lot 1; FSE 3 in no lot."""
    path = tmp_path / "office.db"
    with OfficeDb(path) as db:
        ids = import_all(db, pki, [nurse_fse(pki, tariffs, 1),
                                   nurse_fse(pki, tariffs, 2, tiers_payant="amo_amc")])
        office_lots.add_seal(db, "0.1.0", SEAL)
        from datetime import date
        make_lots(db, cps_connection(), lambda: NURSE_PIN, today=date(2026, 3, 12), now=1.7e9)
        ids += import_all(db, pki, [nurse_fse(pki, tariffs, 3)])
    return path, ids


def tla(tmp_path, office, *args) -> int:
    return cli.main(["--keys", str(tmp_path / "keys.json"), "duplicata", "--db", str(office),
                     *args])


def text_of(pdf) -> str:
    reader = PdfReader(pdf)
    assert len(reader.pages) == 1
    return " ".join(reader.pages[0].extract_text().split())


def test_duplicata_without_tiers_payant_goes_to_the_patient(tmp_path, office, capsys):
    path, ids = office
    out = tmp_path / "d1.pdf"
    assert tla(tmp_path, path, ids[0], "--reason", "transmission_failed", "-o", str(out)) == 0
    assert capsys.readouterr().out == (
        f"{out}: duplicata of FSE 1 ({NURSE}), lot 1, for the patient\n")
    text = text_of(out)
    for expected in ["DUPLICATA", "Motif : Échec de télétransmission de la FSE",
                     "FSE n° 1 — lot n° 1", "Professionnel : MARTIN CLAIRE",
                     f"N° de facturation : {NURSE}", "Patient : DUPONT JEAN",
                     "NIR : 1800175123456 42", "régime 01, caisse 341, centre 0000",
                     "Date des soins : 10/03/2026", "AMI SAMPLE Acte medico-infirmier 4,73 € 2,84 €",
                     "IFD", "2,75 € 1,65 €", "Total 7,48 € 4,49 € 0,00 €",
                     "Part restant à la charge du patient 2,99 €",
                     "à remettre au patient", "Signé par : le professionnel de santé",
                     "Signature du professionnel de santé"]:
        assert expected in text, expected
    assert "Signature de l'assuré" not in text


def test_duplicata_with_tiers_payant_goes_to_the_caisse_signed_by_both(tmp_path, office):
    path, ids = office
    out = tmp_path / "d2.pdf"
    assert tla(tmp_path, path, ids[1], "--reason", "pj_transmission_failed", "-o", str(out)) == 0
    text = text_of(out)
    for expected in ["Échec de transmission des pièces justificatives", "FSE n° 2 — lot n° 1",
                     "Complémentaire : AMC 99999991, contrat TP",
                     "Total 7,48 € 4,49 € 2,99 €", "Part restant à la charge du patient 0,00 €",
                     "à adresser à la caisse d'assurance maladie (01/341/0000)",
                     "Signé par : le professionnel de santé et l'assuré (ou le patient)",
                     "Signature de l'assuré"]:
        assert expected in text, expected


def test_no_lot_and_default_file_name(tmp_path, office, monkeypatch):
    path, ids = office
    monkeypatch.chdir(tmp_path)
    assert tla(tmp_path, path, ids[2], "--reason", "transmission_failed") == 0
    assert "FSE n° 3 — lot non constitué" in text_of(tmp_path / f"duplicata-{NURSE}-3.pdf")


def test_lot_rejected_needs_a_negative_arl(tmp_path, office, capsys):
    path, ids = office
    assert tla(tmp_path, path, ids[0], "--reason", "lot_rejected") == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --reason lot_rejected: FSE {ids[0]} is in_lot in lot {NURSE}/1, not rejected "
        "by an ARL")
    arl = tmp_path / "arl.json"
    arl.write_text(json.dumps({
        "format": "opentla-arl/1", "billing_number": NURSE, "lot_number": 1,
        "organism": {"regime": "01", "caisse": "341"}, "received_at": "2026-03-14T08:00:00Z",
        "status": "rejected", "reason": {"code": "L07", "text": "Lot illisible"}}))
    assert cli.main(["--keys", str(tmp_path / "k.json"), "arl", "--db", str(path), "import",
                     str(arl)]) == 0
    out = tmp_path / "d.pdf"
    assert tla(tmp_path, path, ids[0], "--reason", "lot_rejected", "-o", str(out)) == 0
    assert "Lot rejeté par l'organisme (ARL négatif)" in text_of(out)


def test_unknown_fse_and_bad_reason_exit_2(tmp_path, office, capsys):
    path, _ = office
    assert tla(tmp_path, path, "nope", "--reason", "transmission_failed") == 2
    assert capsys.readouterr().err.strip() == "error: no imported FSE nope"
    with pytest.raises(SystemExit) as info:
        tla(tmp_path, path, "nope", "--reason", "bored")
    assert info.value.code == 2 and "argument --reason: invalid choice: 'bored'" in \
        capsys.readouterr().err


def test_the_page_renders(tmp_path, office):
    """pdftoppm (poppler) rasterises the page: A4 at 50 dpi, with ink on it."""
    path, ids = office
    out = tmp_path / "d.pdf"
    assert tla(tmp_path, path, ids[1], "--reason", "transmission_failed", "-o", str(out)) == 0
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-singlefile", str(out),
                    str(tmp_path / "page")], check=True, timeout=60)
    with Image.open(tmp_path / "page.png") as img:
        assert img.size == (414, 585)  # 210 x 297 mm at 50 dpi: 413.4 x 584.6, rounded up
        dark = img.convert("L").point(lambda p: 255 if p < 128 else 0).histogram()[255]
    assert dark > 2000  # text and table lines, not a blank page
