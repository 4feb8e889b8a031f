"""`tla-unit sim`: its command language in-process, and the command as a separate
process that the office tools (`tla pair`, `tla info`) reach over its pty from
other processes, then stopped cleanly by EOF or SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from board.sim.commands import run_sim

ROOT = Path(__file__).resolve().parents[2]


def test_command_language_answers_each_line_and_quit_stops(tmp_path):
    out: list[str] = []
    rc = run_sim(state=tmp_path, print_=out.append, stdin=[
        "# a comment", "", "info", "insert vitale no_such_card", "insert slot3 cps_kine",
        "key enter", "battery 12", "battery x", "info", "unlock 4321",
        "insert ps cps_infirmier", "unlock 4321", "remove ps", "frobnicate", "quit", "info"])
    assert rc == 0
    answers = out[2:]  # after "link port:" and "state:"
    assert answers[0].startswith("ok serial TLA-") and "battery 87 %" in answers[0]
    assert answers[0].endswith("locked cards none")
    assert answers[1].startswith("error: unknown card 'no_such_card'")
    assert answers[2] == "error: unknown slot 'slot3' (vitale or ps)"
    assert answers[3] == ("error: unknown key 'enter' "
                          "(0-9, valider, annuler, corriger, up, down, menu)")
    assert answers[4] == "ok battery 12 %"
    assert answers[5] == "error: battery must be a number, not 'x'"
    assert "battery 12 %" in answers[6]
    assert answers[7] == "error: card_absent (Insérer carte CPS)"  # no CPS yet
    assert answers[8] == "ok cps_infirmier in slot ps"
    assert answers[9] == "error: clock_not_set (Heure non réglée)"  # the office never set it
    assert answers[10] == "ok slot ps empty"
    assert answers[11].startswith("error: unknown command 'frobnicate'")
    assert answers[12:] == ["stopped"]  # quit: the last "info" never ran
    assert (tmp_path / "unit.db").exists() and (tmp_path / "unit_identity.json").exists()


def test_a_failing_script_line_stops_with_exit_1(tmp_path):
    script = tmp_path / "day.txt"
    script.write_text("battery 50\ninsert ps no_such_card\nbattery 10\n")
    out: list[str] = []
    assert run_sim(state=tmp_path / "s", script=script, stdin=["battery 20"],
                   print_=out.append) == 1
    assert out[2:] == ["ok battery 50 %", out[3], "stopped"]
    assert out[3].startswith("error: unknown card 'no_such_card'")


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    link = tmp_path / "unit-link"
    proc = subprocess.Popen([sys.executable, "-m", "board.main", "sim", "--link", str(link),
                             *args], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120  # a bound for a stuck start, not a speed check
    while not link.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not link.exists():
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"tla-unit sim did not start: {out}\n{err}")
    return proc, link


def _tla(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "host_tools.cli", "--keys",
                           str(tmp_path / "keys.json"), "--timeout", "5", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_sim_process_pairs_with_tla_and_stops_on_eof(tmp_path):
    script = tmp_path / "pairing.txt"
    script.write_text("# the person at the unit checks the code and accepts\n"
                      "wait-pairing 60\nkey valider\n")
    proc, link = _start(tmp_path, "--script", str(script), "--state", str(tmp_path / "state"))
    try:
        paired = _tla(tmp_path, "pair", "--port", str(link), "--name", "Cabinet test",
                      "--wait", "60")
        assert paired.returncode == 0, paired.stderr
        assert "Paired with unit TLA-" in paired.stdout
        serial = paired.stdout.split("Paired with unit ")[1].split()[0]
        info = _tla(tmp_path, "info", "--port", str(link), "--json")
        assert info.returncode == 0, info.stderr
        fields = json.loads(info.stdout)
        assert fields["serial"] == serial and fields["battery"] == 87
        assert fields["clock"] == ""  # not set yet
        # one more command, then EOF on stdin: the unit stops
        out, err = proc.communicate(input="battery 55\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    code = paired.stdout.split("Pairing code: ")[1].split()[0]
    assert f"ok pairing code {code} on screen" in lines and "ok valider pressed" in lines
    assert "[unit] PC appairé" in lines and "ok battery 55 %" in lines
    assert lines[-1] == "stopped"
    assert not link.is_symlink()  # the link path is removed with the pty
    # the host is remembered by the unit's state: a new sim on it knows the host
    assert "Cabinet test" in (tmp_path / "state" / "paired_hosts.json").read_text()


def test_sim_process_stops_on_sigterm_and_refuses_unpaired_hosts(tmp_path):
    proc, link = _start(tmp_path)
    try:
        info = _tla(tmp_path, "info", "--port", str(link))
        assert info.returncode == 1 and "error:" in info.stderr  # never paired
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == "stopped"
    state = out.splitlines()[1]
    assert state.startswith("state: ") and state.endswith("(temporary)")
    assert not os.path.exists(state.split()[1])  # the temporary state is removed
    assert not link.is_symlink()
