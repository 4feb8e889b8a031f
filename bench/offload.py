"""Unloading signed FSEs from a simulated unit to the office database, end to end.

A child process is the unit, built as every unit is: ``board.build`` (the sim
board) and :class:`firmware.app.UnitApp` on its own thread, link on a pty. The
office pairs with it (the unit's keypad presses Valider), sets its clock and loads
the sample tariff and an FSE number range with the real ``tla`` command line; the
nurse's emulated CPS is enrolled and unlocks the unit, and N secured FSEs are
signed through the visit use cases with the emulated Carte Vitale (made before
the clock starts). Then this process, the office PC, unloads over smpclient:
``host_tools.importer.unload`` (LIST, PULL, verify every signature and the seal,
one fsync'd SQLite transaction per FSE, ACK), timed.

Figures printed beside their bounds:
- FSEs per second end to end (target >= 300 over the pty);
- wire bytes per FSE (both directions, counted at the unit's link port) against
  the FSE's own size (its COSE bytes); target ratio <= 1.45 (base64 alone costs
  4/3, and the 127-byte serial lines carry 93 bytes each: 127/93 = 1.366 is the
  framing floor);
- the time those wire bytes take at 115,200 baud (8N1: 10 bits per byte) and at USB
  full speed (12 Mbit/s signalling; bulk transfers carry at most 19 x 64-byte packets
  per 1 ms frame = 1,216,000 bytes/s, USB 2.0 spec §5.8.4).

    python bench/offload.py [--count 200] [--buf-size 16384] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import io
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402

from board import build  # noqa: E402
from board.config import BoardConfig  # noqa: E402
from board.sim.card_emulator import CardEmulator  # noqa: E402
from board.sim.cards.loader import load_card  # noqa: E402
from board.sim.pki import TestPki  # noqa: E402
from firmware.app import UnitApp, UnitThread  # noqa: E402
from firmware.billing.trust import CardAuthorities  # noqa: E402
from firmware.office_link.data_groups import TRANSFER_BUF_SIZE  # noqa: E402
from firmware.office_link.events import PairingRequested  # noqa: E402
from firmware.parts import Key, LinkEvent, LinkPort, Received  # noqa: E402
from firmware.visit import Terminal  # noqa: E402
from host_tools.cli import main as tla  # noqa: E402
from host_tools.demo import CPS_CARD, CPS_PIN, DAY_START, VITALE_CARD, office_files  # noqa: E402
from host_tools.demo_round import PRESCRIPTION, SPOT_ACTS  # noqa: E402
from host_tools.importer import UnloadReport, unload  # noqa: E402
from host_tools.office_db import OfficeDb  # noqa: E402
from host_tools.unit_link import client as link  # noqa: E402
from host_tools.unit_link.keystore import HostKeys  # noqa: E402

TARGET_FSE_PER_S = 300
TARGET_RATIO = 1.45
FRAMING_FLOOR = 127 / 93
UART_BYTES_PER_S = 115_200 / 10
USB_FS_BYTES_PER_S = 19 * 64 * 1000
PROFESSIONAL = "699999025"  # the sample CPS's billing number


class CountingPort:
    """The board's link port, counting the bytes each way."""

    def __init__(self, inner: LinkPort) -> None:
        self.inner = inner
        self.counts = {"in": 0, "out": 0}

    def poll(self, timeout: float) -> list[LinkEvent]:
        events = self.inner.poll(timeout)
        self.counts["in"] += sum(len(e.data) for e in events if isinstance(e, Received))
        return events

    def write(self, data: bytes) -> int:
        written = self.inner.write(data)
        self.counts["out"] += written
        return written

    def close(self) -> None:
        self.inner.close()


def _sign(t: Terminal, count: int) -> list[int]:
    """``count`` secured FSEs made on the spot (Vitale read, both cards sign)."""
    sizes = []
    for _ in range(count):
        visit = t.new_visit(list(SPOT_ACTS), prescription=PRESCRIPTION)
        view = visit.read_vitale()
        visit.choose_beneficiary(view.beneficiaries[0].index)
        if not visit.check().ok:
            raise RuntimeError("the bench visit's checks refused it")
        fse_id = visit.sign().fse_id
        sizes.append(len(t.unit.store.get_fse(fse_id)))
    return sizes


def _unit_process(tmp: str, buf_size: int, pipe) -> None:
    """The unit; answers 'enrol', ('sign', n), 'reset', 'counts', 'stop' on the pipe."""
    pki = TestPki.create()
    board = build(BoardConfig(board="sim", state_dir=f"{tmp}/unit"))
    path = board.link.path  # type: ignore[attr-defined]  # the sim board's pty
    port = CountingPort(board.link)
    board.link = port

    def on_event(action) -> None:
        if isinstance(action, PairingRequested):
            board.keypad.press(Key.VALIDER)  # type: ignore[union-attr]  # the nurse

    thread = UnitThread(lambda: UnitApp(board, f"{tmp}/unit", on_event=on_event,
                                        buf_size=buf_size))
    app = thread.start()
    slots = board.slots  # type: ignore[attr-defined]
    pipe.send(path)
    while True:
        command = pipe.recv()
        if command == "enrol":
            app.call(lambda: slots["ps"].insert(CardEmulator(load_card(CPS_CARD, pki))))
            app.call(lambda: app.terminal.enrol(CPS_PIN))
            pipe.send(app.call(lambda: app.unit.seal))
        elif isinstance(command, tuple):
            count = command[1]
            app.call(lambda: app.terminal.unlock(CPS_PIN))
            app.call(lambda: slots["vitale"].insert(CardEmulator(load_card(VITALE_CARD, pki))))
            pipe.send(app.call(functools.partial(_sign, app.terminal, count)))
        elif command == "reset":
            port.counts.update({"in": 0, "out": 0})
            pipe.send("ok")
        elif command == "counts":
            pipe.send(dict(port.counts))
        else:
            thread.stop()
            pipe.send("stopped")
            return


def _tla(*args: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = tla(list(args))
    if rc != 0:
        raise RuntimeError(f"tla {args[4]}: exit {rc}: {err.getvalue() or out.getvalue()}")


def _prepare(path: str, tmp: Path, count: int, pipe) -> tuple[bytes, list[int]]:
    """Pair, set the clock, enrol the CPS, load; then have ``count`` FSEs signed."""
    office = tmp / "office"
    office.mkdir()
    files, _ = office_files(office, TestPki.create())
    tariffs = next(f for f in files if f.name == "tariffs.json")
    ranges = office / "bench_ranges.csv"
    ranges.write_text(f"range_id,professional_id,first,last\nR-BENCH,{PROFESSIONAL},1,"
                      f"{count + 1000}\n", encoding="utf-8")
    base = ["--keys", str(office / "host_keys.json"), "--timeout", "10"]
    _tla(*base, "pair", "--port", path, "--name", "Bench office", "--wait", "30")
    _tla(*base, "clock", "set", "--port", path, "--time", DAY_START.strftime("%Y-%m-%dT%H:%M:%S"))
    pipe.send("enrol")
    seal = pipe.recv()
    _tla(*base, "load", "--port", path, str(tariffs), str(ranges))
    pipe.send(("sign", count))
    return seal, pipe.recv()


async def _office(path: str, tmp: Path, seal: bytes, pipe) -> tuple[float, UnloadReport]:
    keys = HostKeys.load_or_create(tmp / "office" / "host_keys.json")
    db = OfficeDb(tmp / "office.db")
    pki = TestPki.create()
    der = [c.public_bytes(Encoding.DER) for c in (pki.root, pki.cps_ca, pki.vitale_ca)]
    trust = CardAuthorities(der[:1], der[1:])
    async with link.connect(path, 10) as client:
        await link.open_session(client, keys)
        pipe.send("reset")
        pipe.recv()
        start = time.perf_counter()
        report = await unload(client, db, trust, reference_seals=[seal])
        elapsed = time.perf_counter() - start
        await link.close_session(client)
    db.close()
    return elapsed, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--buf-size", type=int, default=TRANSFER_BUF_SIZE)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    TestPki.create()  # make the test PKI keys (cached on disk) before forking
    with tempfile.TemporaryDirectory() as tmp:
        ctx = multiprocessing.get_context("fork")
        ours, theirs = ctx.Pipe()
        child = ctx.Process(target=_unit_process, args=(tmp, args.buf_size, theirs))
        child.start()
        try:
            path = ours.recv()
            seal, sizes = _prepare(path, Path(tmp), args.count, ours)
            elapsed, report = asyncio.run(_office(path, Path(tmp), seal, ours))
            ours.send("counts")
            counts = ours.recv()
        finally:
            ours.send("stop")
            ours.poll(15) and ours.recv()
            child.join(15)
            if child.is_alive():
                child.kill()
    n = len(report.imported)
    if n != args.count or report.rejected:
        print(f"error: imported {n} of {args.count}, rejected {report.rejected[:3]}", file=sys.stderr)
        return 1
    wire = counts["in"] + counts["out"]
    payload = sum(sizes) / n
    result = {
        "count": n,
        "buf_size": args.buf_size,
        "seconds": round(elapsed, 3),
        "fse_per_s": round(n / elapsed, 1),
        "target_fse_per_s": TARGET_FSE_PER_S,
        "payload_bytes_per_fse": round(payload, 1),
        "wire_bytes_per_fse": round(wire / n, 1),
        "wire_bytes_to_unit": counts["in"],
        "wire_bytes_from_unit": counts["out"],
        "wire_ratio": round(wire / n / payload, 4),
        "target_wire_ratio": TARGET_RATIO,
        "framing_floor_ratio": round(FRAMING_FLOOR, 4),
        "seconds_at_115200_baud": round(wire / UART_BYTES_PER_S, 1),
        "seconds_at_usb_full_speed": round(wire / USB_FS_BYTES_PER_S, 2),
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    print(f"{n} FSEs unloaded, verified and imported in {elapsed:.2f} s")
    print(f"  end to end       {result['fse_per_s']:8.1f} FSE/s   (target >= {TARGET_FSE_PER_S})")
    print(f"  payload          {payload:8.1f} B/FSE   (COSE_Sign bytes)")
    print(f"  on the wire      {wire / n:8.1f} B/FSE   ratio {result['wire_ratio']:.3f} "
          f"(target <= {TARGET_RATIO}; base64 + 127-byte lines floor {FRAMING_FLOOR:.3f})")
    print(f"  at 115,200 baud  {result['seconds_at_115200_baud']:8.1f} s for all {n}")
    print(f"  at USB full speed{result['seconds_at_usb_full_speed']:8.2f} s for all {n} "
          f"(bulk bound 1,216,000 B/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
