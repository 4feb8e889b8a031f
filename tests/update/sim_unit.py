"""The whole unit (``UnitApp`` on the simulated board) on a thread, started again after
each reset the way ``tla-unit run`` does, its link on a pty behind a stable symlink."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from board import build
from board.config import load_config
from firmware.app import UnitApp


class SimUnitLoop:
    def __init__(self, state: Path, *, make: Callable[..., UnitApp] | None = None,
                 env: dict[str, str] | None = None):
        self.state = state
        self.link = state.parent / f"{state.name}-link"
        self.config = load_config(board="sim", config_path=None, env=env or {},
                                  state_dir=str(state), link=str(self.link))
        self.make = make or (lambda board, state: UnitApp(board, state))
        self.starts: list[UnitApp] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="sim-unit", daemon=True)

    def __enter__(self) -> SimUnitLoop:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError(f"the unit did not start: {self.errors}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    @property
    def app(self) -> UnitApp:
        return self.starts[-1]

    def call(self, fn: Callable[[UnitApp], Any]) -> Any:
        app = self.app
        return app.call(lambda: fn(app))

    def wait_started(self, count: int, timeout: float = 60) -> UnitApp:
        """Until the unit has started ``count`` times and run its trial's health check."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.starts) >= count and self.app.updates.decided:
                return self.app
            time.sleep(0.02)
        raise AssertionError(f"{len(self.starts)} starts, errors {self.errors}")

    def _main(self) -> None:
        while not self._stop.is_set():
            board = build(self.config)
            try:
                app = self.make(board, self.state)
            except BaseException as exc:  # a start that failed: the service starts again
                board.close()
                self.errors.append(exc)
                continue
            self.starts.append(app)
            self._ready.set()
            app.run(self._stop)
