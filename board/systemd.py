"""systemd's service notification protocol (``sd_notify``), spoken by ``tla-unit run``.

systemd passes ``NOTIFY_SOCKET`` (a filesystem path, or ``@name`` for an abstract
socket) to a ``Type=notify`` service; the service sends newline-separated
``KEY=value`` lines as one datagram each (sd_notify(3)). With ``WatchdogSec=`` it
also passes ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``): the service must send
``WATCHDOG=1`` more often than that, or systemd kills and restarts it.

    notifier = Notifier.from_env()
    app.run(stop, after_step=notifier.after_step)   # READY=1 once, then WATCHDOG=1

:meth:`Notifier.after_step` runs at the end of each round of the unit's main loop
(``firmware/app.py`` ``UnitApp.run``): the first round sends ``READY=1`` (the link
is open and served), later rounds ``WATCHDOG=1`` at most every half watchdog
period. A round that hangs sends nothing, so systemd restarts the unit. Without
``NOTIFY_SOCKET`` (a shell, the tests) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("opentla.systemd")


def socket_address(value: str) -> str:
    """``NOTIFY_SOCKET`` as ``socket.sendto`` takes it (``@x`` is the abstract ``\\0x``)."""
    return "\0" + value[1:] if value.startswith("@") else value


class Notifier:
    """Sends sd_notify datagrams to ``address`` (None: to nobody)."""

    def __init__(self, address: str | None, *, watchdog_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.address = address
        self.watchdog_s = watchdog_s
        self.clock = clock
        self.ready_sent = False
        self._kicked_at = float("-inf")
        self._sock: socket.socket | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> Notifier:
        """From ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` (a watchdog
        meant for another process, as after a fork, is not ours)."""
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET") or None
        watchdog_s = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            watchdog_s = int(usec) / 1e6
        return cls(socket_address(address) if address else None, watchdog_s=watchdog_s,
                   clock=clock)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, text: str) -> bool:
        """Send one datagram (``KEY=value`` lines); False if nobody listens or it
        could not be sent (logged: systemd being gone must not stop the unit)."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(text.encode(), self.address)
        except OSError as exc:
            log.warning("sd_notify_failed socket=%r error=%s", self.address, exc)
            return False
        return True

    def after_step(self) -> None:
        """End of one main-loop round: READY=1 the first time, then WATCHDOG=1
        every half watchdog period."""
        if not self.ready_sent:
            self.ready_sent = True
            self.notify("READY=1\nSTATUS=serving the office link")
            self._kicked_at = self.clock()
            return
        if self.watchdog_s is None:
            return
        now = self.clock()
        if now - self._kicked_at >= self.watchdog_s / 2:
            self._kicked_at = now
            self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
