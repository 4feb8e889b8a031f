"""The blocking card link: a :class:`~firmware.iso7816.slot.SlotEngine` run
against a :class:`~firmware.iso7816.port.SlotPort`, seen by card applications as
a :class:`~firmware.iso7816.apdu.CardConnection`.

>>> from board.sim.slot import SimCardSlot
>>> from board.sim.card_emulator import CardEmulator, MemoryTestCard
>>> link = CardLink(SimCardSlot(CardEmulator(MemoryTestCard(atr=bytes.fromhex("3B00")))))
>>> link.power_on().hex()
'3b00'
>>> link.transmit(CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=4)).data.hex()
'00010203'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware.errors import InternalError

from .actions import (
    Complete,
    Failed,
    Note,
    PoweredDown,
    Ready,
    Send,
    SetClock,
    SetRst,
    SetUart,
    SetVcc,
)
from .apdu import CommandAPDU, ResponseAPDU
from .errors import CardError, LinkUsageError
from .port import CardInserted, CardRemoved, Received, SlotPort, TransmitDone
from .slot import SlotConfig, SlotEngine, State
from .timing import LinkTiming

MAX_NOTES = 200


@dataclass(frozen=True)
class ExchangeStats:
    """Wire figures of one exchange: from the leading edge of our first
    character to the end of the card's last one (12 etu after its leading edge,
    11 in T=1 with N=255)."""

    chars_sent: int
    chars_received: int
    turnarounds: int
    seconds: float
    etu: float


@dataclass
class WireStats:
    """Totals over the life of a link (APDU exchanges only)."""

    exchanges: int = 0
    chars_sent: int = 0
    chars_received: int = 0
    turnarounds: int = 0
    seconds: float = 0.0
    etu: float = 0.0
    last: ExchangeStats | None = None
    history: list[ExchangeStats] = field(default_factory=list)

    def add(self, ex: ExchangeStats) -> None:
        self.exchanges += 1
        self.chars_sent += ex.chars_sent
        self.chars_received += ex.chars_received
        self.turnarounds += ex.turnarounds
        self.seconds += ex.seconds
        self.etu += ex.etu
        self.last = ex
        self.history.append(ex)


class _Meter:
    """Counts one exchange's characters and direction changes."""

    def __init__(self) -> None:
        self.sent = self.received = self.turnarounds = 0
        self.start: float | None = None
        self.end: float | None = None
        self._direction = ""

    def turn(self, direction: str) -> None:
        if self._direction and direction != self._direction:
            self.turnarounds += 1
        self._direction = direction


class CardLink:
    """A direct card slot as a :class:`CardConnection`. Not thread-safe.

    Raises :class:`CardError` subclasses: :class:`CardAbsent`, :class:`CardGone`,
    :class:`CardMute`, :class:`AtrError`, :class:`CardProtocolError`."""

    def __init__(self, port: SlotPort, config: SlotConfig | None = None):
        self.port = port
        self.config = config or SlotConfig()
        self.slot = SlotEngine(self.config)
        self.stats = WireStats()
        self.notes: list[Note] = []
        self.powered_down: list[str] = []
        self._atr = b""
        self._echo_due = 0
        self._meter: _Meter | None = None
        # The switch's state now says whether a card is in; presence events stamped
        # up to now describe earlier cards (a link is made per connection) and are
        # already accounted for.
        self._since = port.now()
        if port.card_present():
            self.slot.card_inserted(self._since)

    # ---- CardConnection ------------------------------------------------------
    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def protocol(self) -> int | None:
        return self.slot.protocol

    @property
    def timing(self) -> LinkTiming:
        return self.slot.timing

    @property
    def active(self) -> bool:
        return self.slot.state in (State.READY, State.BUSY)

    def power_on(self) -> bytes:
        """Cold reset (deactivating first if needed) up to a usable protocol;
        returns the ATR."""
        if self.slot.state is State.ABSENT and self.port.card_present():
            self.slot.card_inserted(self.port.now())
        if self.slot.state not in (State.ABSENT, State.INACTIVE):
            self._run(self.slot.deactivate(self.port.now()))
        outcome = self._run(self.slot.activate(self.port.now()))
        if not isinstance(outcome, Ready):
            raise InternalError(f"slot engine ended activation with {outcome!r}, not Ready")
        self._atr = outcome.atr
        return self._atr

    def power_off(self) -> None:
        self._run(self.slot.deactivate(self.port.now()))
        self._atr = b""

    def warm_reset(self) -> bytes:
        outcome = self._run(self.slot.warm_reset(self.port.now()))
        if not isinstance(outcome, Ready):
            raise InternalError(f"slot engine ended warm reset with {outcome!r}, not Ready")
        self._atr = outcome.atr
        return self._atr

    def transmit(self, command: CommandAPDU) -> ResponseAPDU:
        return ResponseAPDU.from_bytes(self.transmit_raw(command.to_bytes()))

    def transmit_raw(self, apdu: bytes) -> bytes:
        self._meter = _Meter()
        try:
            outcome = self._run(self.slot.transmit(bytes(apdu), self.port.now()))
        finally:
            meter, self._meter = self._meter, None
        if not isinstance(outcome, Complete):
            raise InternalError(f"slot engine ended a transmit with {outcome!r}, not Complete")
        if meter.start is not None and meter.end is not None:
            t = self.slot.timing
            seconds = meter.end - meter.start
            self.stats.add(ExchangeStats(meter.sent, meter.received, meter.turnarounds,
                                         seconds, seconds / t.etu))
        return outcome.response

    # ---- the loop --------------------------------------------------------------------
    def _run(self, actions: list):
        """Carry out actions and feed events back until Ready, Complete or
        Failed (raised). Returns None when the actions end without any."""
        outcome = None
        while True:
            for act in actions:
                outcome = self._apply(act) or outcome
            if outcome is not None:
                if isinstance(outcome, Failed):
                    raise outcome.error
                return outcome
            if self.slot.state not in (State.RESET_LOW, State.ATR, State.PPS, State.SETUP,
                                       State.BUSY):
                return None
            deadline = self.slot.deadline
            events = self.port.wait(deadline)
            if not events:
                if deadline is None:
                    raise LinkUsageError(f"slot {self.slot.state.value} waits for nothing")
                actions = self.slot.timeout(deadline)
                continue
            actions = []
            for ev in events:
                actions += self._event(ev)

    def _apply(self, act):
        if isinstance(act, (SetVcc, SetRst, SetClock, SetUart, Send)):
            if isinstance(act, Send):
                if self.config.echo:
                    self._echo_due += len(act.data)
                if self._meter is not None:
                    self._meter.sent += len(act.data)
                    self._meter.turn("out")
            elif isinstance(act, SetVcc) and not act.on:
                self._echo_due = 0
            self.port.apply(act)
            return None
        if isinstance(act, (Ready, Complete, Failed)):
            return act
        if isinstance(act, PoweredDown):
            self.powered_down.append(act.reason)
            self._atr = b""
        if isinstance(act, Note) and len(self.notes) < MAX_NOTES:
            self.notes.append(act)
        return None

    def _event(self, ev) -> list:
        if isinstance(ev, Received):
            self._count_received(ev)
            return self.slot.receive(ev.data, ev.times, ev.parity_ok)
        if isinstance(ev, TransmitDone):
            if self._meter is not None and self._meter.start is None:
                self._meter.start = ev.first
            return self.slot.transmitted(ev.last)
        if isinstance(ev, (CardInserted, CardRemoved)) and ev.at <= self._since:
            return []  # before this link existed: card_present() already told
        if isinstance(ev, CardInserted):
            return self.slot.card_inserted(ev.at)
        if isinstance(ev, CardRemoved):
            return self.slot.card_removed(ev.at)
        raise LinkUsageError(f"unknown port event {ev!r}")

    def _count_received(self, ev: Received) -> None:
        for at in ev.times:
            if self._echo_due:
                self._echo_due -= 1
                continue
            m = self._meter
            if m is not None:
                m.received += 1
                m.turn("in")
                t = self.slot.timing
                char = 11.0 if t.protocol == 1 and t.n == 255 else 12.0
                m.end = at + char * t.etu


__all__ = ["CardLink", "CardError", "ExchangeStats", "WireStats", "SlotConfig"]
