"""The per-operation report: nearest-rank percentiles and error rates against values
computed by hand (NIST/SEMATECH e-Handbook §7.2.6.2, nearest rank: the
ceil(p/100 * n)-th smallest), over all units or one unit, text and JSON."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host_tools.cli import main as tla
from host_tools.office_db import OfficeDb
from host_tools.traces import nearest_rank, report

# unit A: card.vitale.read x10 (2 failures), visit.sign x3 ; unit B: visit.sign x1
VITALE = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.4, 0.8, 0.6, 1.0]
ROWS_A = [(i + 1, 1000.0 + i, "card.vitale.read", d,
           "card_absent" if i in (1, 4) else "ok") for i, d in enumerate(VITALE)]
ROWS_A += [(11, 2000.0, "visit.sign", 2.0, "ok"), (12, 2001.0, "visit.sign", 1.0, "ok"),
           (13, 2002.0, "visit.sign", 3.0, "pin_wrong")]
ROWS_B = [(1, 3000.0, "visit.sign", 4.0, "ok")]


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "office.db"
    with OfficeDb(path) as db:
        db.import_traces("TLA-A", ROWS_A)
        db.import_traces("TLA-B", ROWS_B)
    return path


def test_hand_computed_percentiles_of_one_unit(db_path):
    with OfficeDb(db_path) as db:
        stats = {s.operation: s for s in report(db.traces("TLA-A"))}
    vit = stats["card.vitale.read"]
    # sorted 0.1 .. 1.0 ; p50 -> rank ceil(5) = 5 -> 0.5 ; p90 -> rank 9 -> 0.9 ;
    # p99 -> rank ceil(9.9) = 10 -> 1.0 ; 2 of 10 failed
    assert (vit.count, vit.errors, vit.error_rate) == (10, 2, 0.2)
    assert (vit.p50_s, vit.p90_s, vit.p99_s) == (0.5, 0.9, 1.0)
    sign = stats["visit.sign"]
    # sorted 1, 2, 3 ; p50 -> rank ceil(1.5) = 2 -> 2.0 ; p90 -> ceil(2.7) = 3 -> 3.0
    assert (sign.count, sign.errors) == (3, 1)
    assert sign.error_rate == pytest.approx(1 / 3)
    assert (sign.p50_s, sign.p90_s, sign.p99_s) == (2.0, 3.0, 3.0)


def test_all_units_pool_their_traces(db_path):
    with OfficeDb(db_path) as db:
        sign = {s.operation: s for s in report(db.traces())}["visit.sign"]
    # sorted 1, 2, 3, 4 ; p50 -> rank 2 -> 2.0 ; p90 -> rank ceil(3.6) = 4 -> 4.0
    assert (sign.count, sign.errors, sign.error_rate) == (4, 1, 0.25)
    assert (sign.p50_s, sign.p90_s, sign.p99_s) == (2.0, 4.0, 4.0)


def test_cli_report_json_and_unit_filter(db_path, tmp_path, capsys):
    keys = ["--keys", str(tmp_path / "keys.json")]
    assert tla([*keys, "traces", "report", "--db", str(db_path), "--json"]) == 0
    every = json.loads(capsys.readouterr().out)
    assert every["units"] == ["TLA-A", "TLA-B"]
    assert every["operations"]["visit.sign"] == {
        "count": 4, "errors": 1, "error_rate": 0.25, "p50_s": 2.0, "p90_s": 4.0, "p99_s": 4.0}
    assert tla([*keys, "traces", "report", "--db", str(db_path), "--unit", "TLA-B",
                "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["units"] == ["TLA-B"] and list(one["operations"]) == ["visit.sign"]
    assert one["operations"]["visit.sign"]["count"] == 1


def test_cli_report_text_shows_milliseconds(db_path, tmp_path, capsys):
    assert tla(["--keys", str(tmp_path / "k.json"), "traces", "report",
                "--db", str(db_path), "--unit", "TLA-A"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("card.vitale.read"))
    # count 10, 2 errors (20 %), p50 500 ms, p90 900 ms, p99 1000 ms
    assert row.split() == ["card.vitale.read", "10", "2", "(20%)", "500.0", "900.0", "1000.0"]


def test_fetch_needs_a_port(tmp_path, capsys):
    assert tla(["--keys", str(tmp_path / "k.json"), "traces", "--db",
                str(tmp_path / "o.db")]) == 2
    assert "--port" in capsys.readouterr().err


def test_empty_database_reports_nothing_and_a_missing_one_is_refused(tmp_path, capsys):
    keys = ["--keys", str(tmp_path / "k.json")]
    assert tla([*keys, "traces", "report", "--db", str(tmp_path / "none.db")]) == 2
    assert "no office database" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()
    OfficeDb(tmp_path / "o.db").close()
    assert tla([*keys, "traces", "report", "--db", str(tmp_path / "o.db")]) == 0
    assert "No traces" in capsys.readouterr().out


@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=60),
       st.integers(1, 100))
def test_nearest_rank_is_the_smallest_value_covering_p_percent(values, p):
    """Independent definition: the smallest v with at least p % of values <= v."""
    ordered = sorted(values)
    got = nearest_rank(ordered, p)
    expected = min(v for v in ordered if 100 * sum(x <= v for x in ordered) >= p * len(ordered))
    assert got == expected


def test_nearest_rank_has_no_rounding_slip():
    # p = 7 of 100 values 1..100: rank exactly 7 (7/100*100 is 7.000000000000001 in floats)
    assert nearest_rank([float(v) for v in range(1, 101)], 7) == 7.0
    assert nearest_rank([5.0], 50) == 5.0
    with pytest.raises(ValueError):
        nearest_rank([], 50)
