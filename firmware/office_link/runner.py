"""The office link's driver loop: a :class:`~firmware.parts.LinkPort` feeding the SMP server.

``LinkRunner(server, port, *, clock=time.monotonic, on_event=None,
idle_timeout_s=IDLE_TIMEOUT_S, stall_timeout_s=STALL_TIMEOUT_S,
output_limit=OUTPUT_LIMIT)`` owns no thread: the unit's main loop calls
:meth:`LinkRunner.step` over and over (``board.build()`` and ``tla-unit run`` do), and
calls :meth:`LinkRunner.press_valider` / :meth:`LinkRunner.press_annuler` when those keys
are pressed while a pairing code shows. Everything runs on the unit's thread.

One :meth:`~LinkRunner.step` ``(timeout)``:

1. polls the port (waits up to ``timeout`` s; less while output is waiting);
2. on :class:`~firmware.parts.LineUp` or :class:`~firmware.parts.LineDown` resets the
   link (``SMPServer.link_reset``: partial frame and session dropped) and discards the
   output not yet written, so a new host never inherits a session or stale replies;
   hands :class:`~firmware.parts.Received` bytes to the server;
3. ticks the server (pairing and session deadlines);
4. writes queued output with the port's non-blocking ``write`` (never waits);
5. resets the link when the host has sent nothing for ``idle_timeout_s``, when written
   output has made no progress for ``stall_timeout_s`` (a host that stopped reading) or
   when more than ``output_limit`` bytes are waiting.

Every event the server returns other than :class:`~firmware.office_link.events.Send` goes to
``on_event`` (screen, traces, logs); a stalled or overflowing host is reported as a
:class:`~firmware.office_link.events.LinkError` (``link.stalled``, ``link.overflow``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from firmware.parts import LineDown, LineUp, LinkPort, Received

from .events import Action, LinkError, Send

IDLE_TIMEOUT_S = 30.0  # nothing from the host this long: treat the line as gone
STALL_TIMEOUT_S = 5.0  # output waiting and none of it taken this long: drop the host
OUTPUT_LIMIT = 256 * 1024  # bytes waiting for the host, at most (8 replies of 32 KiB)
BUSY_POLL_S = 0.005  # poll timeout while output is waiting for room


class LinkServer(Protocol):
    """What the runner needs of :class:`~firmware.office_link.server.SMPServer`."""

    def receive_data(self, data: bytes, now: float) -> list[Action]: ...

    def tick(self, now: float) -> list[Action]: ...

    def confirm_pairing(self, now: float) -> list[Action]: ...

    def reject_pairing(self, now: float) -> list[Action]: ...

    def link_reset(self, now: float) -> list[Action]: ...


class LinkRunner:
    """Drives one link port for one server; see the module docstring."""

    def __init__(
        self,
        server: LinkServer,
        port: LinkPort,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_event: Callable[[Action], None] | None = None,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        stall_timeout_s: float = STALL_TIMEOUT_S,
        output_limit: int = OUTPUT_LIMIT,
    ) -> None:
        self.server = server
        self.port = port
        self.clock = clock
        self.on_event = on_event
        self.idle_timeout_s = idle_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self.output_limit = output_limit
        self._out = bytearray()
        now = clock()
        self._last_seen = now  # the host's last sign of life: bytes in, or output taken
        self._last_progress = now  # the last write that took bytes
        self._idle = False  # reset for idleness already done; waits for new bytes

    @property
    def pending_output(self) -> int:
        """Bytes the host has not taken yet."""
        return len(self._out)

    # ---- the unit's loop ----------------------------------------------------------------
    def step(self, timeout: float) -> None:
        """One round (see the module docstring); returns within about ``timeout`` s."""
        events = self.port.poll(min(timeout, BUSY_POLL_S) if self._out else timeout)
        now = self.clock()
        for event in events:
            if isinstance(event, (LineUp, LineDown)):
                self._reset(now)
            elif isinstance(event, Received) and event.data:
                self._last_seen, self._idle = now, False
                self._carry_out(self.server.receive_data(event.data, now), now)
        self._carry_out(self.server.tick(now), now)
        if not self._idle and now - self._last_seen >= self.idle_timeout_s:
            self._idle = True
            self._reset(now)

    def press_valider(self) -> None:
        """Valider pressed while the pairing code shows."""
        now = self.clock()
        self._carry_out(self.server.confirm_pairing(now), now)

    def press_annuler(self) -> None:
        """Annuler pressed while the pairing code shows."""
        now = self.clock()
        self._carry_out(self.server.reject_pairing(now), now)

    def reset(self) -> None:
        """Reset the link now (the unit restarts its link, e.g. before sleeping)."""
        self._reset(self.clock())

    # ---- inside ----------------------------------------------------------------------------
    def _reset(self, now: float) -> None:
        self._out.clear()
        self._last_seen = self._last_progress = now
        self._carry_out(self.server.link_reset(now), now)

    def _carry_out(self, actions: list[Action], now: float) -> None:
        for action in actions:
            if isinstance(action, Send):
                if not self._out:
                    self._last_progress = now  # the stall clock starts with the first byte
                self._out.extend(action.data)
            elif self.on_event is not None:
                self.on_event(action)
        self._push(now)

    def _push(self, now: float) -> None:
        if not self._out:
            return
        if len(self._out) > self.output_limit:
            self._drop(now, "link.overflow", f"more than {self.output_limit} bytes unread")
            return
        written = self.port.write(bytes(self._out))
        if written > 0:
            del self._out[:written]
            self._last_progress = self._last_seen = now
        elif now - self._last_progress >= self.stall_timeout_s:
            self._drop(now, "link.stalled", f"host took no output for {self.stall_timeout_s:g} s")

    def _drop(self, now: float, code: str, detail: str) -> None:
        if self.on_event is not None:
            self.on_event(LinkError(code, detail))
        self._reset(now)
