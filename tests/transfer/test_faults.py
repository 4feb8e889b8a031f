"""Pulled cable at every frame of an unload, host killed mid-transfer and before the
acknowledgement: after a clean re-run every FSE is in the office database exactly
once, byte for byte as signed, and acknowledged on the unit with its import id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import termios
import threading
from pathlib import Path

from firmware.office_link.events import Send
from host_tools import cli
from host_tools.importer import unload
from host_tools.office_db import OfficeDb
from host_tools.unit_link import client as link
from host_tools.unit_link.keystore import HostKeys

from .helpers import SimUnit, UnitPort, cards, pair_host, run, trust_pem

BUF = 4096  # small buffers: an FSE spans two frames, so cuts land mid-record too
FSES = 3
REPO = Path(__file__).resolve().parents[2]


class CablePort(UnitPort):
    """Counts the unit's replies; at reply ``cut_at`` lets part of it out and then
    nothing more (the cable is pulled) until :meth:`replug` (on the unit's thread)."""

    def __init__(self, server) -> None:
        super().__init__(server)
        self.sent = 0
        self.cut_at: int | None = None
        self.cut = False
        self.keep = 0.5  # share of the cut reply that still gets out
        self.reached = threading.Event()

    def outgoing(self, actions: list) -> list:
        kept = []
        for action in actions:
            if isinstance(action, Send):
                self.sent += 1
                if self.cut_at is not None and self.sent == self.cut_at:
                    self.reached.set()
                    if not self.cut:
                        self.cut = True
                        kept.append(Send(action.data[: int(len(action.data) * self.keep)]))
                    continue
                if self.cut:
                    continue
            kept.append(action)
        return kept

    def replug(self) -> None:
        """The cable comes back: stale bytes are gone, the unit resets its link."""
        termios.tcflush(self.pty.master, termios.TCIOFLUSH)
        self.runner.reset()
        self.cut, self.cut_at = False, None


async def _unload(path: str, keys: HostKeys, db_path: Path, timeout: float = 5.0):
    with OfficeDb(db_path) as db:
        async with link.connect(path, timeout) as client:
            await link.open_session(client, keys)
            return await unload(client, db, cards().trust)


def _check_exactly_once(unit: SimUnit, db_path: Path) -> None:
    with OfficeDb(db_path) as db:
        rows = db.fses()
        stored = {r["fse_id"]: db.fse(r["import_id"])[1] for r in rows}
    assert len(rows) == len(unit.fses)  # UNIQUE keys aside, no second row
    assert stored == unit.fses
    assert unit.statuses() == {r["fse_id"]: ("imported", r["import_id"]) for r in rows}
    # the office knows what the unit may purge: every row is marked acknowledged
    assert [r["fse_id"] for r in rows if r["acked_at"] is None] == []


def _tla_unload(unit: SimUnit, tmp: Path, timeout: float) -> int:
    """``tla unload`` as the office runs it (the command's main, in this process)."""
    return cli.main(["--keys", str(tmp / "keys.json"), "--timeout", str(timeout), "unload",
                     "--port", unit.path, "--db", str(tmp / "office.db"),
                     "--trust", str(trust_pem(tmp / "trust.pem"))])


def _frames_of_a_clean_unload(tmp: Path) -> int:
    tmp.mkdir()
    unit = SimUnit(tmp, FSES, port_class=CablePort, buf_size=BUF)
    try:
        run(pair_host(unit.path, tmp / "keys.json"))
        before = unit.port.sent
        assert _tla_unload(unit, tmp, 5.0) == 0
        return unit.port.sent - before
    finally:
        unit.stop()


def test_cable_pulled_at_every_frame_of_tla_unload(tmp_path, capsys):
    """Issue 9 defect 3 too: a cut while the unit answers an ACK (applied there, the
    answer lost) used to leave the office rows with acked_at NULL for good."""
    frames = _frames_of_a_clean_unload(tmp_path / "clean")
    assert frames >= 9  # params, session (2), device, list, pulls, ack, Vitale list, end
    for cut in range(1, frames + 1):
        tmp = tmp_path / f"cut{cut}"
        tmp.mkdir()
        unit = SimUnit(tmp, FSES, port_class=CablePort, buf_size=BUF)
        try:
            run(pair_host(unit.path, tmp / "keys.json"))
            unit.port.cut_at = unit.port.sent + cut  # params, session, then the unload
            # the timeout is generous so that a slow frame before the cut (a loaded CI
            # machine) is not taken for the cut itself
            assert _tla_unload(unit, tmp, 1.0) == 1, f"cut at frame {cut}"  # no answer
            assert unit.port.reached.is_set()
            unit.call(unit.port.replug)
            assert _tla_unload(unit, tmp, 5.0) == 0, f"cut at frame {cut}"
            _check_exactly_once(unit, tmp / "office.db")
            # and once more: nothing new, nothing twice
            assert _tla_unload(unit, tmp, 5.0) == 0
            assert "0 FSEs imported, 0 already imported" in capsys.readouterr().out.splitlines()[-1]
            _check_exactly_once(unit, tmp / "office.db")
        finally:
            unit.stop()


CRASH_SCRIPT = """
import asyncio, os, sys
sys.path[:0] = [{repo!r}, {tests!r}]
from transfer.test_faults import _unload_then_crash
asyncio.run(_unload_then_crash(sys.argv[1], sys.argv[2], sys.argv[3]))
"""


async def _unload_then_crash(path: str, keys_path: str, db_path: str) -> None:
    """The host process dies (no cleanup at all) after importing, before the ACK."""
    keys = HostKeys.load_or_create(Path(keys_path))
    db = OfficeDb(db_path)
    async with link.connect(path, 5) as client:
        await link.open_session(client, keys)
        await unload(client, db, cards().trust, before_ack=lambda: os._exit(9))


def test_host_crash_before_the_acknowledgement(tmp_path):
    unit = SimUnit(tmp_path, FSES, port_class=CablePort)
    try:
        keys = run(pair_host(unit.path, tmp_path / "keys.json"))
        script = CRASH_SCRIPT.format(repo=str(REPO), tests=str(REPO / "tests"))
        done = subprocess.run([sys.executable, "-c", script, unit.path,
                               str(tmp_path / "keys.json"), str(tmp_path / "office.db")],
                              timeout=120, capture_output=True)
        assert done.returncode == 9, done.stderr.decode()[-2000:]
        with OfficeDb(tmp_path / "office.db") as db:
            assert len(db.fses()) == FSES  # imported and durable...
        assert {s for s, _ in unit.statuses().values()} == {"offered"}  # ...never acknowledged
        unit.call(unit.port.replug)
        report = run(_unload(unit.path, keys, tmp_path / "office.db"))
        assert report.imported == [] and sorted(report.already) == sorted(unit.fses)
        _check_exactly_once(unit, tmp_path / "office.db")
    finally:
        unit.stop()


def test_host_killed_mid_transfer(tmp_path):
    unit = SimUnit(tmp_path, FSES, port_class=CablePort, buf_size=BUF)
    try:
        keys = run(pair_host(unit.path, tmp_path / "keys.json"))
        unit.port.cut_at = unit.port.sent + 7  # a PULL of the unload
        unit.port.keep = 0.0  # nothing of it reaches the host: it waits, then dies
        pem = trust_pem(tmp_path / "trust.pem")
        proc = subprocess.Popen(
            [sys.executable, "-m", "host_tools.cli", "--keys", str(tmp_path / "keys.json"),
             "--timeout", "30", "unload", "--port", unit.path, "--db",
             str(tmp_path / "office.db"), "--trust", str(pem)], cwd=REPO,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert unit.port.reached.wait(60)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        assert {s for s, _ in unit.statuses().values()} != {"imported"}  # killed mid-way
        unit.call(unit.port.replug)
        run(_unload(unit.path, keys, tmp_path / "office.db"))
        _check_exactly_once(unit, tmp_path / "office.db")
    finally:
        unit.stop()
