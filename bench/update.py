"""Uploading an update bundle over the pty, installing it, rolling back.

A child process is the unit's link: the real SMP server with the image group
(``firmware/office_link/group_image.py``) over the real update service and A/B slot
store (``firmware/update``), driven by the real link runner on a pty. This process is
the office: ``host_tools.update_link.upload`` (what ``tla update`` runs) inside an
authenticated session, every request sealed with its MAC.

The bundle: an MCUboot image signed by the real ``imgtool`` with the development key,
its payload a tar with the manifest and one wheel of ``--size`` bytes of incompressible
data (the install then unpacks and writes that much).

Figures printed beside their bound:
- ``upload_bytes_per_s``: bundle bytes per second of upload, the unit's install time
  (the last answer waits for it) taken out;
- ``framing_floor_bytes_per_s``: the pty's raw byte rate, measured in this run (the
  same processes' roles: this one writes, the child reads; best of three runs of at
  least 16 MiB), divided by the framing
  overhead of the upload's actual frames (wire bytes written / bundle bytes: base64,
  CRC16, the 127-byte lines, the SMP header, CBOR keys and the session MAC): what the
  upload would reach if only the line and its framing limited it; target >= 0.8x;
- ``usb_fs_floor_bytes_per_s``: the same framing on USB full speed (the real board's
  CDC-ACM link, 1,216,000 bytes/s of bulk at most): the upload's bound there;
- ``install_s`` and ``rollback_s`` on the simulated board, from the unit's own bench
  (``bench/update_unit.py`` ``measure``: a wheel of this tree's code, verified and
  installed by the whole ``UnitApp``; a failed health check back to the previous slot
  serving again), with ``install_floor_s``, the SHA-256 of what must be checked.

    python bench/update.py [--size 524288] [--buf-size 32768] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import multiprocessing
import os
import sys
import tempfile
import threading
import time
import zipfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import update_unit  # noqa: E402  # bench/update_unit.py: the unit's side

from board.sim.link_port import PtyLinkPort  # noqa: E402
from firmware.office_link.data_groups import TRANSFER_BUF_SIZE  # noqa: E402
from firmware.office_link.events import PairingRequested  # noqa: E402
from firmware.office_link.group_image import ImageGroup  # noqa: E402
from firmware.office_link.runner import LinkRunner  # noqa: E402
from firmware.office_link.security import Identity, MemoryPairedHosts  # noqa: E402
from firmware.office_link.server import SMPServer  # noqa: E402
from firmware.office_link.services import UnitInfo  # noqa: E402
from firmware.update import bundle as fmt  # noqa: E402
from firmware.update.service import UpdateService  # noqa: E402
from firmware.update.slots import SlotInfo, SlotStore  # noqa: E402
from host_tools import update_link as img  # noqa: E402
from host_tools.bundle_build import DEV_KEY, imgtool_sign  # noqa: E402
from host_tools.unit_link import client as link  # noqa: E402
from host_tools.unit_link.keystore import HostKeys  # noqa: E402

TARGET_RATIO = 0.8
# USB full speed bulk: at most 19 x 64-byte packets per 1 ms frame (USB 2.0 §5.8.4), the
# real board's CDC-ACM link (as bench/offload.py)
USB_FS_BYTES_PER_S = 19 * 64 * 1000
VERSION = "0.2.0"
FACTORY = SlotInfo("0.1.0", "11" * 32)


class _Services:
    """The unit services the OS and unit groups ask for (the clock is never set here)."""

    def unit_info(self) -> UnitInfo:
        return UnitInfo("TLA-BENCH", "0.1.0", "ab" * 32, None, 0, 1, False, "sim")

    def clock_now(self) -> datetime:
        raise RuntimeError("the bench unit has no clock")

    def set_clock(self, utc: datetime) -> None:
        raise OSError("the bench unit has no clock")


def make_bundle(work: Path, size: int) -> bytes:
    """A bundle whose wheel holds ``size`` bytes of random data."""
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"opentla-{VERSION}.dist-info/METADATA",
                   f"Metadata-Version: 2.1\nName: opentla\nVersion: {VERSION}\n")
        z.writestr("firmware/bench_blob.bin", os.urandom(size))
    payload = work / "payload.tar"
    payload.write_bytes(fmt.build_payload(VERSION, ["sim"], {
        f"opentla-{VERSION}-py3-none-any.whl": wheel.getvalue()}))
    out = work / "bench.bundle"
    imgtool_sign(payload, DEV_KEY, VERSION, out)
    return out.read_bytes()


# ---- the unit (child process) ---------------------------------------------------------------
def _unit_process(state_dir: str, buf_size: int, pipe) -> None:
    slots = SlotStore(Path(state_dir) / "update", FACTORY)
    service = UpdateService(slots, "a", fmt.builtin_keys(), board="sim")
    installs: list[float] = []
    chunk = service.upload_chunk

    def timed_chunk(off, data, **kw):
        start = time.perf_counter()
        progress = chunk(off, data, **kw)
        if progress.done:
            installs.append(time.perf_counter() - start)
        return progress

    service.upload_chunk = timed_chunk  # type: ignore[method-assign]
    server = SMPServer(Identity.generate(), MemoryPairedHosts(), _Services(), buf_size=buf_size,
                       groups=[ImageGroup(service)])
    port = PtyLinkPort()
    runner: LinkRunner | None = None

    def on_event(action) -> None:
        if isinstance(action, PairingRequested) and runner is not None:
            runner.press_valider()

    runner = LinkRunner(server, port, on_event=on_event)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            runner.step(0.02)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    pipe.send(port.path)
    pipe.recv()  # the upload is done
    stop.set()
    thread.join(10)
    pipe.send(installs[-1] if installs else -1.0)
    port.close()


def _reader_process(path: str, total: int, pipe) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY)
    pipe.send("ready")
    got = 0
    while got < total:
        got += len(os.read(fd, 1 << 16))
    pipe.send(time.perf_counter())
    os.close(fd)


def raw_pty_rate(total: int) -> float:
    """Bytes per second through a fresh pty, this process writing, a child reading."""
    import pty
    import termios
    import tty

    master, slave = pty.openpty()
    tty.setraw(slave, termios.TCSANOW)
    tty.setraw(master, termios.TCSANOW)
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.Process(target=_reader_process, args=(os.ttyname(slave), total,
                                                                  theirs))
    child.start()
    ours.recv()
    block = b"A" * 4096  # a pty moves at most a few KiB per write
    start = time.perf_counter()
    sent = 0
    while sent < total:
        sent += os.write(master, block[: total - sent])
    end = ours.recv()
    child.join(10)
    os.close(master)
    os.close(slave)
    return total / (end - start)


# ---- the office (this process) ---------------------------------------------------------------
async def _office(path: str, keys: HostKeys, bundle: bytes) -> tuple[float, int]:
    async with link.connect(path, 30) as client:
        await link.pair(client, keys, lambda code: None, wait_s=30, poll_s=0.05)
        await link.open_session(client, keys)
        conn = link._transport(client)._conn
        written = [0]
        write = conn.write

        def counting(data):
            written[0] += len(data)
            return write(data)

        conn.write = counting
        start = time.perf_counter()
        await img.upload(client, bundle, upgrade=True, answer_s=30)
        elapsed = time.perf_counter() - start
        conn.write = write
        await link.close_session(client)
    return elapsed, written[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512 * 1024, help="wheel bytes (default 512 KiB)")
    parser.add_argument("--buf-size", type=int, default=TRANSFER_BUF_SIZE)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    logging.getLogger("opentla").setLevel(logging.CRITICAL)  # the forced rollback logs an error
    with tempfile.TemporaryDirectory(prefix="bench-update-") as tmp:
        work = Path(tmp)
        bundle = make_bundle(work, args.size)
        ours, theirs = multiprocessing.Pipe()
        unit = multiprocessing.Process(target=_unit_process,
                                       args=(str(work / "unit"), args.buf_size, theirs))
        unit.start()
        path = ours.recv()
        keys = HostKeys.load_or_create(work / "keys.json")
        elapsed, wire = asyncio.run(_office(path, keys, bundle))
        ours.send("done")
        upload_install_s = ours.recv()  # the last answer waited for it: taken out
        unit.join(30)
        # the pty's rate, best of three runs of at least 16 MiB (a short run is latency)
        raw = max(raw_pty_rate(max(wire, 16 << 20)) for _ in range(3))
        (work / "sim").mkdir()
        board = update_unit.measure(work / "sim")  # the unit's own figures, sim board
    overhead = wire / len(bundle)
    upload_s = elapsed - max(upload_install_s, 0.0)
    install_s, rollback_s = board["install_s"], board["rollback_s"]
    figures = {
        "bundle_bytes": len(bundle),
        "upload_bytes_per_s": round(len(bundle) / upload_s),
        "raw_pty_bytes_per_s": round(raw),
        "framing_overhead": round(overhead, 4),
        "framing_floor_bytes_per_s": round(raw / overhead),
        "ratio": round(len(bundle) / upload_s / (raw / overhead), 4),
        "usb_fs_floor_bytes_per_s": round(USB_FS_BYTES_PER_S / overhead),
        "install_s": install_s,
        "install_floor_s": board["install_floor_s"],
        "rollback_s": rollback_s,
        "buf_size": args.buf_size,
    }
    if args.json:
        print(json.dumps(figures, sort_keys=True))
        return 0
    print(f"bundle: {len(bundle)} bytes, unit buffer {args.buf_size} bytes")
    print(f"upload:  {figures['upload_bytes_per_s']:>12,} bytes/s   (install time taken out)")
    print(f"floor:   {figures['framing_floor_bytes_per_s']:>12,} bytes/s   = raw pty "
          f"{figures['raw_pty_bytes_per_s']:,} bytes/s / framing {overhead:.3f} wire bytes per "
          "bundle byte")
    print(f"ratio:   {figures['ratio']:.3f} of the floor (target >= {TARGET_RATIO})")
    print(f"USB FS:  {figures['usb_fs_floor_bytes_per_s']:>12,} bytes/s   the same framing on "
          "the real board's USB full-speed link")
    print(f"install: {install_s:.3f} s   verify + unpack + write into the other slot, sim "
          f"board, {board['bundle_bytes']:,}-byte bundle of this tree (SHA-256 floor "
          f"{board['install_floor_s']:.3f} s)")
    print(f"rollback: {rollback_s:.3f} s  health check failed -> previous slot serving again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
