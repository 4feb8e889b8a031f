"""A small unit for pty tests: an SMP server over a real pty, driven by the real
LinkRunner on a background thread (the unit's thread), with work handed to it."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from board.sim.link_port import PtyLinkPort
from firmware.office_link.events import Action, PairingRequested
from firmware.office_link.runner import LinkRunner


class PtyUnit:
    """``with PtyUnit(server) as unit:`` serves ``server`` on ``unit.path``.

    ``events`` lists every non-Send action; ``on_event`` sees each on the unit's thread;
    ``auto_confirm`` presses Valider when a pairing code shows; :meth:`call` runs a
    function on the unit's thread between two link rounds."""

    def __init__(self, server, *, auto_confirm: bool = False,
                 on_event: Callable[[Action], None] | None = None, **runner_options: Any) -> None:
        self.server = server
        self.auto_confirm = auto_confirm
        self.on_event = on_event
        self.events: list[Action] = []
        self.port = PtyLinkPort()
        self.path = self.port.path
        self.runner = LinkRunner(server, self.port, on_event=self._event, **runner_options)
        self._calls: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="pty-unit", daemon=True)

    def __enter__(self) -> PtyUnit:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.port.close()

    def call(self, fn: Callable[[], Any], timeout: float = 60) -> Any:
        box: queue.Queue = queue.Queue()
        self._calls.put((fn, box))
        ok, value = box.get(timeout=timeout)
        if not ok:
            raise value
        return value

    def _event(self, action: Action) -> None:
        self.events.append(action)
        if self.on_event is not None:
            self.on_event(action)
        if isinstance(action, PairingRequested) and self.auto_confirm:
            self.runner.press_valider()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self.runner.step(0.02)
            while not self._calls.empty():
                fn, box = self._calls.get()
                try:
                    box.put((True, fn()))
                except BaseException as exc:  # handed back to the test's thread
                    box.put((False, exc))
