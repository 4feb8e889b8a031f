"""The UI on a board: what the unit's main loop (firmware/app.py) does for the screen.

:class:`UiHost` feeds the :class:`~firmware.ui.Ui` the board's events (keys, cards,
a periodic tick, the battery level, the link's pairing events), runs its effects
(card jobs on the unit's own thread, one per main-loop round, beeps, the pairing
answer) and shows its screen on the board's display when the image changed.
It runs on the thread that owns the unit (the SQLite store belongs to it).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import Protocol

from firmware.parts import Board

from .events import AnswerPairing, BatteryLevel, Event, RunJob, Sound, Tick, run_job
from .machine import Ui
from .view import Status, View

log = logging.getLogger("opentla.ui")

TICK_EVERY_S = 0.5  # the start screen's two seconds and the idle lock
BATTERY_EVERY_S = 5.0  # how often the gauge is read
WARM_GLYPHS_PER_ROUND = 8  # glyphs rasterized in an idle round until all are (render.py)


class PairingAnswer(Protocol):
    """The link runner's side of the pairing code screen."""

    def press_valider(self) -> None: ...

    def press_annuler(self) -> None: ...


class UiHost:
    """``host.feed(event)`` from the main loop; ``host.step(now)`` once a round."""

    def __init__(self, ui: Ui, board: Board, pairing: PairingAnswer,
                 monotonic: Callable[[], float]):
        self.ui = ui
        self.board = board
        self.pairing = pairing
        self.monotonic = monotonic
        self.jobs: deque[RunJob] = deque()
        self._shown: bytes | None = None  # the last image sent to the display
        self._drawn: tuple[Status, View] | None = None  # what that image shows
        self._tick_at = float("-inf")
        self._battery_at = monotonic()  # Ui() read the gauge already
        self._battery = ui.battery
        self._warming: Iterator[None] | None = None
        if board.display is not None:
            from .render import warm_glyphs

            # the glyphs rasterized once, not at the first screen of each; a few each
            # idle round once the unit runs, so that the boot does not wait for them
            self._warming = warm_glyphs()
        self.show()

    @property
    def idle(self) -> bool:
        """No card job queued or running."""
        return not self.jobs and self.ui.pending is None

    def feed(self, event: Event) -> None:
        """One event to the UI; its effects run (jobs are queued); the screen shown."""
        for effect in self.ui.handle(event):
            if isinstance(effect, RunJob):
                self.jobs.append(effect)
            elif isinstance(effect, Sound):
                if self.board.buzzer is not None:
                    self.board.buzzer.beep(effect.kind)
            elif isinstance(effect, AnswerPairing):
                if effect.accept:
                    self.pairing.press_valider()
                else:
                    self.pairing.press_annuler()
        self.show()

    def step(self, now: float) -> None:
        """Once a main-loop round: the tick, the battery, then at most one job
        (card I/O, up to about a second: the link is served between two jobs)."""
        if now - self._tick_at >= TICK_EVERY_S:
            self._tick_at = now
            self.feed(Tick(now))
        gauge = self.board.gauge
        if gauge is not None and now - self._battery_at >= BATTERY_EVERY_S:
            self._battery_at = now
            percent = gauge.percent()
            if percent != self._battery:
                self._battery = percent
                self.feed(BatteryLevel(percent))
        if self.jobs:
            job = self.jobs.popleft()
            log.debug("ui_job job=%s", job.job)
            self.feed(run_job(job))
        elif self._warming is not None:
            for _ in range(WARM_GLYPHS_PER_ROUND):
                if next(self._warming, StopIteration) is StopIteration:
                    self._warming = None
                    break

    def show(self) -> None:
        """Render the screen when what it shows changed (most ticks change
        nothing); send it only when the image differs from the last one sent."""
        display = self.board.display
        if display is None:
            return
        shown = (self.ui.status, self.ui.view())
        if shown == self._drawn:
            return
        self._drawn = shown
        from .render import render  # Pillow and the fonts: once a screen is drawn

        image = render(*shown)
        data = image.tobytes()
        if data != self._shown:
            display.show(image)
            self._shown = data
