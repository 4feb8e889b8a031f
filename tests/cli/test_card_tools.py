"""``tla-card``: hex and APDU mistakes are named (argument or file line), faults and
PINs give one-line errors, PC/SC failures no traceback; every --help lists exit codes."""

from __future__ import annotations

import io

import pytest

from host_tools import card_read
from host_tools.card_cli import main


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main(list(args))
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out, out.err


@pytest.mark.parametrize("words", [[], ["atr"], ["apdu"], ["read"]])
def test_every_help_documents_the_exit_codes(words, capsys):
    with pytest.raises(SystemExit) as info:
        main([*words, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "\n  0 " in out and "\n  2 " in out


def test_atr_odd_and_non_hex_inputs_say_which(capsys, monkeypatch):
    assert run(capsys, "atr", "3B 0")[1] == "error: odd number of hex digits (3) in '3B 0'\n"
    assert run(capsys, "atr", "3B", "ZZ")[1] == "error: not hexadecimal: '3B ZZ' (character 'Z')\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("3B 00\nzz\n"))
    rc, out, _ = run(capsys, "atr", "-")
    assert rc == 2 and out.endswith("error: not hexadecimal: 'zz' (character 'z')\n")


@pytest.mark.parametrize("args, message", [
    (["00A4"], "APDU '00A4': 2 byte(s), shorter than the 4-byte header CLA INS P1 P2"),
    (["00A4000002", "3F0G"], "APDU '3F0G': not hexadecimal (character 'G')"),
    (["00A40"], "APDU '00A40': odd number of hex digits (5)"),
    (["--atr", "3B0", "00A4000000"], "--atr: odd number of hex digits (3)"),
    (["--fault", "parity", "00A4000000"], "fault 'parity': expected a number after ':'"),
    (["--fault", "slow:-3", "00A4000000"], "fault 'slow:-3': the number must be 0 or more"),
])
def test_apdu_usage_errors_exit_2_naming_the_input(args, message, capsys):
    rc, _, err = run(capsys, "apdu", *args)
    assert rc == 2 and message in err and len(err.splitlines()) == 1


def test_apdu_file_errors_name_the_line(tmp_path, capsys):
    f = tmp_path / "script.apdu"
    f.write_text("# select\n00A4000002 2F20\n00B0\n")
    rc, _, err = run(capsys, "apdu", "--file", str(f))
    assert rc == 2 and err == f"error: bad APDU input: {f}:3: 2 byte(s), shorter than the " \
                              "4-byte header CLA INS P1 P2\n"
    rc, _, err = run(capsys, "apdu", "--file", str(tmp_path / "none"))
    assert rc == 2 and err == (f"error: bad APDU input: cannot read {tmp_path / 'none'}: "
                               "No such file or directory\n")


def test_read_cps_without_a_pin_and_no_terminal_asks_for_pin_option(capsys, monkeypatch):
    def no_terminal(prompt):
        raise EOFError  # what getpass raises when stdin is closed and there is no tty

    monkeypatch.setattr(card_read.getpass, "getpass", no_terminal)
    rc, out, err = run(capsys, "read", "cps")
    assert rc == 2 and out == ""
    assert err == "error: no PIN: stdin is not a terminal; give it with --pin\n"


def test_ctrl_c_at_the_pin_prompt(capsys, monkeypatch):
    def ctrl_c(prompt):
        raise KeyboardInterrupt

    monkeypatch.setattr(card_read.getpass, "getpass", ctrl_c)
    rc, _, err = run(capsys, "read", "cps")
    assert rc == 130 and err.strip() == "interrupted"
