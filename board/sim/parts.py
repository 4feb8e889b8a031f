"""The simulated board: every part a twin of a ``board/pi`` driver (docs/board.md).

Card slots are :class:`~board.sim.slot.SimCardSlot` (emulated cards at the
character level) behind :class:`~firmware.iso7816.direct.DirectReader`; the clock is
the saved :class:`~board.sim.clock.SavedClock`; the gauge the register-level
:class:`~board.sim.fuel_gauge.SimMax17048`; the link a pty
(:class:`~board.sim.link_port.PtyLinkPort`). The display keeps every frame, the
keypad is a queue of key events, the buzzer records its beeps.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from board import COMMON_SEALED, link_symlink
from board.config import BoardConfig, ConfigError
from board.sim.clock import SavedClock
from board.sim.fuel_gauge import SimMax17048
from board.sim.link_port import PtyLinkPort
from board.sim.slot import SimCardSlot
from firmware.iso7816.direct import DirectReader
from firmware.parts import DISPLAY_HEIGHT, DISPLAY_WIDTH, Beep, Board, Key, KeyEvent

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger("opentla.board.sim")

# the gauge twin shares the driver's register map: board/pi/fuel_gauge.py runs too
SEALED = (*COMMON_SEALED, "board/sim", "board/pi/__init__.py", "board/pi/fuel_gauge.py")


class SimDisplay:
    """The SSD1306's twin: keeps every frame shown (a copy), the contrast and
    the power-save state."""

    def __init__(self) -> None:
        self.frames: list[Image] = []
        self.contrast_level = 0xCF  # the SSD1306's reset value
        self.asleep = False

    def show(self, image: Image) -> None:
        if image.size != (DISPLAY_WIDTH, DISPLAY_HEIGHT):
            raise ValueError(f"the display is {DISPLAY_WIDTH}x{DISPLAY_HEIGHT}, "
                             f"not {image.size[0]}x{image.size[1]}")
        self.frames.append(image.convert("1"))

    def contrast(self, level: int) -> None:
        if not 0 <= level <= 255:
            raise ValueError("contrast is 0..255")
        self.contrast_level = level

    def power_save(self, on: bool) -> None:
        self.asleep = on


class SimKeypad:
    """The keypad's twin: a thread-safe queue of key events. :meth:`press` is a
    press and release; :meth:`read_lines` feeds key names (``valider``,
    ``annuler``, ``0``...) from a text stream on a thread of its own."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._events: list[KeyEvent] = []
        self._lock = threading.Lock()

    def press(self, key: Key) -> None:
        now = self.clock()
        with self._lock:
            self._events += [KeyEvent(key, True, now), KeyEvent(key, False, now)]

    def waiting(self) -> int:
        """Key events not yet taken by :meth:`events`."""
        with self._lock:
            return len(self._events)

    def events(self) -> list[KeyEvent]:
        with self._lock:
            out, self._events = self._events, []
        return out

    def read_lines(self, stream: TextIO) -> threading.Thread:
        def pump() -> None:
            for line in stream:
                name = line.strip().lower()
                if not name:
                    continue
                try:
                    self.press(Key(name))
                except ValueError:
                    log.warning("unknown_key name=%s known=%s", name,
                                ",".join(k.value for k in Key))
        thread = threading.Thread(target=pump, name="sim-keys", daemon=True)
        thread.start()
        return thread


class SimBuzzer:
    """The buzzer's twin: records every beep."""

    def __init__(self) -> None:
        self.beeps: list[Beep] = []

    def beep(self, kind: Beep) -> None:
        self.beeps.append(kind)


@dataclass
class SimBoard(Board):
    """A :class:`Board` that also hands out its simulated slots (``vitale``,
    ``ps``), so a test or the simulator can insert and pull emulated cards.
    Its link is always the pty port, whose ``path`` is what the office opens."""

    link: PtyLinkPort
    slots: dict[str, SimCardSlot] = field(default_factory=dict)


def build(config: BoardConfig) -> SimBoard:
    state = config.state_path()
    state.mkdir(parents=True, exist_ok=True)
    if config.keys not in ("", "stdin") and not Path(config.keys).exists():
        raise ConfigError(f"keys must be \"stdin\", a file or device to read key names "
                          f"from, or empty, not {config.keys!r}")
    slots = {"vitale": SimCardSlot(), "ps": SimCardSlot()}
    # link: a character device to open (a virtio port under QEMU), else a symlink to make
    device = config.link if config.link and Path(config.link).is_char_device() else None
    link = PtyLinkPort(device)
    keypad = SimKeypad()
    board = SimBoard(
        kind="sim", vitale=DirectReader(slots["vitale"]), cps=DirectReader(slots["ps"]),
        link=link, clock=SavedClock(state / "clock.json"),
        gauge=SimMax17048(soc=config.battery_percent), display=SimDisplay(), keypad=keypad,
        buzzer=SimBuzzer(), sealed=SEALED, slots=slots)
    if config.link and device is None:
        board.closers.append(link_symlink(Path(config.link), link.path))
    if config.keys == "stdin":
        keypad.read_lines(sys.stdin)
    elif config.keys:  # e.g. the virtio port the QEMU boot test presses keys on
        keys = open(config.keys, encoding="utf-8")
        board.closers.append(keys.close)
        keypad.read_lines(keys)
    return board
