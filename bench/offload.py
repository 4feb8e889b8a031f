"""Unloading signed FSEs from a simulated unit to the office database, end to end.

A child process plays the unit (real store with N secured FSEs, SMP server, data
groups, pty port); this process is the office PC: smpclient over the pty, pairing,
session, then ``host_tools.importer.unload`` (LIST, PULL, verify every signature
with firmware.billing FseVerifier, one fsync'd SQLite transaction per FSE, ACK).

Figures printed beside their bounds:
- FSEs per second end to end (target >= 300 over the pty);
- wire bytes per FSE (both directions, counted at the unit's port) against the FSE's
  own size (its COSE bytes); target ratio <= 1.45 (base64 alone costs 4/3, and the
  127-byte serial lines carry 93 bytes each: 127/93 = 1.366 is the framing floor);
- the time those wire bytes take at 115,200 baud (8N1: 10 bits per byte) and at USB
  full speed (12 Mbit/s signalling; bulk transfers carry at most 19 x 64-byte packets
  per 1 ms frame = 1,216,000 bytes/s, USB 2.0 spec §5.8.4).

    python bench/offload.py [--count 1000] [--buf-size 16384] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the test fixtures

from transfer.helpers import SimUnit, cards, pair_host  # noqa: E402

from firmware.link.data_groups import TRANSFER_BUF_SIZE  # noqa: E402
from host_tools.importer import unload  # noqa: E402
from host_tools.link import client as link  # noqa: E402
from host_tools.office_db import OfficeDb  # noqa: E402

TARGET_FSE_PER_S = 300
TARGET_RATIO = 1.45
FRAMING_FLOOR = 127 / 93
UART_BYTES_PER_S = 115_200 / 10
USB_FS_BYTES_PER_S = 19 * 64 * 1000


def _unit_process(tmp: str, count: int, buf_size: int, pipe) -> None:
    """The unit: serve the pty; answer 'reset' / 'counts' / 'stop' on the pipe."""
    unit = SimUnit(Path(tmp), count, buf_size=buf_size)
    counts = {"in": 0, "out": 0}
    server = unit.server
    receive = server.receive_data

    def counted_receive(data: bytes, now: float):
        counts["in"] += len(data)
        actions = receive(data, now)
        counts["out"] += sum(len(a.data) for a in actions if hasattr(a, "data"))
        return actions

    server.receive_data = counted_receive  # type: ignore[method-assign]
    sizes = [len(c) for c in unit.fses.values()]
    pipe.send((unit.path, sizes))
    while True:
        command = pipe.recv()
        if command == "reset":
            counts.update({"in": 0, "out": 0})
            pipe.send("ok")
        elif command == "counts":
            pipe.send(dict(counts))
        else:
            unit.stop()
            pipe.send("stopped")
            return


async def _office(path: str, tmp: Path, pipe) -> tuple[float, object]:
    keys = await pair_host(path, tmp / "host_keys.json")
    db = OfficeDb(tmp / "office.db")
    trust = cards().trust
    async with link.connect(path, 10) as client:
        await link.open_session(client, keys)
        pipe.send("reset")
        pipe.recv()
        start = time.perf_counter()
        report = await unload(client, db, trust)
        elapsed = time.perf_counter() - start
        await link.close_session(client)
    db.close()
    return elapsed, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--buf-size", type=int, default=TRANSFER_BUF_SIZE)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cards()  # make the test PKI keys (cached on disk) before forking
    with tempfile.TemporaryDirectory() as tmp:
        ctx = multiprocessing.get_context("fork")
        ours, theirs = ctx.Pipe()
        child = ctx.Process(target=_unit_process, args=(tmp, args.count, args.buf_size, theirs))
        child.start()
        try:
            path, sizes = ours.recv()
            elapsed, report = asyncio.run(_office(path, Path(tmp), ours))
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
