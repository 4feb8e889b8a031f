"""pcscd not running: pyscard's EstablishContextException becomes
:class:`board.pcsc.PcscUnavailable` (code ``pcsc_unavailable``), and the ``tla-card``
tools turn it into one English line with exit code 1 (their --help: "1 PC/SC
unavailable"). The fake stands in for pyscard's ``readers()`` with pcscd down;
0x8010001D is SCARD_E_NO_SERVICE (PC/SC workgroup spec, part 5; pcsc-lite pcsclite.h).

Also: ``python -m host_tools.cli`` still reports a usage error raised in a command
module as one line, exit 2 (the command modules and main() share one UsageError)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from smartcard.pcsc.PCSCExceptions import EstablishContextException, ListReadersException

import board.pcsc
from board.pcsc import PcscConnection, PcscUnavailable, list_readers
from host_tools.card_cli import main as tla_card

SCARD_E_NO_SERVICE = 0x8010001D
SCARD_F_INTERNAL_ERROR = 0x80100001


@pytest.fixture
def pcscd_down(monkeypatch):
    def readers(groups=None):
        raise EstablishContextException(SCARD_E_NO_SERVICE)

    monkeypatch.setattr(board.pcsc, "_readers", readers)


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = tla_card(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("call", [lambda: PcscConnection.open("ACS"), list_readers],
                         ids=["open", "list_readers"])
def test_no_service_is_pcsc_unavailable_saying_pcscd_is_not_running(pcscd_down, call):
    with pytest.raises(PcscUnavailable) as info:
        call()
    exc = info.value
    assert exc.code == "pcsc_unavailable"
    assert exc.detail.startswith("pcscd (the PC/SC service) is not running")
    assert isinstance(exc.__cause__, EstablishContextException)


def test_another_pcsc_failure_is_pcsc_unavailable_too(monkeypatch):
    def readers(groups=None):
        raise ListReadersException(SCARD_F_INTERNAL_ERROR)

    monkeypatch.setattr(board.pcsc, "_readers", readers)
    with pytest.raises(PcscUnavailable) as info:
        list_readers()
    assert info.value.code == "pcsc_unavailable"
    assert info.value.detail.startswith("the PC/SC service failed: Failed to list readers")


@pytest.mark.parametrize("argv", [["apdu", "--pcsc", "ACS", "00B0000001"],
                                  ["read", "vitale", "--pcsc", "ACS"]],
                         ids=["apdu", "read"])
def test_card_tools_say_pcscd_is_not_running_in_one_line(pcscd_down, capsys, argv):
    rc, out, err = run(capsys, *argv)
    assert rc == 1 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("error: PC/SC reader 'ACS' unavailable: pcscd (the PC/SC "
                               "service) is not running: start it")


def test_read_list_still_lists_the_sample_cards(pcscd_down, capsys):
    rc, out, err = run(capsys, "read", "vitale", "--list")
    assert rc == 0 and err == ""
    assert "sample cards: " in out and "vitale_famille_essai" in out
    assert "PC/SC readers: unavailable (pcsc_unavailable: pcscd (the PC/SC service) is not " \
           "running" in out


def test_no_card_in_the_reader_is_a_card_error_not_a_crash(monkeypatch, capsys):
    from firmware.iso7816.errors import CardAbsent

    def no_card(cls, reader, protocol="any"):
        raise CardAbsent(f"no usable card in {reader}: Card is not connected.")

    monkeypatch.setattr(PcscConnection, "open", classmethod(no_card))
    rc, _, err = run(capsys, "apdu", "--pcsc", "ACS", "00B0000001")
    assert rc == 1
    assert err == "error: card_absent: no usable card in ACS: Card is not connected.\n"


def test_tla_run_as_a_module_reports_a_command_usage_error_in_one_line(tmp_path):
    db = tmp_path / "missing.db"
    proc = subprocess.run(
        [sys.executable, "-m", "host_tools.cli", "--keys", str(tmp_path / "keys.json"),
         "fse", "--db", str(db), "list"],
        capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (f"error: no office database at {db} (tla unload creates it; "
                           "or give --db)\n")
