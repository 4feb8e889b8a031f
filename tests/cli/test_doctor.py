"""``tla doctor``: against the simulated unit over a pty, all is well (exit 0) only when
the unit answers, is paired both ways and has its clock set; each thing that stops a
connection is one FAIL line saying what to do (exit 1): no port, a missing port, no
permission, a port held by another program, a silent port, an unpaired unit, a clock
that is not set or far off."""

from __future__ import annotations

import grp
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from transfer.helpers import SimUnit, pair_host, run

from host_tools import cli, cmd_doctor, doctor


def tla(keys: Path, *args: str) -> int:
    return cli.main(["--keys", str(keys), "--timeout", "2", "doctor", *args])


def lines(capsys) -> list[str]:
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return out.out.splitlines()


@pytest.fixture
def unit(tmp_path):
    unit = SimUnit(tmp_path, 0)
    yield unit
    unit.stop()


def test_a_paired_unit_with_its_clock_set_is_all_well(unit, tmp_path, capsys):
    run(pair_host(unit.path, tmp_path / "keys.json"))
    unit.services.clock = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    assert tla(tmp_path / "keys.json", "--port", unit.path) == 0
    assert lines(capsys) == [
        f"ok    port {unit.path} opens read-write, no other program holds it",
        f"ok    the unit on {unit.path} answers echo",
        "ok    paired: the unit and this PC opened a session",
        f"ok    the unit's clock is set ({unit.services.clock.isoformat()} UTC)"]


def test_clock_not_set_or_a_day_behind(unit, tmp_path, capsys):
    run(pair_host(unit.path, tmp_path / "keys.json"))
    assert tla(tmp_path / "keys.json", "--port", unit.path) == 1  # FakeUnit: never set
    assert lines(capsys)[-1] == (f"FAIL  the unit's clock is not set [group0.rtc_not_set] -> "
                                 f"run: tla clock set --port {unit.path}")
    unit.services.clock = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1)
    assert tla(tmp_path / "keys.json", "--port", unit.path) == 1
    last = lines(capsys)[-1]
    assert last.startswith("FAIL  the unit's clock reads ") and "1440 min behind this PC" in last
    assert last.endswith("-> check this PC's clock, then run: tla clock set --port PORT")


def test_unpaired_on_this_pc_and_on_the_unit(unit, tmp_path, capsys):
    assert tla(tmp_path / "keys.json", "--port", unit.path) == 1
    assert lines(capsys)[-1] == (f"FAIL  this PC ({tmp_path / 'keys.json'}) is paired with no "
                                 f"unit -> run: tla pair --port {unit.path}")
    (tmp_path / "other").mkdir()
    other = SimUnit(tmp_path / "other", 0)
    try:
        run(pair_host(other.path, tmp_path / "keys.json"))  # paired with another unit only
        assert tla(tmp_path / "keys.json", "--port", unit.path) == 1
    finally:
        other.stop()
    assert lines(capsys)[-1] == (
        f"FAIL  the unit on {unit.path} and this PC are not paired: unit refused: this PC is "
        f"not paired with the unit (run: tla pair) [group80.not_paired] -> run: tla pair "
        f"--port {unit.path} (press Valider on the unit)")


def test_a_missing_port_and_no_port_at_all(tmp_path, capsys, monkeypatch):
    assert tla(tmp_path / "keys.json", "--port", str(tmp_path / "ttyACM9")) == 1
    assert lines(capsys) == [f"FAIL  port {tmp_path / 'ttyACM9'} does not exist -> plug the "
                             "unit in and switch it on; list ports with: tla units --all"]
    monkeypatch.setattr(cmd_doctor, "list_ports", lambda: [doctor.Port("/dev/ttyS0")])
    assert tla(tmp_path / "keys.json") == 1
    (line,) = lines(capsys)
    assert line.startswith("FAIL  no serial port looks like a unit (serial ports: /dev/ttyS0 "
                           "(not USB)) -> plug the unit into a USB port")


def test_which_ports_look_like_a_unit():
    unit = doctor.Port("/dev/ttyACM1", 0x1D6B, 0x0104, "OpenTLA", "TLA-0001")
    gadget = doctor.Port("/dev/ttyACM2", 0x1D6B, 0x0104, "Some gadget")
    modem = doctor.Port("/dev/ttyACM0", 0x1199, 0x9071, "Modem")
    ftdi = doctor.Port("/dev/ttyUSB0", 0x0403, 0x6001, "FT232R")
    chosen, found = doctor.candidates([modem, unit, gadget, ftdi])
    assert chosen == [unit]
    assert [f.line() for f in found] == [
        "ok    port /dev/ttyACM1: an OpenTLA unit (USB 1d6b:0104, serial TLA-0001)"]
    chosen, found = doctor.candidates([ftdi, modem, gadget])  # no OpenTLA: CDC-ACM ones
    assert chosen == [modem, gadget] and all(f.ok for f in found)
    assert doctor.candidates([ftdi])[0] == []


def _as_nobody(path: str) -> list[str]:
    """The device check run by user nobody in a forked child (root may open anything)."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: drop to nobody, check, hand the lines back, exit
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(write, "\n".join(f.line() for f in doctor.check_device(path)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, encoding="utf-8") as pipe:
        text = pipe.read()
    os.waitpid(child, 0)
    return text.splitlines()


def test_permission_denied_names_the_group_and_the_udev_rule(tmp_path, capsys):
    master, slave = os.openpty()
    try:
        path = os.ttyname(slave)
        os.chmod(path, 0o660)  # owner and group only
        if os.geteuid() == 0:
            os.chown(path, -1, grp.getgrnam("dialout").gr_gid)  # as the udev rule would
            (line,) = _as_nobody(path)
            user = "nobody"
        else:
            os.chmod(path, 0o000)
            assert tla(tmp_path / "keys.json", "--port", path) == 1
            (line,) = lines(capsys)
            user = os.environ.get("USER", "")
    finally:
        os.close(slave)
        os.close(master)
    assert line.startswith(f"FAIL  permission denied on {path} (mode ")
    assert f"{user} is not in group" in line and "sudo usermod -aG" in line
    if os.geteuid() == 0:
        assert ": nobody is not in group dialout -> run: sudo usermod -aG dialout nobody" in line
    assert "/etc/udev/rules.d/99-opentla.rules" in line


HOLD = """import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
if sys.argv[2] == "lock":
    fcntl.flock(fd, fcntl.LOCK_EX)
print("holding", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("how", ["lock", "open"])
def test_a_port_held_by_another_program_names_it(tmp_path, capsys, how):
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, path, how], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        comm = Path(f"/proc/{holder.pid}/comm").read_text().strip()  # its name for the kernel
        assert tla(tmp_path / "keys.json", "--port", path) == 1
        (line,) = lines(capsys)
    finally:
        holder.kill()
        holder.wait()
        os.close(master)
    held = f"{comm} (pid {holder.pid})"
    if how == "lock":
        assert line == (f"FAIL  port {path} is locked by {held} -> close that program "
                        "(another tla, smpmgr, a terminal emulator)")
    else:
        assert line == (f"FAIL  port {path} is open in {held}: two programs on one port "
                        "garble each other's answers -> close that program")


def test_a_port_where_nothing_answers(tmp_path, capsys):
    master, slave = os.openpty()  # a line with nobody at the other end
    path = os.ttyname(slave)
    os.close(slave)
    try:
        assert cli.main(["--keys", str(tmp_path / "k.json"), "--timeout", "0.3", "doctor",
                         "--port", path]) == 1
    finally:
        os.close(master)
    out = lines(capsys)
    assert out[0] == f"ok    port {path} opens read-write, no other program holds it"
    assert out[1].startswith(f"FAIL  no answer to echo on {path} within 0.3 s")
    assert out[1].endswith("unplug and replug it; a slow line: try tla --timeout 5 doctor")
