"""`tla-unit demo` end to end, in-process: the office database holds exactly the
FSEs of the day, with amounts computed here by hand from host_tools/samples and
the sample tariff (firmware/billing/data/sample_tariffs.json, profession 60:
AMI 3.15, AIS 2.65, IFD 2.75, IK 0.35/km, AMO 60 %; each product rounded
half-up to the cent, docs/billing.md), and a later unload imports nothing more."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives.serialization import Encoding
from PIL import Image

from board.main import main as unit_main
from board.sim.pki import TestPki
from board.sim.unit import SimUnit
from host_tools.cli import main as tla
from host_tools.demo import SAMPLES, run_day, run_demo
from host_tools.office_db import OfficeDb

NURSE_BN = "699999025"

# (number, mode, patient, acts, total, AMO, patient part), in cents
EXPECTED = [
    # AMI 2 x 3.15 = 6.30 ; IFD 2.75 -> 9.05 ; AMO 3.78 + 1.65 = 5.43
    (1, "secured", "ESSAI PAUL", "AMI 2 + IFD", 905, 543, 362),
    # AIS 3 x 2.65 = 7.95 ; IFD 2.75 ; IK 4 x 0.35 = 1.40 -> 12.10
    # AMO 4.77 + 1.65 + 0.84 = 7.26
    (2, "secured", "ESSAI EMMA", "AIS 3 + IFD + IK 4 km", 1210, 726, 484),
    # AMI 1.5 x 3.15 = 4.725 -> 4.73 ; IFD 2.75 -> 7.48
    # AMO round(473 x 0.6 = 283.8) = 2.84 + 1.65 = 4.49
    (3, "degraded", "ESSAI LUCAS", "AMI 1.5 + IFD", 748, 449, 299),
    # on the spot: AMI 1 x 3.15 ; IFD 2.75 -> 5.90 ; AMO 1.89 + 1.65 = 3.54
    (4, "secured", "ESSAI PAUL", "AMI 1 + IFD", 590, 354, 236),
]


def _rows(db: Path) -> list[dict]:
    with OfficeDb(db) as office:
        return sorted(office.fses(), key=lambda r: r["fse_number"])


def test_the_day_imports_exactly_the_expected_fses(tmp_path):
    lines: list[str] = []
    result = run_day(tmp_path, lines.append)
    rows = _rows(result.office_db)
    assert [(r["fse_number"], r["mode"], r["patient_name"], r["total_cents"], r["amo_cents"],
             r["patient_cents"]) for r in rows] == [
        (n, mode, who, total, amo, part) for n, mode, who, _, total, amo, part in EXPECTED]
    assert {r["billing_number"] for r in rows} == {NURSE_BN}
    assert {r["date_of_care"] for r in rows} == {"2026-03-10"}
    assert all(r["acked_at"] for r in rows)
    assert [r["acts"] for r in result.rows] == [e[3] for e in EXPECTED]
    assert {r["fse_id"]: r["mode"] for r in rows} == result.signed
    # the prepared invoices of the sample file were the ones signed (ids in the payloads)
    prepared = [i["invoice_id"] for i in
                json.loads((SAMPLES / "invoices.json").read_text())["invoices"]]
    with OfficeDb(result.office_db) as office:
        reads = office.vitale_reads()
        payloads = [cbor2.loads(cbor2.loads(office.fse(r["import_id"])[1]).value[2])
                    for r in rows]
    invoice_ids = [p["invoice"]["invoice_id"] for p in payloads]
    assert invoice_ids[:3] == prepared and invoice_ids[3].startswith("spot-")
    assert [p["vitale"] is None for p in payloads] == [False, False, True, False]
    assert [r["read_id"] for r in reads] == result.vitale_reads
    assert re.fullmatch(r"VR-[0-9a-f]{16}", result.vitale_reads[0])  # opaque: no card serial
    # the demo's own second unload found nothing new
    again = [line for line in lines if line.startswith("8. Unload again")]
    assert again and "0 FSEs imported, 0 already imported" in again[0]


def test_the_round_runs_on_the_keypad_and_leaves_its_screens(tmp_path):
    """The round is key presses and cards on the unit's screen: its screens of the
    day (PNG) and the GIF are left in the state directory, and show the day."""
    lines: list[str] = []
    result = run_day(tmp_path, lines.append)
    names = [p.name for p in result.screens]
    assert names[:5] == ["01-pin.png", "02-home.png", "03-card_invoices.png", "04-recap.png",
                         "05-signed.png"]
    assert [n.split("-", 1)[1] for n in names].count("signed.png") == 4  # four FSEs
    assert all(p.parent == tmp_path / "screens" for p in result.screens)
    for path in result.screens:
        image = Image.open(path)
        assert (image.size, image.mode) == ((128, 64), "1")
        assert image.getbbox() is not None  # something drawn
    assert len({p.read_bytes() for p in result.screens}) == len(result.screens)
    gif = Image.open(result.gif)
    assert result.gif == tmp_path / "day.gif" and gif.size == (384, 192)
    assert gif.n_frames >= 40  # every distinct frame of the round
    assert result.gif.stat().st_size < 500_000
    assert any(f"the day as a GIF ({gif.n_frames} frames): {result.gif}" in line
               for line in lines)
    # the signed screens show the FSE numbers in order (the big face: n° 1 ... n° 4)
    signed = [p for p in result.screens if p.name.endswith("-signed.png")]
    assert len({p.read_bytes() for p in signed}) == 4


def test_a_state_with_a_previous_day_is_refused(tmp_path):
    (tmp_path / "unit").mkdir()
    (tmp_path / "unit" / "unit.db").write_bytes(b"")
    lines: list[str] = []
    assert run_demo(lines.append, state=tmp_path) == 1
    assert "holds a previous day's unit" in lines[-1]


def test_unload_after_a_restart_imports_nothing_more(tmp_path):
    result = run_day(tmp_path, lambda line: None)
    before = _rows(result.office_db)
    pki = TestPki.create()
    pem = tmp_path / "cas.pem"
    pem.write_bytes(b"".join(c.public_bytes(Encoding.PEM)
                             for c in (pki.root, pki.cps_ca, pki.vitale_ca)))
    with SimUnit(tmp_path / "unit", pki=pki) as sim:  # the same unit, started again
        sim.insert("ps", "cps_infirmier")
        sim.terminal_call(lambda t: t.unlock("4321"))
        statuses = sim.call(lambda: {f.fse_id: f.status for f in sim.unit.store.list_fses()})
        assert statuses == {fse_id: "imported" for fse_id in result.signed}
        rc = tla(["--keys", str(tmp_path / "office" / "host_keys.json"), "--timeout", "10",
                  "unload", "--port", sim.path, "--db", str(result.office_db),
                  "--trust", str(pem)])
    assert rc == 0
    after = _rows(result.office_db)
    assert [r["import_id"] for r in after] == [r["import_id"] for r in before]
    assert len(after) == 4


def test_tla_unit_demo_prints_the_table_and_exits_0(tmp_path, capsys):
    assert unit_main(["demo", "--state", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert "4 FSEs imported, 0 already imported, 4 acknowledged, 1 Vitale reads imported" in text
    table = lines[lines.index("10. FSEs imported into the office database:") + 3:][:4]
    for row, (n, mode, who, acts, total, amo, part) in zip(table, EXPECTED, strict=True):
        cells = row.split()
        assert cells[0] == str(n) and cells[1] == mode and who in row and acts in row
        assert f"{total // 100},{total % 100:02d} EUR" in row
        assert f"{amo // 100},{amo % 100:02d} EUR" in row
        assert row.endswith(f"{part // 100},{part % 100:02d} EUR")
    assert "4 FSEs, 34,53 EUR in all" in text  # 9.05 + 12.10 + 7.48 + 5.90


def test_the_card_link_demo_is_still_there_as_tla_unit_cards(capsys):
    assert unit_main(["cards"]) == 0
    out = capsys.readouterr().out
    assert "slot vitale" in out and "slot ps" in out
    assert "PPS accepted: T=1 Fi=372 Di=12" in out  # CPS4: TA1=18, T=1


def test_run_demo_reports_a_failure_with_exit_1(tmp_path, monkeypatch):
    import host_tools.demo as demo

    monkeypatch.setattr(demo, "CPS_PIN", "0000")  # the nurse mistypes the PIN
    lines: list[str] = []
    assert run_demo(lines.append, state=tmp_path) == 1
    assert lines[-1].startswith("DEMO FAILED") and "pin" in lines[-1].lower()


def test_the_readme_shows_the_days_gif():
    """README's GIF is the demo's (`make demo-gif`): the round's frames, enlarged
    3x, small enough for a README."""
    root = Path(__file__).resolve().parents[2]
    assert "![The round on the unit's screen](docs/screens/day.gif)" in (
        root / "README.md").read_text(encoding="utf-8")
    gif = root / "docs" / "screens" / "day.gif"
    image = Image.open(gif)
    assert (image.format, image.size) == ("GIF", (384, 192)) and image.n_frames >= 40
    assert gif.stat().st_size < 500_000
    image.seek(0)
    assert image.convert("1").getbbox() is not None  # the lock screen, drawn
