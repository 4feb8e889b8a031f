"""Contracts between the simulated line and what sits on the card side of it.

- an :class:`EmulatedCard` is a card OS: it has an ATR, speaks APDUs and keeps
  its state (PIN tries, files) across resets of the same card;
- a :class:`CardProtocol` is the card's half of T=0 or T=1: it receives the
  reader's logical characters one by one and answers with :class:`CardReply`
  items, calling the card OS for each complete command APDU.

The character-level emulator (``board/sim/card_emulator.py``) times every
character of these replies on the virtual I/O line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CardReply:
    """Logical characters the card sends.

    ``delay_etu`` is extra delay before the first character, on top of the
    minimum turnaround (16 etu in T=0, BGT=22 etu in T=1); ``char_delay_etu`` is
    extra spacing between the characters (a slow card)."""

    data: bytes
    delay_etu: float = 0.0
    char_delay_etu: float = 0.0


class CardProtocol(Protocol):
    def receive(self, byte: int, parity_ok: bool = True) -> list[CardReply]:
        """One logical character from the reader; what the card sends back."""
        ...

    def reset(self) -> None:
        """Forget any exchange in progress (card reset)."""
        ...


class EmulatedCard(Protocol):
    @property
    def atr(self) -> bytes:
        """Logical ATR bytes (TS = 3B or 3F)."""
        ...

    def power_on(self) -> None:
        """Called on every cold or warm reset; volatile state (selected file,
        security status) is cleared, persistent state (PIN tries) is kept."""
        ...

    def process(self, command: bytes) -> bytes:
        """One command APDU in, its response APDU (data + SW1 SW2) out."""
        ...
