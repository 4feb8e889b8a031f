"""Supporting documents (``tla pj``, docs/pj.md): what each FSE needs (ORDN for prescribed
care, FSP in degraded mode), the file checks (opens, pages, resolution), storage in the
office database on both backends, the export's PJ status, and the purge 90 days after
transmission (dry run by default)."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from billing.conftest import SEAL
from fpdf import FPDF
from PIL import Image

from host_tools import cli, fse_export, office_lots, pj
from host_tools.arl import import_arls
from host_tools.lot_maker import make_lots
from host_tools.office_db import OfficeDb

from .helpers import NURSE, NURSE_PIN, cps_connection, import_all, nurse_fse

SIZE = (500, 700)  # pixels: small files, the resolution comes from the density


def png(path, dpi=(300, 300)):
    img = Image.new("L", SIZE, 255)
    img.save(path, "PNG", **({"dpi": dpi} if dpi else {}))
    return path


def jpeg(path, dpi):
    Image.new("RGB", SIZE, "white").save(path, "JPEG", dpi=(dpi, dpi))
    return path


def scanned_pdf(path, dpi, pages=1):
    imgs = [Image.new("L", SIZE, 255) for _ in range(pages)]
    imgs[0].save(path, "PDF", resolution=dpi, save_all=True, append_images=imgs[1:])
    return path


def vector_pdf(path):
    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=12)
    doc.cell(text="Ordonnance")
    path.write_bytes(bytes(doc.output()))
    return path


def tla(tmp_path, location, *args) -> int:
    return cli.main(["--keys", str(tmp_path / "k.json"), "pj", "--db", location, *args])


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def office(db_location, pki, tariffs):
    """F…-1 secured (needs ORDN), F…-2 degraded (needs ORDN and FSP)."""
    with OfficeDb(db_location) as db:
        import_all(db, pki, [nurse_fse(pki, tariffs, 1),
                             nurse_fse(pki, tariffs, 2, mode="degraded")])
    return db_location


def pj_status(location) -> dict:
    with OfficeDb(location) as db:
        return {r["fse_number"]: [(p["type"], p["status"]) for p in r["pj"]]
                for r in fse_export.records(db)}


def test_each_fse_lists_what_it_needs_and_missing_shows_them(tmp_path, office, capsys):
    assert pj_status(office) == {1: [("ORDN", "missing")], 2: [("ORDN", "missing"),
                                                                ("FSP", "missing")]}
    assert tla(tmp_path, office, "missing") == 0
    out, err = capsys.readouterr()
    assert [line.split()[0] + " " + line.split("missing: ")[1] for line in out.splitlines()] == [
        f"F{NURSE}-1 ORDN", f"F{NURSE}-2 ORDN FSP"]
    assert err == "2 FSE(s) waiting for a document\n"


def test_attach_a_png_a_jpeg_and_a_two_page_pdf(tmp_path, office, capsys):
    assert tla(tmp_path, office, "attach", f"F{NURSE}-1", str(png(tmp_path / "o1.png")),
               "--type", "ORDN") == 0
    assert capsys.readouterr().out == (f"F{NURSE}-1: ORDN attached (image/png, 1 page(s), "
                                       "300 dpi)\n")
    assert tla(tmp_path, office, "attach", f"F{NURSE}-2", str(jpeg(tmp_path / "o2.jpg", 240)),
               "--type", "ORDN") == 0
    pdf = scanned_pdf(tmp_path / "sheet.pdf", 300, pages=2)
    assert tla(tmp_path, office, "attach", f"F{NURSE}-2", str(pdf), "--type", "FSP") == 0
    out = capsys.readouterr().out
    assert "ORDN attached (image/jpeg, 1 page(s), 240 dpi)" in out
    assert "FSP attached (application/pdf, 2 page(s), 300 dpi)" in out
    assert pj_status(office) == {1: [("ORDN", "attached")], 2: [("ORDN", "attached"),
                                                                 ("FSP", "attached")]}
    assert tla(tmp_path, office, "missing") == 0
    assert capsys.readouterr() == ("", "0 FSE(s) waiting for a document\n")
    with OfficeDb(office) as db:
        [rec] = [r for r in fse_export.records(db) if r["fse_number"] == 2]
    import hashlib
    assert rec["pj"][1]["sha256"] == hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert (rec["pj"][1]["pages"], rec["pj"][1]["dpi"]) == (2, 300)
    # the billing software gets the very bytes back
    out_file = tmp_path / "back.pdf"
    assert tla(tmp_path, office, "get", f"F{NURSE}-2", "--type", "FSP", "-o", str(out_file)) == 0
    assert out_file.read_bytes() == pdf.read_bytes()


def test_a_text_only_pdf_has_no_resolution_to_refuse(tmp_path, office, capsys):
    assert tla(tmp_path, office, "attach", f"F{NURSE}-1", str(vector_pdf(tmp_path / "e.pdf")),
               "--type", "ORDN") == 0
    assert "(application/pdf, 1 page(s), vector)" in capsys.readouterr().out


@pytest.mark.parametrize("make, field, message", [
    (lambda p: jpeg(p / "low.jpg", 150), "resolution",
     "150 dpi, below the 200 dpi a supporting document needs: scan it again at 200 dpi or more"),
    (lambda p: scanned_pdf(p / "low.pdf", 150), "resolution",
     "150 dpi, below the 200 dpi a supporting document needs: scan it again at 200 dpi or more"),
    # 500 x 700 pixels taken for an A4 page (8.27 x 11.69 in): min(60.5, 59.9) = 59 dpi
    (lambda p: png(p / "nodpi.png", dpi=None), "resolution",
     "59 dpi (estimated for an A4 page: the file gives no resolution), below the 200 dpi a "
     "supporting document needs: scan it again at 200 dpi or more"),
    (lambda p: (p / "notes.txt").write_text("hello") and p / "notes.txt", "format",
     "not a PDF, JPEG or PNG file"),
])
def test_bad_files_exit_2_naming_file_and_field(tmp_path, office, capsys, make, field, message):
    path = make(tmp_path)
    assert tla(tmp_path, office, "attach", f"F{NURSE}-1", str(path), "--type", "ORDN") == 2
    assert one_line(capsys.readouterr().err) == f"error: {path}: {field}: {message}"
    assert pj_status(office)[1] == [("ORDN", "missing")]


def test_a_truncated_image_does_not_open(tmp_path, office, capsys):
    whole = png(tmp_path / "whole.png").read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    assert tla(tmp_path, office, "attach", f"F{NURSE}-1", str(cut), "--type", "ORDN") == 2
    assert one_line(capsys.readouterr().err).startswith(
        f"error: {cut}: file: does not open as an image: ")


def test_a_document_the_fse_does_not_need_or_has_already(tmp_path, office, capsys):
    scan = png(tmp_path / "s.png")
    assert tla(tmp_path, office, "attach", f"F{NURSE}-1", str(scan), "--type", "FSP") == 2
    assert one_line(capsys.readouterr().err) == (
        f"error: {scan}: type: FSE F{NURSE}-1 needs no FSP (it needs: ORDN)")
    assert tla(tmp_path, office, "attach", f"F{NURSE}-1", str(scan), "--type", "ORDN") == 0
    capsys.readouterr()
    again = jpeg(tmp_path / "again.jpg", 300)
    assert tla(tmp_path, office, "attach", f"F{NURSE}-1", str(again), "--type", "ORDN") == 2
    assert one_line(capsys.readouterr().err) == (
        f"error: {again}: type: FSE F{NURSE}-1 already has its ORDN (give --replace to "
        "change it)")
    assert tla(tmp_path, office, "attach", f"F{NURSE}-1", str(again), "--type", "ORDN",
               "--replace") == 0
    with OfficeDb(office) as db:
        assert pj.content(db, f"F{NURSE}-1", "ORDN") == ("again.jpg", again.read_bytes())


def test_a_list_of_documents_one_bad_attaches_nothing(tmp_path, office, capsys):
    png(tmp_path / "a.png")
    jpeg(tmp_path / "b.jpg", 300)
    jpeg(tmp_path / "c.jpg", 100)
    listing = tmp_path / "scans.csv"
    listing.write_text(f"fse,type,file\nF{NURSE}-1,ORDN,a.png\nF{NURSE}-2,ORDN,b.jpg\n"
                       f"F{NURSE}-2,FSP,c.jpg\n")
    assert tla(tmp_path, office, "attach", "--list", str(listing)) == 2
    assert one_line(capsys.readouterr().err) == (
        f"error: {listing}:4: {tmp_path / 'c.jpg'}: resolution: 100 dpi, below the 200 dpi "
        "a supporting document needs: scan it again at 200 dpi or more")
    assert pj_status(office)[1] == [("ORDN", "missing")]
    listing.write_text(f"fse,type,file\nF{NURSE}-1,ORDN,a.png\nF{NURSE}-2,ORDN,b.jpg\n")
    assert tla(tmp_path, office, "attach", "--list", str(listing)) == 0
    assert capsys.readouterr().err.endswith("2 document(s) attached\n")
    assert pj_status(office) == {1: [("ORDN", "attached")], 2: [("ORDN", "attached"),
                                                                 ("FSP", "missing")]}


def _transmit(location, tmp_path, received: datetime, status="accepted"):
    """Lot the FSEs and import the organism's ARL received at ``received``."""
    with OfficeDb(location) as db:
        office_lots.add_seal(db, "0.1.0", SEAL)
        make_lots(db, cps_connection(), lambda: NURSE_PIN, today=date(2026, 3, 12), now=1.7e9)
        arl = tmp_path / "arl.json"
        arl.write_text(json.dumps({
            "format": "opentla-arl/1", "billing_number": NURSE, "lot_number": 1,
            "organism": {"regime": "01", "caisse": "341"},
            "received_at": received.strftime("%Y-%m-%dT%H:%M:%SZ"), "status": status,
            "reason": {"code": "L1", "text": "Lot refusé"} if status == "rejected" else None}))
        import_arls(db, [arl])


def test_purge_90_days_after_transmission_dry_run_first(tmp_path, office, capsys):
    assert tla(tmp_path, office, "attach", f"F{NURSE}-1", str(png(tmp_path / "o.png")),
               "--type", "ORDN") == 0
    received = (datetime.now(UTC) - timedelta(days=120)).replace(microsecond=0)
    _transmit(office, tmp_path, received)
    at = received.timestamp()
    with OfficeDb(office) as db:  # day 89: kept; day 90: purgeable
        assert pj.purgeable(db, at + 89 * 86400) == []
        assert [r["fse_id"] for r in pj.purgeable(db, at + 90 * 86400)] == [f"F{NURSE}-1"]
    capsys.readouterr()
    assert tla(tmp_path, office, "purge") == 0  # transmitted 120 days ago
    out, err = capsys.readouterr()
    assert out.split()[:2] == [f"F{NURSE}-1", "ORDN"]
    assert f"accepted {received:%Y-%m-%d}" in out
    assert err == "1 document(s) to purge; dry run: give --apply to purge\n"
    assert pj_status(office)[1] == [("ORDN", "attached")]  # the dry run changed nothing
    assert tla(tmp_path, office, "purge", "--apply") == 0
    assert capsys.readouterr().err == "1 document(s) purged (90 days after transmission)\n"
    assert pj_status(office)[1] == [("ORDN", "purged")]
    assert tla(tmp_path, office, "get", f"F{NURSE}-1", "--type", "ORDN", "-o",
               str(tmp_path / "x")) == 2
    assert "was purged 90 days after transmission" in capsys.readouterr().err
    assert tla(tmp_path, office, "missing") == 0  # purged is not missing
    assert f"F{NURSE}-1" not in capsys.readouterr().out


def test_a_rejected_lot_keeps_its_documents(tmp_path, office):
    with OfficeDb(office) as db:
        pj.attach(db, [pj.Attach(f"F{NURSE}-1", "ORDN", pj.check_file(png(tmp_path / "o.png")))])
    received = datetime(2026, 3, 14, tzinfo=UTC)
    _transmit(office, tmp_path, received, status="rejected")
    with OfficeDb(office) as db:
        assert pj.purgeable(db, received.timestamp() + 1000 * 86400) == []


def test_pdf_resolution_is_the_image_over_the_page(tmp_path):
    """A 500 x 700 pixel scan on a 2.5 x 3.5 inch page: 200 dpi; rotation-proof."""
    buf = io.BytesIO()
    Image.new("L", (700, 500), 255).save(buf, "PDF", resolution=200)  # landscape
    path = tmp_path / "land.pdf"
    path.write_bytes(buf.getvalue())
    checked = pj.check_file(path)
    assert (checked.pages, checked.dpi, checked.media_type) == (1, 200, "application/pdf")


def test_a_sheet_sent_on_paper_is_no_longer_missing_and_keeps_no_scan(tmp_path, office, capsys):
    assert tla(tmp_path, office, "paper", f"F{NURSE}-2", "--type", "FSP") == 0
    assert capsys.readouterr().out == f"FSE F{NURSE}-2: FSP sent on paper\n"
    assert pj_status(office) == {1: [("ORDN", "missing")], 2: [("ORDN", "missing"),
                                                                ("FSP", "paper")]}
    assert tla(tmp_path, office, "missing") == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [
        f"F{NURSE}-1", f"F{NURSE}-2"]  # F-2 still waits for its prescription only
    assert tla(tmp_path, office, "get", f"F{NURSE}-2", "--type", "FSP",
               "-o", str(tmp_path / "x")) == 2
    assert "went on paper" in one_line(capsys.readouterr().err)
    assert tla(tmp_path, office, "paper", f"F{NURSE}-1", "--type", "FSP") == 2
    assert one_line(capsys.readouterr().err).endswith(
        f"FSE F{NURSE}-1 needs no FSP (it needs: ORDN)")
    assert tla(tmp_path, office, "paper", f"F{NURSE}-2", "--type", "FSP") == 2
    assert one_line(capsys.readouterr().err).endswith(f"FSE F{NURSE}-2 already has its FSP")
