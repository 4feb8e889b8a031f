"""``tla report``: the pilot review report's tables hold the figures computed by hand
from a small fixture (nearest-rank percentiles, error rates, mode and PJ shares per
unit and per professional, the period's edges), its charts are PNG images embedded
in the one HTML file, the CSV is the raw trace table, and headless Chromium renders
the page to something that is not blank."""

from __future__ import annotations

import base64
import csv
import io
import os
import shutil
import subprocess
import tempfile
from datetime import UTC, date, datetime

import numpy as np
import pytest
from billing.conftest import pki, tariffs  # noqa: F401 - fixtures shared with tests/billing
from billing.fse_helpers import verifier
from hypothesis import given
from hypothesis import strategies as st
from office.helpers import DOCTOR, NURSE, nurse_fse
from PIL import Image

from host_tools import report_data
from host_tools.cli import main as tla
from host_tools.cmd_report import generate
from host_tools.office_db import OfficeDb

from .report_page import Page

FIRST, LAST = date(2026, 3, 9), date(2026, 3, 10)
S = datetime(2026, 3, 9, tzinfo=UTC).timestamp()  # the period: [S, S + 2 days)
E = S + 2 * 86400
NB = "\u00a0"  # the no-break space before % in French
# unit A: card.vitale.read x10 on day 1 (2 card_absent), visit.sign x20 on day 2 (one
# cancelled); unit B: visit.sign 3.0 s at the very first second, 5.0 s pin_wrong, and
# one trace just before and one just after the period (not counted)
VITALE = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.4, 0.8, 0.6, 1.0]
ROWS_A = [(i + 1, S + 3600 * i, "card.vitale.read", d, "card_absent" if i in (1, 4) else "ok")
          for i, d in enumerate(VITALE)]
ROWS_A += [(10 + k, S + 86400 + k, "visit.sign", k / 10, "cancelled" if k == 7 else "ok")
           for k in range(1, 21)]
ROWS_B = [(1, S - 1, "visit.sign", 9.0, "ok"), (2, S, "visit.sign", 3.0, "ok"),
          (3, S + 20, "visit.sign", 5.0, "pin_wrong"), (4, E, "visit.sign", 9.0, "ok")]
# FSEs (all signed 2026-03-10 09:30 UTC, all prescribed care: each needs ORDN; the
# degraded ones the paper sheet FSP too): unit A: nurse 1, 2 secured, 3 degraded;
# unit B: nurse 4 secured, doctor 1 degraded, doctor 2 and 3 secured
FSES = [("TLA-A", NURSE, 1, "secured"), ("TLA-A", NURSE, 2, "secured"),
        ("TLA-A", NURSE, 3, "degraded"), ("TLA-B", NURSE, 4, "secured"),
        ("TLA-B", DOCTOR, 1, "degraded"), ("TLA-B", DOCTOR, 2, "secured"),
        ("TLA-B", DOCTOR, 3, "secured")]


@pytest.fixture(scope="module")
def office(tmp_path_factory, pki, tariffs):  # noqa: F811 - the shared fixtures
    keys = pki, tariffs
    path = tmp_path_factory.mktemp("report") / "office.db"
    ver = verifier(keys[0], seals=None)
    with OfficeDb(path) as db:
        db.import_traces("TLA-A", ROWS_A)
        db.import_traces("TLA-B", ROWS_B)
        for unit, billing, number, mode in FSES:
            fse = nurse_fse(*keys, number, billing=billing, mode=mode)
            v = ver.verify(fse.encoded)
            db.import_fse(unit, f"F{billing}-{number}", fse.encoded, v.payload, v.seal)
    return path


@pytest.fixture(scope="module")
def page(office, tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    with OfficeDb(office) as db:
        written = generate(db, FIRST, LAST, html=out / "r.html", csv_path=out / "r.csv",
                           now=datetime(2026, 3, 16, 8, 0, tzinfo=UTC))
    return written, out, Page((out / "r.html").read_text(encoding="utf-8"))


def body(page: Page, table: str) -> list[list[str]]:
    return page.tables[table][1:]


def test_operation_table_has_the_hand_computed_percentiles(page):
    _, _, html = page
    assert html.tables["operations"][0] == ["Opération", "Nombre", "Erreurs", "Taux d'erreur",
                                            "p50 (ms)", "p95 (ms)", "p99 (ms)", "max (ms)"]
    # card.vitale.read: sorted 0.1 .. 1.0; p50 rank ceil(5) = 5 -> 0.5 s; p95 rank
    # ceil(9.5) = 10 -> 1.0 s; p99 rank 10. visit.sign (22 in the period): 0.1 .. 2.0,
    # 3.0, 5.0; p50 rank 11 -> 1.1 s; p95 rank ceil(20.9) = 21 -> 3.0 s; p99 rank
    # ceil(21.78) = 22 -> 5.0 s; 2 errors of 22 = 9.1 %. The traces at S - 1 and at E
    # (9 s each) are outside the period.
    assert body(html, "operations") == [
        ["card.vitale.read", "10", "2", f"20,0{NB}%", "500,0", "1000,0", "1000,0", "1000,0"],
        ["visit.sign", "22", "2", f"9,1{NB}%", "1100,0", "3000,0", "5000,0", "5000,0"]]


def test_per_unit_table_and_error_codes(page):
    _, _, html = page
    # unit A visit.sign: 0.1 .. 2.0 s; p50 rank 10 -> 1.0; p95 rank 19 -> 1.9; p99 rank 20
    # unit B visit.sign: 3.0, 5.0; p50 rank 1 -> 3.0; p95 rank 2 -> 5.0
    assert body(html, "by-unit") == [
        ["TLA-A", "card.vitale.read", "10", "2", f"20,0{NB}%", "500,0", "1000,0", "1000,0",
         "1000,0"],
        ["TLA-A", "visit.sign", "20", "1", f"5,0{NB}%", "1000,0", "1900,0", "2000,0", "2000,0"],
        ["TLA-B", "visit.sign", "2", "1", f"50,0{NB}%", "3000,0", "5000,0", "5000,0",
         "5000,0"]]
    # 1 of 22 visit.sign = 4.5 %
    assert body(html, "outcomes") == [
        ["card.vitale.read", "card_absent", "2", f"20,0{NB}%"],
        ["visit.sign", "cancelled", "1", f"4,5{NB}%"],
        ["visit.sign", "pin_wrong", "1", f"4,5{NB}%"]]


def test_mode_shares_overall_per_unit_and_per_professional(page):
    _, _, html = page
    assert html.tables["modes-all"][0] == ["Périmètre", "FSE", "Sécurisées", "Dégradées",
                                           "Part sécurisées", "Part dégradées"]
    # 7 FSEs, 5 secured (71.4 %), 2 degraded (28.6 %)
    assert body(html, "modes-all") == [["Ensemble", "7", "5", "2", f"71,4{NB}%", f"28,6{NB}%"]]
    assert body(html, "modes-unit") == [["TLA-A", "3", "2", "1", f"66,7{NB}%", f"33,3{NB}%"],
                                        ["TLA-B", "4", "3", "1", f"75,0{NB}%", f"25,0{NB}%"]]
    assert body(html, "modes-professional") == [  # DOCTOR 759999014 sorts after 699999025
        [NURSE, "4", "3", "1", f"75,0{NB}%", f"25,0{NB}%"],
        [DOCTOR, "3", "2", "1", f"66,7{NB}%", f"33,3{NB}%"]]


def test_pj_shares_count_what_the_fses_need(page):
    _, _, html = page
    # 7 prescriptions + 2 paper sheets, none attached yet: 9 missing
    zero = f"0,0{NB}%"
    assert body(html, "pj-all") == [["Ensemble", "9", "0", "0", "9", zero, zero, f"100,0{NB}%"]]
    assert [r[:5] for r in body(html, "pj-unit")] == [["TLA-A", "4", "0", "0", "4"],
                                                      ["TLA-B", "5", "0", "0", "5"]]
    assert [r[:5] for r in body(html, "pj-professional")] == [[NURSE, "5", "0", "0", "5"],
                                                              [DOCTOR, "4", "0", "0", "4"]]
    assert [r[:5] for r in body(html, "pj-type")] == [
        ["FSP (feuille de soins papier signée)", "2", "0", "0", "2"],
        ["ORDN (ordonnance)", "7", "0", "0", "7"]]


def test_summary_counts(page):
    written, _, html = page
    summary = dict(body(html, "summary-fse") + body(html, "summary-traces"))
    assert summary["FSE signées"] == "7" and summary["Unités"] == "2"
    assert summary["Opérations mesurées"] == "32" and summary["Opérations en erreur"] == "4"
    assert summary["Pièces justificatives requises"] == "9"
    assert (written.traces, written.fses, written.pj, written.csv_rows) == (32, 7, 9, 32)


def test_the_file_stands_alone_and_its_images_are_png(page):
    _, out, html = page
    assert html.outside == [] and html.scripts == 0
    # 2 histograms (one per operation), the error rates, the mode and the PJ shares
    assert len(html.images) == 5
    for src in html.images:
        prefix, data = src.split(",", 1)
        assert prefix == "data:image/png;base64"
        raw = base64.b64decode(data, validate=True)
        assert raw.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(raw)) as im:
            im.verify()
            assert im.format == "PNG" and im.width > 300
    text = (out / "r.html").read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in text and "Période du 09/03/2026 au 10/03/2026" in text


def test_csv_is_the_raw_trace_table(page):
    _, out, _ = page
    rows = list(csv.DictReader(io.StringIO((out / "r.csv").read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["unit_id", "trace_id", "at_utc", "at", "operation", "duration_ms",
                             "outcome"]
    assert len(rows) == 32
    first_b = next(r for r in rows if r["unit_id"] == "TLA-B")
    assert first_b == {"unit_id": "TLA-B", "trace_id": "2", "at_utc": "2026-03-09T00:00:00.000000Z",
                       "at": f"{S:.3f}", "operation": "visit.sign", "duration_ms": "3000.000",
                       "outcome": "ok"}


def test_another_period_and_an_empty_one(office, tmp_path):
    with OfficeDb(office) as db:
        data = report_data.read(db, report_data.Period(date(2026, 3, 10), date(2026, 3, 10)))
        assert len(data.traces) == 20 and len(data.fses) == 7  # day 2 only
        written = generate(db, date(2026, 4, 1), date(2026, 4, 2), html=tmp_path / "e.html")
    assert (written.traces, written.fses, written.pj) == (0, 0, 0)
    html = Page((tmp_path / "e.html").read_text(encoding="utf-8"))
    assert "Aucune trace sur la période." in (tmp_path / "e.html").read_text(encoding="utf-8")
    assert html.images == [] and "operations" not in html.tables


def test_cli_writes_both_files_and_refuses_bad_periods(office, tmp_path, capsys):
    keys = ["--keys", str(tmp_path / "k.json")]
    base = [*keys, "report", "--db", str(office)]
    assert tla([*base, "--from", "2026-03-09", "--to", "2026-03-10", "--html",
                str(tmp_path / "a.html"), "--csv", str(tmp_path / "a.csv")]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == [f"{tmp_path / 'a.html'}: report",
                                    f"{tmp_path / 'a.csv'}: 32 trace rows"]
    assert "32 traces, 7 FSEs, 9 supporting documents needed" in out.err
    assert tla([*base, "--from", "2026-03-10", "--to", "2026-03-09", "--html",
                str(tmp_path / "b.html")]) == 2
    assert "ends (2026-03-09) before it starts (2026-03-10)" in capsys.readouterr().err
    assert not (tmp_path / "b.html").exists()
    assert tla([*base, "--from", "2026-03-09", "--to", "2026-03-10"]) == 2
    assert "--html FILE and/or --csv FILE" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        tla([*base, "--from", "09/03/2026", "--to", "2026-03-10", "--csv", "x.csv"])
    assert exited.value.code == 2
    assert "not a date YYYY-MM-DD: '09/03/2026'" in capsys.readouterr().err
    assert tla([*keys, "report", "--db", str(tmp_path / "none.db"), "--from", "2026-03-09",
                "--to", "2026-03-10", "--csv", str(tmp_path / "c.csv")]) == 2
    assert "no office database" in capsys.readouterr().err


@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=60))
def test_percentiles_match_numpy_inverted_cdf(values):
    """The report's percentiles are numpy's ``inverted_cdf`` (Hyndman & Fan 1)."""
    traces = [report_data.Trace("U", i, 0.0, "op", v, "ok") for i, v in enumerate(values)]
    (stats,) = report_data.operation_stats(traces)
    expected = np.percentile(np.array(values), [50, 95, 99], method="inverted_cdf")
    assert [stats.p50_s, stats.p95_s, stats.p99_s] == list(expected)


def test_headless_chromium_renders_a_page_that_is_not_blank(page, tmp_path):
    _, out, _ = page
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is missing: run scripts/test-deps.sh"
    shot = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        done = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--no-first-run", f"--user-data-dir={profile}",
             f"--screenshot={shot}", "--window-size=1200,2000", (out / "r.html").as_uri()],
            capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": profile})
    assert done.returncode == 0, done.stderr[-2000:]
    with Image.open(shot) as im:
        rgb = im.convert("RGB")
        assert rgb.size == (1200, 2000)
        colours = rgb.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200  # text, tables and charts, not blank
    # the title's blue (#1f4e79) is drawn near the top: the page's own styles applied
    top = Image.open(shot).convert("RGB").crop((0, 0, 1200, 150))
    assert sum(n for n, c in top.getcolors(maxcolors=1 << 20) if c == (0x1F, 0x4E, 0x79)) > 100
