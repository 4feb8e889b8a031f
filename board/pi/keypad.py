"""The 4x4 key matrix (docs/board.md §Wiring) on gpiozero, as a
:class:`firmware.parts.Keypad`.

Rows are outputs held high; columns are inputs with pull-ups. A scan drives one
row low at a time and reads the columns: a closed key pulls its column low.
gpiozero has no keypad class and its mock pins do not bounce, so debouncing is
ours (:class:`Debouncer`, sans-I/O: fed the raw set of closed keys and the time,
it says which keys went down or up). Scans happen when :meth:`MatrixKeypad.events`
is called, i.e. every main-loop round (20 ms at most).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from firmware.parts import Key, KeyEvent

from .config import KEYPAD_COLUMNS, KEYPAD_LAYOUT, KEYPAD_ROWS

DEBOUNCE_S = 0.03  # a contact must hold its new level this long to count


class Debouncer:
    """Per key: a change of raw level counts once it has lasted ``hold_s``."""

    def __init__(self, hold_s: float = DEBOUNCE_S):
        self.hold_s = hold_s
        self._stable: dict[Key, bool] = {}
        self._since: dict[Key, tuple[bool, float]] = {}  # raw level differing from stable

    def feed(self, closed: Iterable[Key], now: float) -> list[KeyEvent]:
        closed = set(closed)
        out: list[KeyEvent] = []
        for key in closed | set(self._stable) | set(self._since):
            raw = key in closed
            stable = self._stable.get(key, False)
            if raw == stable:
                self._since.pop(key, None)
                continue
            # a bounce back to the stable level dropped the key from _since above,
            # so the hold restarts from the latest change
            _, since = self._since.setdefault(key, (raw, now))
            if now - since >= self.hold_s:
                self._stable[key] = raw
                del self._since[key]
                out.append(KeyEvent(key, raw, now))
        out.sort(key=lambda e: list(Key).index(e.key))
        return out


class MatrixKeypad:
    """``rows``/``columns``: BCM pin numbers; ``layout[r][c]`` the key at row r,
    column c. gpiozero's pin factory decides the backend (lgpio on the Pi,
    ``GPIOZERO_PIN_FACTORY=mock`` without hardware)."""

    def __init__(self, rows: Sequence[int] = KEYPAD_ROWS,
                 columns: Sequence[int] = KEYPAD_COLUMNS,
                 layout: Sequence[Sequence[Key]] = KEYPAD_LAYOUT, *,
                 clock: Callable[[], float] = time.monotonic, hold_s: float = DEBOUNCE_S):
        from gpiozero import DigitalInputDevice, DigitalOutputDevice  # lazily: board/pi only

        if len(layout) != len(rows) or any(len(r) != len(columns) for r in layout):
            raise ValueError("the keypad layout must have one key per row and column")
        self.layout = layout
        self.clock = clock
        self.debouncer = Debouncer(hold_s)
        self._rows = [DigitalOutputDevice(pin, initial_value=True) for pin in rows]
        self._columns = [DigitalInputDevice(pin, pull_up=True) for pin in columns]

    def scan(self) -> set[Key]:
        """The keys closed now (raw, not debounced)."""
        closed: set[Key] = set()
        for r, row in enumerate(self._rows):
            row.off()  # drive low
            for c, column in enumerate(self._columns):
                if column.is_active:  # pull-up input: active = pulled low
                    closed.add(self.layout[r][c])
            row.on()
        return closed

    def events(self) -> list[KeyEvent]:
        return self.debouncer.feed(self.scan(), self.clock())

    def close(self) -> None:
        for device in (*self._rows, *self._columns):
            device.close()
