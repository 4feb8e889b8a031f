"""The parts of a board, as the firmware sees them (model: gpiozero's pin factories).

Every part is a small :class:`typing.Protocol`. ``board.build(config)`` (the one
composition root, ``board/__init__.py``) returns a :class:`Board` holding one
implementation of each for the chosen board kind: ``sim`` (simulated twins),
``pi`` (the reference Raspberry Pi board) or ``pc`` (PC/SC readers, the PC's
clock). Firmware code uses only these protocols and never knows which it got.

| part          | protocol        | what it does                                         |
|---------------|-----------------|------------------------------------------------------|
| card slot     | :class:`SlotPort` (``firmware/iso7816/port.py``), reached through :class:`CardReader` | ISO 7816-3 line of one slot / a ready APDU connection |
| office link   | :class:`LinkPort` | byte stream to the office PC with line up/down events |
| display       | :class:`Display`  | show a 128x64 1-bit image, contrast, power save      |
| keypad        | :class:`Keypad`   | key events with their time                           |
| clock / RTC   | :class:`UnitClock` (``firmware/unit/clock.py``) | wall clock set by the office |
| battery gauge | :class:`BatteryGauge` | state of charge                                  |
| buzzer        | :class:`Buzzer`   | short beeps                                          |
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from firmware.iso7816.apdu import CardConnection
from firmware.iso7816.port import SlotPort

if TYPE_CHECKING:  # Pillow is needed only by the display's users
    from PIL.Image import Image

    from firmware.unit.clock import UnitClock

DISPLAY_WIDTH = 128
DISPLAY_HEIGHT = 64

__all__ = [
    "DISPLAY_HEIGHT", "DISPLAY_WIDTH", "BatteryGauge", "Beep", "Board", "Buzzer",
    "CardReader", "Display", "Key", "KeyEvent", "Keypad", "LineDown", "LineUp",
    "LinkEvent", "LinkPort", "Received", "SlotPort",
]


# ---- card slots ---------------------------------------------------------------------
class CardReader(Protocol):
    """One card slot as the use cases see it. A direct slot (a :class:`SlotPort`
    driven by :class:`firmware.iso7816.link.CardLink`) and a PC/SC reader both give
    one."""

    def connect(self) -> CardConnection:
        """Power the card and return a ready APDU connection; raises
        :class:`firmware.iso7816.errors.CardError` (``card_absent``...) otherwise."""
        ...

    def card_present(self) -> bool:
        """A card is in the slot (the card-present switch, or the reader's state)."""
        ...


# ---- office link ----------------------------------------------------------------------
@dataclass(frozen=True)
class LineUp:
    """A host opened the line (USB configured, DTR raised, pty opened)."""


@dataclass(frozen=True)
class LineDown:
    """The line went away (cable pulled, port closed, host silent too long)."""


@dataclass(frozen=True)
class Received:
    """Bytes from the host."""

    data: bytes


LinkEvent = LineUp | LineDown | Received


class LinkPort(Protocol):
    """The office link's byte stream: USB CDC-ACM gadget, UART header, or a pty."""

    def poll(self, timeout: float) -> list[LinkEvent]:
        """Wait up to ``timeout`` seconds for bytes or a line change."""
        ...

    def write(self, data: bytes) -> int:
        """Queue ``data`` without blocking; return how many bytes were accepted
        (fewer than given when the host is not reading)."""
        ...

    def close(self) -> None:
        ...


# ---- display, keypad, buzzer, battery -------------------------------------------------
class Display(Protocol):
    """A 128x64 monochrome screen."""

    def show(self, image: Image) -> None:
        """Show a ``DISPLAY_WIDTH`` x ``DISPLAY_HEIGHT`` mode "1" image."""
        ...

    def contrast(self, level: int) -> None:
        """0..255."""
        ...

    def power_save(self, on: bool) -> None:
        ...


class Key(enum.Enum):
    D0 = "0"
    D1 = "1"
    D2 = "2"
    D3 = "3"
    D4 = "4"
    D5 = "5"
    D6 = "6"
    D7 = "7"
    D8 = "8"
    D9 = "9"
    VALIDER = "valider"
    ANNULER = "annuler"
    CORRIGER = "corriger"
    UP = "up"
    DOWN = "down"
    MENU = "menu"


@dataclass(frozen=True)
class KeyEvent:
    key: Key
    down: bool  # True: pressed, False: released
    at: float  # monotonic seconds


class Keypad(Protocol):
    def events(self) -> list[KeyEvent]:
        """Key events since the last call (debounced), oldest first."""
        ...


class Beep(enum.Enum):
    KEY = "key"
    DONE = "done"
    ERROR = "error"


class Buzzer(Protocol):
    def beep(self, kind: Beep) -> None:
        ...


class BatteryGauge(Protocol):
    def percent(self) -> int | None:
        """State of charge 0..100, or None when unknown."""
        ...


# ---- the whole board ------------------------------------------------------------------
@dataclass
class Board:
    """What ``board.build(config)`` returns. ``gauge`` is None on a board
    without a battery (``pc``); ``display``/``keypad``/``buzzer`` are None where
    the board has none. ``sealed`` lists the board's own files the firmware
    seal covers besides ``firmware/`` (paths relative to the directory holding
    the ``firmware`` package, docs/visit.md §Seal). ``close`` releases the
    hardware."""

    kind: str
    vitale: CardReader
    cps: CardReader
    link: LinkPort
    clock: UnitClock
    gauge: BatteryGauge | None = None
    display: Display | None = None
    keypad: Keypad | None = None
    buzzer: Buzzer | None = None
    sealed: tuple[str, ...] = ()
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.link.close()


def __getattr__(name: str) -> object:
    """``UnitClock`` on first use: ``firmware.unit`` itself imports this module."""
    if name == "UnitClock":
        from firmware.unit.clock import UnitClock

        return UnitClock
    raise AttributeError(name)
