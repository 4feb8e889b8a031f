"""Simulated card slot: the twin of ``board/pi/card_slot.py``.

:class:`SimCardSlot` implements :class:`firmware.iso7816.port.SlotPort` on
virtual time: ``wait(deadline)`` jumps straight to the next event, so a whole
session runs in microseconds of real time and every figure is exact and
repeatable. The card itself is a :class:`~board.sim.card_emulator.CardEmulator`.

The reader UART is modelled: characters it sends are spaced (12 + extra guard)
etu at its baud rate; with TX and RX tied (``echo=True``, as on the reference
board) each comes back on RX at its own leading edge; a card character read at
a baud rate more than 2 % away from the card's reads as garbage with a parity
error; parity is checked with the parity the UART is set to.

>>> from board.sim.card_emulator import CardEmulator, MemoryTestCard
>>> slot = SimCardSlot(CardEmulator(MemoryTestCard()))
>>> slot.card_present(), slot.now()
(True, 0.0)
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import replace

from board.sim.card_emulator import CardEmulator, LineChar
from firmware.cardapps.vitale_profile import ATR_VITALE1
from firmware.iso7816.actions import Send, SetClock, SetRst, SetUart, SetVcc
from firmware.iso7816.port import CardInserted, CardRemoved, PortEvent, Received, TransmitDone

BAUD_TOLERANCE = 0.02
OVERLAP_ETU = 11.0


class SimCardSlot:
    """One simulated slot, optionally holding a card."""

    def __init__(self, emulator: CardEmulator | None = None, *, echo: bool = True):
        self.emulator = emulator
        self.echo = echo
        self.vcc = False
        self.rst_high = False
        self.clock_hz = 0
        self.baud = 0.0
        self.parity = "E"
        self.guard = 0.0
        self.history: list[tuple[float, object]] = []  # (time, electrical action)
        self.sent: list[tuple[float, int]] = []  # reader characters (leading edge, raw)
        self._now = 0.0
        self._queue: list[tuple[float, int, str, PortEvent | LineChar]] = []
        self._seq = itertools.count()
        self._tx_free = 0.0
        self._present = emulator is not None
        self._removal_at: float | None = None

    # ---- test controls ---------------------------------------------------------
    def insert(self, emulator: CardEmulator) -> None:
        """Put a card in the slot now. The contacts start unpowered, as the
        TDA8035 leaves them: it deactivates the slot by itself when a card leaves."""
        self.emulator = emulator
        self.vcc = self.rst_high = False
        self.clock_hz = 0
        # what the card before it had still to say, and its removal, are history now
        self._queue = [e for e in self._queue if e[2] not in ("presence", "card")]
        heapq.heapify(self._queue)
        self._present = True
        self._removal_at = None
        self._push(self._now, "presence", CardInserted(self._now))

    def remove(self, at: float | None = None) -> None:
        """Pull the card out at virtual time ``at`` (default: now). Nothing the
        card would have sent from then on reaches the line."""
        at = self._now if at is None else max(at, self._now)
        if self._removal_at is not None and self._removal_at <= at:
            return
        self._removal_at = at
        self._queue = [e for e in self._queue if e[0] < at or e[2] == "presence"]
        heapq.heapify(self._queue)
        self._push(at, "presence", CardRemoved(at))

    # ---- SlotPort ----------------------------------------------------------------
    def now(self) -> float:
        return self._now

    def card_present(self) -> bool:
        if self._removal_at is not None and self._now >= self._removal_at:
            return False
        return self._present

    def apply(self, action) -> None:
        if isinstance(action, (SetVcc, SetRst, SetClock, SetUart)):
            self.history.append((self._now, action))
        if isinstance(action, SetVcc):
            self.vcc = action.on
            if not action.on:
                self._card_off()
        elif isinstance(action, SetClock):
            self.clock_hz = action.hz
            if not action.hz:
                self._card_off()
        elif isinstance(action, SetUart):
            self.baud, self.parity, self.guard = action.baud, action.parity, action.extra_guard_etu
        elif isinstance(action, SetRst):
            self._set_rst(action.high)
        elif isinstance(action, Send):
            self._send(action)

    def wait(self, deadline: float | None) -> list[PortEvent]:
        if not self._queue or (deadline is not None and self._queue[0][0] > deadline):
            if deadline is not None:
                self._now = max(self._now, deadline)
            return []
        at, _, kind, event = heapq.heappop(self._queue)
        self._now = max(self._now, at)
        if isinstance(event, LineChar):  # read with the UART's setting of now
            return [self._received(event)]
        if isinstance(event, CardRemoved):
            self._present = False
            if self.emulator is not None:
                self.emulator.power_off()
        return [event]

    # ---- line model ------------------------------------------------------------------
    def _card_live(self) -> bool:
        return (
            self.emulator is not None and self.card_present() and self.vcc
            and self.clock_hz > 0
        )

    def _card_off(self) -> None:
        if self.emulator is not None:
            self.emulator.power_off()
        self._drop_card_chars()

    def _drop_card_chars(self) -> None:
        self._queue = [e for e in self._queue if e[2] != "card"]
        heapq.heapify(self._queue)

    def _set_rst(self, high: bool) -> None:
        self.rst_high = high
        emulator = self.emulator
        if emulator is None or not self._card_live():
            return
        if not high:
            emulator.reset_low()
            self._drop_card_chars()
            return
        self._queue_card(emulator.reset_high(self._now, self.clock_hz))

    def _send(self, action: Send) -> None:
        if self.baud <= 0:
            raise RuntimeError("Send while the UART is off (SetUart with a baud rate first)")
        etu = 1.0 / self.baud
        start = max(self._now, action.not_before, self._tx_free)
        step = (12.0 + self.guard) * etu
        times = [start + i * step for i in range(len(action.data))]
        self._tx_free = times[-1] + step if times else self._tx_free
        self.sent += list(zip(times, action.data, strict=True))
        garbled = self._collide_with_queued(times, action.data, etu)
        emulator = self.emulator
        if emulator is not None and self._card_live() and self.rst_high:
            echo, replies = emulator.reader_chars(times, action.data, self.parity, etu,
                                                  frozenset(garbled))
            if emulator.removed_at is not None:
                self.remove(emulator.removed_at)
        else:
            echo = [LineChar(t, b, False, etu, self.parity) for t, b in zip(times, action.data, strict=True)]
            replies = []
        replies = [self._collide_reply(ch, times, action.data, etu, garbled) for ch in replies]
        if self.echo:
            for k, ch in enumerate(echo):
                if k in garbled:
                    ch = replace(ch, raw=ch.raw & garbled[k], parity_fault=True)
                self._push(ch.at, "echo", ch)
        if times:
            self._push(times[-1], "done", TransmitDone(times[0], times[-1]))
        self._queue_card(replies)

    # Open-drain line: characters sent at once by both sides overlap and each
    # reads as the AND of the two, with a parity/framing error. A character
    # holds the line ~10.5 etu (start, 8 data, parity, half a stop bit).
    def _overlap(self, a: float, b: float, etu: float) -> bool:
        return abs(a - b) < OVERLAP_ETU * etu

    def _collide_with_queued(self, times, data: bytes, etu: float) -> dict[int, int]:
        garbled: dict[int, int] = {}
        for i, (at, seq, kind, ch) in enumerate(self._queue):
            if kind != "card" or not isinstance(ch, LineChar):
                continue
            for k, t in enumerate(times):
                if self._overlap(ch.at, t, max(ch.etu, etu)):
                    garbled[k] = ch.raw
                    ch = replace(ch, raw=ch.raw & data[k], parity_fault=True)
                    self._queue[i] = (at, seq, kind, ch)
        return garbled

    def _collide_reply(self, ch: LineChar, times, data: bytes, etu: float,
                       garbled: dict[int, int]) -> LineChar:
        for k, t in enumerate(times):
            if self._overlap(ch.at, t, max(ch.etu, etu)):
                garbled[k] = ch.raw
                ch = replace(ch, raw=ch.raw & data[k], parity_fault=True)
        return ch

    def _queue_card(self, chars: list[LineChar]) -> None:
        for ch in chars:
            if self._removal_at is not None and ch.at >= self._removal_at:
                break
            self._push(ch.at, "card", ch)
        if self.emulator is not None and self.emulator.removed_at is not None:
            self.remove(self.emulator.removed_at)

    def _received(self, ch: LineChar) -> Received:
        raw, ok = ch.raw, ch.parity_ok(self.parity)
        if self.baud <= 0 or abs(ch.etu * self.baud - 1.0) > BAUD_TOLERANCE:
            raw, ok = raw ^ 0x5A, False  # wrong speed: garbage
        return Received(bytes((raw,)), (ch.at,), (ok,))

    def _push(self, at: float, kind: str, event: PortEvent | LineChar) -> None:
        heapq.heappush(self._queue, (at, next(self._seq), kind, event))


# ---- reference cards (DESIGN.md §2) -------------------------------------------------
REFERENCE_ATRS: dict[str, tuple[bytes, int | None]] = {
    # name: (logical ATR, protocol to prefer)
    "vitale2": (bytes.fromhex("3B751300004709EA9000"), None),  # T=0, TA1=13 (Fi 372, Di 4)
    # Vitale 1: inverse convention, T=0 only, TB1=25 (VPP, ignored), TC1=00, 5
    # historical bytes: the one Vitale 1 ATR of the card profile (listed in pcsc-tools'
    # smartcard_list.txt as "French carte Vitale").
    "vitale1": (ATR_VITALE1, None),
    "cps3": (bytes.fromhex("3BAC00402A001225006480000310009000"), None),  # T=0, WI=42
    # CPS4: TD1=80 announces T=0 *and* TD2; TD2=01 announces T=1 (no T=1 bytes:
    # IFSC 32, BWI 4, CWI 13, LRC). T=1 is reached by PPS, so one ATR serves both.
    "cps4": (bytes.fromhex("3B9B188001001225006480040100009044"), 0),
    "cps4-t1": (bytes.fromhex("3B9B188001001225006480040100009044"), 1),
}
