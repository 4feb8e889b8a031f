"""``tla-card atr``: in-process through main([...]) and as a subprocess reading
many ATRs from stdin."""

import io
import json
import subprocess
import sys
from pathlib import Path

from host_tools.card_cli import main

ROOT = Path(__file__).resolve().parents[2]
CPS4 = "3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90 44"


def test_human_output_vitale2(capsys):
    assert main(["atr", "3B", "75", "13", "00", "00", "47", "09", "EA", "90", "00"]) == 0
    out = capsys.readouterr().out
    assert "TS=3B: direct convention" in out
    assert "TA1=13: Fi=372 Di=4, f max 5 MHz" in out
    assert "TC1=00: extra guard time N=0" in out
    assert "Historical bytes (5): 47 09 EA 90 00" in out
    assert "TCK: absent (only T=0 indicated)" in out


def test_human_output_cps4_and_inverse(capsys):
    assert main(["atr", CPS4.replace(" ", "")]) == 0
    out = capsys.readouterr().out
    assert "TA1=18: Fi=372 Di=12, f max 5 MHz" in out
    assert "TD1=80: T=0, next: TD2" in out
    assert "TD2=01: T=1, next: none" in out
    assert "Protocols: T=0, T=1" in out
    assert "T=1: IFSC=32 BWI=4 CWI=13 error detection LRC" in out
    assert "TCK=44: correct" in out
    assert main(["atr", "3F 65 25 00 2B 09 62 90 00"]) == 0
    assert "TS=3F: inverse convention" in capsys.readouterr().out


def test_json_output(capsys):
    assert main(["atr", CPS4, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["convention"] == "direct" and d["fi"] == 372 and d["di"] == 12
    assert d["protocols"] == [0, 1] and d["tck_ok"] is True
    assert d["historical"] == "0012250064800401000090"
    assert (d["ifsc"], d["bwi"], d["cwi"], d["checksum"], d["error"]) == (32, 4, 13, "LRC", None)


def test_malformed_exit_codes(capsys):
    assert main(["atr", CPS4[:-2] + "45"]) == 1
    out = capsys.readouterr().out
    assert "TCK=45: WRONG" in out and "error: atr_tck_mismatch" in out and "MALFORMED" in out
    assert main(["atr", "3B 75 13", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"].startswith("atr_truncated")
    assert main(["atr", "zz"]) == 2
    assert "not hexadecimal" in capsys.readouterr().out


def test_stdin_in_process(monkeypatch, capsys):
    text = f"{CPS4}\n\n   \n3B 75 13 00 00 47 09 EA 90 00\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    assert main(["atr", "-", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(x)["di"] for x in lines] == [12, 4]


def test_stdin_subprocess_many_lines():
    good = [CPS4, "3B 75 13 00 00 47 09 EA 90 00", "3F 65 25 00 2B 09 62 90 00"]
    lines = [good[i % 3] for i in range(3000)] + ["", "3B 75 13"]
    proc = subprocess.run(
        [sys.executable, "-m", "host_tools.card_cli", "atr", "-", "--json"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 1  # the last, truncated ATR is malformed
    out = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(out) == 3001  # the blank line is skipped
    assert [d["di"] for d in out[:3]] == [12, 4, 1]
    assert sum(d["error"] is None for d in out) == 3000
    assert out[-1]["error"].startswith("atr_truncated")
