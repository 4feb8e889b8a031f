"""The hardware interface a card slot offers to the blocking link.

A *port* is one physical slot: a UART on the card's I/O line (TX and RX tied,
so every byte we send comes back), RST and VCC lines, the card clock and a
card-present switch. :class:`firmware.iso7816.link.CardLink` drives any port with
the sans-I/O :class:`firmware.iso7816.slot.SlotEngine`; the real driver is
``board/pi/card_slot.py`` and its simulated twin ``board/sim/slot.py``.

Times are seconds on the port's own clock (``now()``): monotonic time on the
board, exact emulated time on the simulated board.

Events a port reports from :meth:`SlotPort.wait`:

- :class:`Received`: characters read on the I/O line (echoes of our own
  characters included), each with the time of its *leading edge* and whether
  the UART found its parity correct;
- :class:`TransmitDone`: the UART finished sending what a ``Send`` asked for;
- :class:`CardInserted` / :class:`CardRemoved`: the card-present switch moved.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from . import convention as conv
from .actions import Action


@dataclass(frozen=True)
class Received:
    """Raw UART bytes (convention not yet decoded) with per-byte leading-edge
    times and parity flags."""

    data: bytes
    times: tuple[float, ...]
    parity_ok: tuple[bool, ...]

    def __post_init__(self) -> None:
        if not len(self.data) == len(self.times) == len(self.parity_ok):
            raise ValueError("Received: data, times and parity_ok differ in length")


@dataclass(frozen=True)
class TransmitDone:
    """The last ``Send`` is on the wire: leading edges of its first and last
    characters."""

    first: float
    last: float


@dataclass(frozen=True)
class CardInserted:
    at: float


@dataclass(frozen=True)
class CardRemoved:
    at: float


PortEvent = Received | TransmitDone | CardInserted | CardRemoved


class SlotPort(Protocol):
    """What the blocking link needs from one slot."""

    def apply(self, action: Action) -> None:
        """Carry out an electrical or transmission action (``SetVcc``,
        ``SetRst``, ``SetClock``, ``SetUart``, ``Send``). Other actions are
        ignored."""
        ...

    def wait(self, deadline: float | None) -> list[PortEvent]:
        """Block until at least one event happened or ``deadline`` passed
        (then return ``[]``). A received character counts as in time when its
        leading edge is not after ``deadline``. ``None`` waits for an event;
        a port with nothing that could ever happen returns ``[]``."""
        ...

    def now(self) -> float:
        """Current time on the port's clock, in seconds."""
        ...

    def card_present(self) -> bool:
        """State of the card-present switch."""
        ...


@dataclass(frozen=True)
class SlotConfig:
    """What a slot's hardware can do (given to the slot engine). ``max_baud``
    is the UART's top rate; ``echo``: TX and RX tied, every sent byte returns."""

    clock_hz: int = 4_800_000
    max_baud: float = 1_000_000.0
    protocols: tuple[int, ...] = (0, 1)
    echo: bool = True
    prefer_protocol: int | None = None
    pps: bool = True
    ifsd: int = 254


class IoLine:
    """The I/O line as the slot engine books it (no I/O here): convention
    coding of raw bytes (§8.1), echoes still due when TX and RX are tied, and
    the earliest leading edge of our next character (§10.2 / §11.2)."""

    def __init__(self, echo: bool):
        self.echo = echo
        self.reset()

    def reset(self) -> None:
        self.convention = conv.DIRECT
        self.last_rx: float | None = None  # leading edge of the last char received
        self.min_send = 0.0
        self._due: deque[int] = deque()

    def encode(self, logical: bytes) -> bytes:
        raw = conv.encode(bytes(logical), self.convention)
        if self.echo:
            self._due.extend(raw)
        return raw

    def decode(self, raw: int) -> int:
        return conv.decode(bytes((raw,)), self.convention)[0]

    def echo_due(self) -> int | None:
        """The byte our own echo must bring next, or None (a card byte)."""
        return self._due.popleft() if self._due else None

    def drop_echoes(self) -> None:
        self._due.clear()

    def floor(self, etu_count: float, etu: float) -> float:
        """``etu_count`` etu after the last character received, not before
        ``min_send`` (set when the speed changes)."""
        if self.last_rx is None:
            return self.min_send
        return max(self.min_send, self.last_rx + etu_count * etu)
