"""``tla``: usage errors are one line with exit code 2, link failures exit code 1,
Ctrl-C during unload exits 130 leaving only whole FSEs; every --help lists exit codes."""

from __future__ import annotations

import os

import pytest
from transfer.helpers import SimUnit, pair_host, run, trust_pem

from host_tools import cli, cli_common
from host_tools.office_db import OfficeDb

HELPS = [["units"], ["pair"], ["info"], ["clock", "set"], ["load"], ["unload"],
         ["fse", "list"], ["fse", "show"], ["fse", "export"], ["records"], ["records", "list"],
         ["records", "withdraw"], ["report"], ["doctor"], []]


def tla(tmp_path, *args) -> int:
    return cli.main(["--keys", str(tmp_path / "keys.json"), "--timeout", "0.3", *args])


@pytest.mark.parametrize("words", HELPS, ids=lambda w: " ".join(w) or "tla")
def test_every_help_documents_the_exit_codes(words, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([*words, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code in ("0 ", "1 ", "2 ", "130 "):
        assert f"\n  {code}" in out


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("command", [["info"], ["unload", "--trust", "trust.pem"]])
def test_a_port_that_does_not_exist_is_a_unit_that_did_not_answer(tmp_path, capsys, command):
    """Issue 9 defect 7: the unit unplugged before the port opens is exit 1, not usage."""
    (tmp_path / "trust.pem").write_text("")
    words = [w if w != "trust.pem" else str(tmp_path / w) for w in command]
    assert tla(tmp_path, *words, "--port", "/dev/no-such-tty") == 1
    assert one_error_line(capsys.readouterr().err) == (
        "error: port /dev/no-such-tty does not exist (is the unit plugged in? "
        "find units with: tla units)")


def test_a_file_that_is_no_serial_port(tmp_path, capsys):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert tla(tmp_path, "info", "--port", str(plain)) == 1
    assert one_error_line(capsys.readouterr().err) == (
        f"error: cannot open port {plain}: not a serial port, or in use by another program")


def test_a_serial_port_where_no_unit_answers(tmp_path, capsys):
    master, slave = os.openpty()
    try:
        name = os.ttyname(slave)
        assert tla(tmp_path, "info", "--port", name) == 1
    finally:
        os.close(master)
        os.close(slave)
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: no answer from a unit on {name} within 0.3 s")


@pytest.mark.parametrize("args, message", [
    (["unload", "--port", "/dev/null", "--trust", "t", "--seal", "zz"],
     "argument --seal: not hexadecimal: 'zz'"),
    (["unload", "--port", "/dev/null", "--trust", "t", "--seal", "00ff"],
     "argument --seal: a seal is 32 bytes (64 hex digits), got 2"),
    (["--timeout", "-1", "units"], "argument --timeout: must be a positive number"),
    (["pair", "--port", "/dev/null", "--wait", "soon"], "argument --wait: not a number"),
])
def test_bad_options_exit_2_with_the_option_named(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("value, message", [
    ("2026-02-30T10:00:00", "datetime: day is out of range for month"),
    ("tomorrow", "datetime must look like 2026-01-31T14:05:00"),
])
def test_a_bad_clock_time_is_refused_before_the_port_is_opened(value, message, tmp_path, capsys):
    # /dev/null is no unit: reaching it would be exit code 1, not 2
    assert tla(tmp_path, "clock", "set", "--port", "/dev/null", "--time", value) == 2
    assert one_error_line(capsys.readouterr().err) == f"error: --time: {message}, got {value!r}"


def test_fse_commands_need_an_existing_database_and_create_none(tmp_path, capsys):
    missing = tmp_path / "typo" / "office.db"
    assert tla(tmp_path, "fse", "--db", str(missing), "list") == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"error: no office database at {missing} (tla unload creates it; or give --db)")
    assert not missing.parent.exists()


def test_fse_on_a_file_that_is_no_database(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("not sqlite " * 100)
    assert tla(tmp_path, "fse", "--db", str(bad), "export") == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"error: office database {bad}: file is not a database")


def test_export_to_an_unwritable_place_is_a_usage_error(tmp_path, capsys):
    db = tmp_path / "office.db"
    OfficeDb(db).close()
    out = tmp_path / "no-dir" / "fses.csv"
    assert tla(tmp_path, "fse", "--db", str(db), "export", "--output", str(out)) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"error: cannot write {out}: No such file or directory")


def test_bad_trust_files(tmp_path, capsys):
    text = tmp_path / "readme.txt"
    text.write_text("hello")
    assert tla(tmp_path, "unload", "--port", "/dev/null", "--trust", str(text)) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"error: {text}: not a certificate file (no valid DER X.509 certificate in it)")
    assert tla(tmp_path, "unload", "--port", "/dev/null", "--trust", str(tmp_path / "x.pem")) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"error: {tmp_path / 'x.pem'}: cannot read: No such file or directory")


@pytest.fixture
def unit(tmp_path):
    unit = SimUnit(tmp_path, 4)
    yield unit
    unit.stop()


def test_an_unpaired_pc_is_told_to_pair(unit, tmp_path, capsys):
    assert cli.main(["--keys", str(tmp_path / "keys.json"), "info", "--port", unit.path]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "not paired" in line and "tla pair" in line


def test_ctrl_c_during_unload_keeps_only_whole_fses_and_a_rerun_finishes(
        unit, tmp_path, capsys, monkeypatch):
    run(pair_host(unit.path, tmp_path / "keys.json"))
    db = tmp_path / "office.db"
    args = ["--keys", str(tmp_path / "keys.json"), "unload", "--port", unit.path,
            "--db", str(db), "--trust", str(trust_pem(tmp_path / "trust.pem"))]

    def interrupt_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt  # what Ctrl-C raises in the importing code

    monkeypatch.setattr(cli_common, "progress", interrupt_after_two)
    assert cli.main(args) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert one_error_line(err).startswith("interrupted: the FSEs imported so far are whole")
    with OfficeDb(db) as office:
        kept = {r["fse_id"]: office.fse(r["import_id"])[1] for r in office.fses()}
    assert len(kept) == 2 and all(unit.fses[k] == v for k, v in kept.items())
    assert all(status != "imported" for status, _ in unit.statuses().values())  # no ack yet
    monkeypatch.undo()
    assert cli.main(args) == 0
    assert "2 FSEs imported, 2 already imported, 4 acknowledged" in capsys.readouterr().out
    with OfficeDb(db) as office:
        rows = office.fses()
    assert sorted(r["fse_id"] for r in rows) == sorted(unit.fses)  # each exactly once
    assert {s for s, _ in unit.statuses().values()} == {"imported"}
