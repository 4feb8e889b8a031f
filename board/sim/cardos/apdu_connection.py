"""A :class:`firmware.iso7816.apdu.CardConnection` straight onto an emulated card OS,
at APDU level (no T=0/T=1 underneath): for tests, host tools and benches.

It counts exchanges in an :class:`ApduTrace` whose log holds redacted commands
(no PIN ever lands in it).
"""

from __future__ import annotations

from board.sim.card_side import EmulatedCard
from firmware.cardapps.reader_base import redacted
from firmware.iso7816.apdu import ApduTrace, CommandAPDU, ResponseAPDU


class ApduConnection:
    def __init__(self, card: EmulatedCard, *, power_on: bool = True):
        self.card = card
        self.trace = ApduTrace()
        if power_on:
            card.power_on()

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def transmit(self, command: CommandAPDU) -> ResponseAPDU:
        raw = command.to_bytes()
        out = self.card.process(raw)
        self.trace.commands += 1
        self.trace.bytes_out += len(raw)
        self.trace.bytes_in += len(out)
        self.trace.log.append((redacted(raw), out))
        return ResponseAPDU.from_bytes(out)
