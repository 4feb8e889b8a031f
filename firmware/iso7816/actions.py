"""The vocabulary between the sans-I/O card engines and whoever drives them.

Engines never sleep, read or write: every call takes the current time ``now``
(seconds, on the driver's clock; the simulated board uses exact emulated time)
and returns a list of actions. A driver (real UART, simulated line) carries the
actions out and calls back with what happened.

Two layers use it:

- protocol engines (``t0.T0Engine``, ``t1.T1Engine``) speak *logical* characters
  (convention already applied) and emit :class:`Transmit`, :class:`Deadline`,
  :class:`Complete`, :class:`Failed`;
- the slot engine (``slot.SlotEngine``) wraps them and adds the electrical
  actions (:class:`SetVcc`, :class:`SetRst`, :class:`SetClock`, :class:`SetUart`)
  and the raw :class:`Send` of bytes as the UART must put them on the wire.

Protocol engine contract (both T=0 and T=1 implement it)::

    engine.start(apdu: bytes, now) -> [Transmit, ...]    # begin one APDU exchange
    engine.transmitted(now) -> [Deadline, ...]           # leading edge of the last
                                                         # character we sent was at now
    engine.receive(byte: int, now, parity_ok=True) -> [...]  # one logical char
                                                         # whose leading edge was at now
    engine.timeout(now) -> [...]                         # the armed Deadline passed

An exchange ends with exactly one :class:`Complete` (the response APDU, SW
included) or one :class:`Failed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import CardError


# ---- protocol engine actions (logical level) ----------------------------------
@dataclass(frozen=True)
class Transmit:
    """Send these logical characters, first one not before ``not_before``
    (the turnaround rule: 16 etu in T=0, BGT in T=1, counted by the engine)."""

    data: bytes
    not_before: float = 0.0


@dataclass(frozen=True)
class Deadline:
    """Arm the single wait timer at absolute time ``at`` (None: disarm).
    When it passes without a received character, call ``timeout(at)``."""

    at: float | None


@dataclass(frozen=True)
class Complete:
    """The exchange is over: ``response`` is the response APDU (data + SW1 SW2)."""

    response: bytes


@dataclass(frozen=True)
class Failed:
    """The exchange failed and cannot be recovered at this level."""

    error: CardError


@dataclass(frozen=True)
class Note:
    """Something worth a trace line (retransmission, WTX, resynch, IFS change)."""

    event: str
    detail: str = ""


# ---- slot actions (electrical level) ------------------------------------------
@dataclass(frozen=True)
class SetVcc:
    on: bool


@dataclass(frozen=True)
class SetRst:
    high: bool


@dataclass(frozen=True)
class SetClock:
    """Card clock frequency in Hz; 0 stops it."""

    hz: int


@dataclass(frozen=True)
class SetUart:
    """UART line setting: ``baud`` (1/etu), ``parity`` 'E' or 'O', and the extra
    guard time in etu the driver inserts between consecutive sent characters
    (on top of 10 etu of character and 2 etu of stop bits)."""

    baud: float
    parity: str
    extra_guard_etu: float = 0.0


@dataclass(frozen=True)
class Send:
    """Raw bytes for the UART (convention already encoded), first character not
    before ``not_before``."""

    data: bytes
    not_before: float = 0.0


# ---- slot events for the application -------------------------------------------
@dataclass(frozen=True)
class Ready:
    """The card is active and the protocol chosen: the slot accepts APDUs."""

    atr: bytes
    protocol: int
    fi: int
    di: int


@dataclass(frozen=True)
class PoweredDown:
    """The slot deactivated (on request, card removal, or a dead card)."""

    reason: str


Action = (
    Transmit | Deadline | Complete | Failed | Note | SetVcc | SetRst | SetClock | SetUart | Send
    | Ready | PoweredDown
)
