"""``tla lots`` and ``tla seal`` from the command line, the card being an emulated CPS
(cmd_lots.open_reader replaced); the PC/SC path itself: test_lots_pcsc.py."""

from __future__ import annotations

import io
import sys

import pytest
from billing.conftest import SEAL

from host_tools import cli, cmd_lots, office_lots
from host_tools.office_db import OfficeDb
from host_tools.office_schema import lot_counters

from .helpers import NURSE, NURSE_PIN, cps_connection, import_all, nurse_fse


def tla(tmp_path, *args) -> int:
    return cli.main(["--keys", str(tmp_path / "keys.json"), *args])


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def office(tmp_path, db_location, pki, tariffs, monkeypatch):
    path = db_location
    with OfficeDb(path) as db:
        import_all(db, pki, [nurse_fse(pki, tariffs, 1), nurse_fse(pki, tariffs, 2),
                             nurse_fse(pki, tariffs, 3, regime="02", caisse="751")])
    monkeypatch.setattr(cmd_lots, "open_reader", lambda name: cps_connection())
    monkeypatch.setattr(sys, "stdin", io.StringIO(NURSE_PIN + "\n"))
    return path


@pytest.mark.parametrize("words", [["lots", "make"], ["lots", "list"], ["lots", "show"],
                                   ["seal", "add"], ["seal", "list"]])
def test_help_lists_the_exit_codes(words, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([*words, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "130 "):
        assert f"\n  {code}" in out


def test_make_list_show(tmp_path, office, capsys):
    db = ["--db", str(office)]
    assert tla(tmp_path, "seal", *db, "add", "0.1.0", SEAL.hex()) == 0
    capsys.readouterr()
    assert tla(tmp_path, "lots", *db, "make") == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"{NURSE}/1      01/341     2 FSE      14.96 EUR  ready",
        f"{NURSE}/2      02/751     1 FSE       7.48 EUR  ready"]
    assert "signed by CPS 8100000002 ESSAI NICOLAS" in err and "2 lot(s) made" in err
    assert tla(tmp_path, "lots", *db, "list") == 0
    assert capsys.readouterr().out.splitlines()[1].startswith(f"{NURSE}/2 ")
    lot_file = tmp_path / "lot.cbor"
    assert tla(tmp_path, "lots", *db, "show", f"{NURSE}/1", "-o", str(lot_file)) == 0
    shown = capsys.readouterr().out
    assert '"fse_count": 3' not in shown and '"fse_count": 2' in shown
    with OfficeDb(office) as again:
        assert lot_file.read_bytes() == office_lots.lot_file(again, office_lots.lots(again)[0]["row_id"])


def test_a_lot_on_hold_exits_1_and_says_what_to_do(tmp_path, office, capsys):
    assert tla(tmp_path, "lots", "--db", str(office), "make") == 1
    err = capsys.readouterr().err
    assert "2 lot(s) on hold: seal_unknown (no reference seal for it" in err
    assert tla(tmp_path, "seal", "--db", str(office), "add", "0.1.0", SEAL.hex()) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        f"lot {NURSE}/1 released from hold (ready)", f"lot {NURSE}/2 released from hold (ready)"]


def test_wrong_pin_is_the_card_s_answer_exit_1(tmp_path, office, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("0000\n"))
    assert tla(tmp_path, "lots", "--db", str(office), "make") == 1
    assert one_error_line(capsys.readouterr().err) == (
        "error: CPS: VERIFY: 63C2: verification failed, 2 tries left [pin_wrong]")


@pytest.mark.parametrize("args, message", [
    (["lots", "make", "--first-number", "0"], "argument --first-number: a lot number is 1..999999"),
    (["seal", "add", "0.1.0", "zz"], "argument seal: not hexadecimal: 'zz'"),
    (["seal", "add", "0.1.0", "00ff"], "argument seal: a seal is 32 bytes (64 hex digits), got 2"),
])
def test_bad_options_exit_2(tmp_path, office, args, message, capsys):
    with pytest.raises(SystemExit) as info:
        tla(tmp_path, *args[:1], "--db", str(office), *args[1:])
    assert info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["lots", "show", "699999025/9"], "error: no lot 699999025/9 in the office database"),
    (["lots", "show", "x"], "error: 'x' is not a lot (BILLING/NUMBER or NUMBER)"),
    (["seal", "add", "0.1.0", "11" * 32],
     "error: firmware 0.1.0 already has reference seal " + SEAL.hex()
     + "; a reference seal is never replaced"),
])
def test_bad_input_exit_2_one_line(tmp_path, office, args, message, capsys):
    assert tla(tmp_path, "seal", "--db", str(office), "add", "0.1.0", SEAL.hex()) == 0
    capsys.readouterr()
    assert tla(tmp_path, args[0], "--db", str(office), *args[1:]) == 2
    assert one_error_line(capsys.readouterr().err) == message


def test_missing_database_named(tmp_path, capsys):
    assert tla(tmp_path, "lots", "--db", str(tmp_path / "none.db"), "list") == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"error: no office database at {tmp_path / 'none.db'} (tla unload creates it; or give --db)")


def test_another_office_pc_making_lots_meanwhile_exit_1_nothing_stored(tmp_path, office,
                                                                        monkeypatch, capsys):
    """While this PC signs, another one stores lot 1 of the same professional."""
    from firmware.billing import lots as lot_rules
    from host_tools import lot_maker

    real_sign = lot_rules.sign_lot

    def sign_while_another_pc_writes(*args, **kwargs):
        with OfficeDb(office) as other, other.begin() as c:
            c.execute(other.insert_ignore(lot_counters).values(billing_number=NURSE,
                                                               last_number=1))
        return real_sign(*args, **kwargs)

    monkeypatch.setattr(lot_maker.lot_rules, "sign_lot", sign_while_another_pc_writes)
    assert tla(tmp_path, "lots", "--db", str(office), "make") == 1
    assert one_error_line(capsys.readouterr().err) == (
        f"error: lots of {NURSE} were made meanwhile (another office PC?); nothing stored: "
        "run again [lots_changed]")
    with OfficeDb(office) as db:
        assert office_lots.lots(db) == [] and len(office_lots.unlotted(db)) == 3
