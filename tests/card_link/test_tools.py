"""`tla-card apdu`, `tla-unit demo` and the wire-time bench."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from board.main import main as unit_main
from host_tools import card_apdu

ROOT = Path(__file__).resolve().parents[2]


def run_cli(argv, capsys):
    parser = argparse.ArgumentParser()
    card_apdu.register(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(["apdu", *argv])
    rc = args.func(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_apdu_json_on_memory_card(capsys):
    rc, out, _ = run_cli(["--card", "memory", "--json", "00B0000004"], capsys)
    assert rc == 0
    report = json.loads(out)
    ex = report["exchanges"][0]
    assert ex["response"] == "0001020390" + "00"
    # 5 out, INS + 4 + SW = 7 in: 4x12 + 16 + 6x12 + 12 = 148 etu at 372/4.8 MHz.
    assert (ex["chars_out"], ex["chars_in"], ex["etu"]) == (5, 7, 148.0)
    assert ex["us"] == round(148 * 372 / 4.8, 1)


def test_apdu_text_and_file(tmp_path, capsys):
    f = tmp_path / "apdus.txt"
    f.write_text("# select then read\n00 A4 00 00 02 2F 20\n00B0000002\n")
    rc, out, _ = run_cli(["--card", "cps4", "--protocol", "1", "--file", str(f)], capsys)
    assert rc == 0
    assert "T=1" in out and out.count("> ") == 2 and "< 00 01 90 00" in out


def test_apdu_fault_and_errors(capsys):
    rc, _, err = run_cli(["--card", "cps3", "--fault", "mute", "00B0000001"], capsys)
    assert rc == 1 and "atr_mute" in err
    rc, _, err = run_cli(["--fault", "bogus", "00B0000001"], capsys)
    assert rc == 2 and "unknown fault" in err
    rc, _, err = run_cli(["00B0"], capsys)
    assert rc == 2 and "bad APDU" in err
    rc, out, _ = run_cli(["--card", "cps4", "--fault", "pps-garble", "--json", "00B0000001"], capsys)
    assert rc == 0 and json.loads(out)["fi"] == 372 and json.loads(out)["baud"] == 12903.2


def test_unit_demo(capsys):
    assert unit_main(["cards"]) == 0
    out = capsys.readouterr().out
    assert "slot vitale" in out and "slot ps" in out
    assert "PPS accepted: T=0 Fi=372 Di=4" in out  # Vitale 2 TA1=13
    assert "PPS accepted: T=1 Fi=372 Di=12" in out  # CPS4 TA1=18, T=1
    assert "SIGN" in out and "256 B" in out


def test_bench_json_worst_ratio():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "card_link.py"), "--json"],
                          capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(proc.stdout)
    assert report["worst_ratio"] <= 1.05
    cards = {(r["card"], r["speed"]) for r in report["rows"]}
    assert ("cps4-t1", "pps") in cards and ("vitale1", "default") in cards
    t1 = [r for r in report["rows"] if r["card"] == "cps4-t1" and r["speed"] == "pps"]
    assert all(r["protocol"] == 1 and r["di"] == 12 for r in t1)


def test_apdu_pcsc_unavailable_reader_is_a_clear_error(capsys):
    rc, _, err = run_cli(["--pcsc", "no such reader", "00B0000001"], capsys)
    assert rc == 1 and "no such reader" in err
