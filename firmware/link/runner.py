"""Runs the SMP server over a :class:`firmware.parts.LinkPort`: one round of
poll, feed, tick and flush per :meth:`LinkRunner.step`.

TEMP stand-in (replaced by the link branch at merge): the smallest working version.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from firmware.parts import LineDown, LinkPort, Received

from .events import Action, Send
from .server import SMPServer


class LinkRunner:
    def __init__(self, server: SMPServer, port: LinkPort, *,
                 clock: Callable[[], float] = time.monotonic,
                 on_event: Callable[[Action], None] | None = None,
                 idle_timeout_s: float = 60.0, stall_timeout_s: float = 5.0) -> None:
        self.server = server
        self.port = port
        self.clock = clock
        self.on_event = on_event
        self.idle_timeout_s = idle_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self._keys: list[bool] = []
        self._lock = threading.Lock()

    def press_valider(self) -> None:
        with self._lock:
            self._keys.append(True)

    def press_annuler(self) -> None:
        with self._lock:
            self._keys.append(False)

    def step(self, timeout: float) -> None:
        actions: list[Action] = []
        for event in self.port.poll(timeout):
            now = self.clock()
            if isinstance(event, Received):
                actions += self.server.receive_data(event.data, now)
            elif isinstance(event, LineDown):
                actions += self.server.link_reset(now)
        with self._lock:
            keys, self._keys = self._keys, []
        now = self.clock()
        for valider in keys:
            actions += (self.server.confirm_pairing(now) if valider
                        else self.server.reject_pairing(now))
        actions += self.server.tick(now)
        for action in actions:
            if isinstance(action, Send):
                self.port.write(action.data)
            elif self.on_event is not None:
                self.on_event(action)
