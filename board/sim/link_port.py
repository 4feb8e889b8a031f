"""The simulated unit's link port: a pseudo-terminal the office tools open like a USB port.

``os.openpty()`` gives a master/slave pair; the firmware's SMP server reads and writes
the master, the office PC opens the slave path (``/dev/pts/N``) with pyserial, smpclient
or smpmgr exactly as it would open ``/dev/ttyACM0``. The slave fd stays open here so
the pty survives between client sessions.

Run it alone::

    python -m board.sim.link_port --auto-confirm --state /tmp/tla-sim
    # prints: link port: /dev/pts/7
    tla pair --port /dev/pts/7

``--auto-confirm`` is the scripted key press: the simulated person presses Valider
when the pairing code appears.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from firmware.link.events import Action, PairingRequested, Send
from firmware.link.security import Identity, JsonTrustStore, MemoryTrustStore, write_atomically
from firmware.link.server import SMPServer
from firmware.link.services import UnitInfo
from firmware.parts import LinkEvent, Received


@dataclass
class SimUnitServices:
    """The simulated unit's clock (system clock + offset) and a fixed description."""

    info: UnitInfo = field(
        default_factory=lambda: UnitInfo(
            serial="SIM-0001",
            firmware="0.1.0-sim",
            seal="00" * 32,
            battery_percent=87,
            storage_used=0,
            storage_total=64 * 1024 * 1024,
            locked=True,
        )
    )
    offset: timedelta | None = None  # None: the clock was never set
    clock_sets: list[datetime] = field(default_factory=list)

    def unit_info(self) -> UnitInfo:
        return self.info

    def clock_now(self) -> datetime:
        if self.offset is None:
            raise RuntimeError("clock never set")
        return datetime.now(UTC) + self.offset

    def set_clock(self, utc: datetime) -> None:
        self.offset = utc - datetime.now(UTC)
        self.clock_sets.append(utc)


class PtyLinkPort:
    """Serves an :class:`SMPServer` on a pty master from a background thread.

    TEMP stand-in (replaced by the link branch at merge): ``PtyLinkPort()``
    without a server is a plain :class:`firmware.parts.LinkPort` (``poll``,
    ``write``, ``close``) over the pty, attribute ``.path``."""

    def __init__(
        self,
        server: SMPServer | None = None,
        *,
        auto_confirm: bool = False,
        on_event: Callable[[Action], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server = server
        self.auto_confirm = auto_confirm
        self.on_event = on_event
        self.clock = clock
        self.events: list[Action] = []  # every non-Send action, in order
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no newline translation: a plain byte pipe
        self.path = os.ttyname(self._slave)
        self._keys: list[str] = []  # key presses queued from other threads
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- LinkPort (TEMP stand-in) ---------------------------------------------------
    def poll(self, timeout: float) -> list[LinkEvent]:
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0.0))
        if not ready:
            return []
        try:
            data = os.read(self.master, 4096)
        except OSError:
            return []
        return [Received(data)] if data else []

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view):]
        return len(data)

    def close(self) -> None:
        self.stop()

    # ---- key presses (thread-safe) ---------------------------------------------------
    def press_valider(self) -> None:
        with self._lock:
            self._keys.append("valider")

    def press_annuler(self) -> None:
        with self._lock:
            self._keys.append("annuler")

    # ---- life cycle --------------------------------------------------------------------
    def start(self) -> PtyLinkPort:
        self._thread = threading.Thread(target=self.serve, name="pty-link-port", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self.master = self._slave = -1

    def __enter__(self) -> PtyLinkPort:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve(self) -> None:
        """Move bytes until :meth:`stop`; the server does the rest."""
        server = self.server
        if server is None:
            raise RuntimeError("serve() needs a server; a bare port is polled by a LinkRunner")
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.02)
            now = self.clock()
            actions: list[Action] = []
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    data = b""
                if data:
                    actions += server.receive_data(data, now)
            with self._lock:
                keys, self._keys = self._keys, []
            for key in keys:
                if key == "valider":
                    actions += server.confirm_pairing(now)
                else:
                    actions += server.reject_pairing(now)
            actions += server.tick(now)
            self._carry_out(actions, now)

    def _carry_out(self, actions: list[Action], now: float) -> None:
        for action in actions:
            if isinstance(action, Send):
                view = memoryview(action.data)
                while view:
                    written = os.write(self.master, view)
                    view = view[written:]
                continue
            self.events.append(action)
            if self.on_event is not None:
                self.on_event(action)
            if isinstance(action, PairingRequested) and self.auto_confirm:
                self.press_valider()  # the scripted person presses Valider


def load_identity(path: Path) -> Identity:
    """The unit's long-term keys from ``path`` (created on first use, mode 0600)."""
    if path.exists():
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Identity.from_raw(bytes.fromhex(raw["sign"]), bytes.fromhex(raw["kx"]))
    identity = Identity.generate()
    sign, kx = identity.raw_private()
    write_atomically(path, json.dumps({"sign": sign.hex(), "kx": kx.hex()}).encode())
    return identity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the simulated unit's SMP link on a pty.")
    parser.add_argument("--auto-confirm", action="store_true", help="press Valider on pairing")
    parser.add_argument("--state", type=Path, help="directory for the unit keys and paired hosts")
    parser.add_argument("--link", type=Path, help="also create this symlink to the pty")
    args = parser.parse_args(argv)
    if args.state:
        identity = load_identity(args.state / "unit_identity.json")
        trust = JsonTrustStore(args.state / "paired_hosts.json")
    else:
        identity, trust = Identity.generate(), MemoryTrustStore()
    server = SMPServer(identity, trust, SimUnitServices())

    def show(action: Action) -> None:
        text = getattr(action, "message_fr", None) or repr(action)
        print(f"[unit] {text}", flush=True)

    port = PtyLinkPort(server, auto_confirm=args.auto_confirm, on_event=show)
    if args.link:
        if args.link.is_symlink():
            args.link.unlink()
        args.link.symlink_to(port.path)
    print(f"link port: {port.path}", flush=True)
    try:
        port.serve()
    except KeyboardInterrupt:
        pass
    finally:
        port.stop()
        if args.link and args.link.is_symlink():
            args.link.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
