"""Progress bars: a rich bar on stderr for tla unload (per FSE), tla arl import (per
file) and tla lots make (per lot) only when stdout and stderr are a terminal (forced
here), the scripted output unchanged otherwise, nothing with --no-progress; an error
after a bar is still one line naming the file and the field."""

from __future__ import annotations

import io
import sys

import pytest
from billing.conftest import SEAL
from transfer.helpers import SimUnit, pair_host, run, trust_pem

from host_tools import cli, cli_common, cmd_lots, office_lots
from host_tools.office_db import OfficeDb

from .helpers import NURSE_PIN, cps_connection, import_all, nurse_fse
from .test_arl import arl


@pytest.fixture
def terminal(monkeypatch):
    monkeypatch.setattr(cli_common, "on_terminal", lambda: True)


@pytest.fixture
def office(tmp_path, pki, tariffs, monkeypatch):
    path = tmp_path / "office.db"
    with OfficeDb(path) as db:
        import_all(db, pki, [nurse_fse(pki, tariffs, 1), nurse_fse(pki, tariffs, 2),
                             nurse_fse(pki, tariffs, 3, regime="02", caisse="751")])
        office_lots.add_seal(db, "0.1.0", SEAL)
    monkeypatch.setattr(cmd_lots, "open_reader", lambda name: cps_connection())
    monkeypatch.setattr(sys, "stdin", io.StringIO(NURSE_PIN + "\n"))
    return path


def tla(tmp_path, *args) -> int:
    return cli.main(["--keys", str(tmp_path / "keys.json"), *args])


def test_lots_make_shows_a_bar_per_lot_on_a_terminal_only(tmp_path, office, capsys, terminal):
    assert tla(tmp_path, "lots", "--db", str(office), "make") == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2  # the two lot lines, as without a terminal
    bar = next(line for line in err.splitlines() if line.startswith("lots signed"))
    assert "2/2" in bar  # both lots signed


@pytest.mark.parametrize("how", ["not a terminal", "--no-progress"])
def test_lots_make_without_a_terminal_or_with_no_progress_draws_nothing(
        tmp_path, office, capsys, monkeypatch, how):
    extra = []
    if how == "--no-progress":
        monkeypatch.setattr(cli_common, "on_terminal", lambda: True)
        extra = ["--no-progress"]
    assert tla(tmp_path, "lots", "--db", str(office), "make", *extra) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2 and "2 lot(s) made" in err  # lots were signed
    assert "lots signed" not in err


def test_arl_import_bar_and_an_error_stays_one_line(tmp_path, office, capsys, terminal):
    assert tla(tmp_path, "lots", "--db", str(office), "make", "--no-progress") == 0
    capsys.readouterr()
    good = arl(tmp_path, "a.json")
    assert tla(tmp_path, "arl", "--db", str(office), "import", good) == 0
    err = capsys.readouterr().err
    assert any(line.startswith("ARL files imported") and "1/1" in line
               for line in err.splitlines())
    bad = arl(tmp_path, "b.json", lot_number=7)
    assert tla(tmp_path, "arl", "--db", str(office), "import", bad) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert lines[-1].startswith(f"error: {bad}: lot_number: ")
    assert all(ln.startswith(("ARL files imported", "error:")) for ln in lines)


@pytest.fixture
def unit(tmp_path):
    unit = SimUnit(tmp_path, 4)
    run(pair_host(unit.path, tmp_path / "keys.json"))
    yield unit
    unit.stop()


def test_unload_bar_per_fse_plain_line_or_nothing(unit, tmp_path, capsys, monkeypatch):
    pem = str(trust_pem(tmp_path / "trust.pem"))
    args = ["unload", "--port", unit.path, "--trust", pem]
    monkeypatch.setattr(cli_common, "on_terminal", lambda: True)
    db = ["--db", str(tmp_path / "office.db")]
    assert tla(tmp_path, *args, *db) == 0
    out, err = capsys.readouterr()
    assert "4 FSEs imported" in out
    bar = next(ln for ln in err.splitlines() if ln.startswith("FSE fetched, verified, imported"))
    assert "4/4" in bar and "[####" not in err  # the rich bar, not the plain line
    unit.add_fses(2)
    assert tla(tmp_path, *args, *db, "--no-progress") == 0
    out, err = capsys.readouterr()
    assert "2 FSEs imported" in out and "FSE fetched" not in err and "2/2" not in err
    monkeypatch.undo()
    unit.add_fses(1)
    assert tla(tmp_path, *args, *db) == 0
    out, err = capsys.readouterr()
    assert "1 FSEs imported" in out
    assert "1/1 FSE" in err and "FSE fetched" not in err  # the plain line for scripts
