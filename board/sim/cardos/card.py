"""The emulated card operating system (an :class:`board.sim.card_side.EmulatedCard`).

One class serves both open profiles: the personalisation decides which
applications, files, PIN and keys a card has (see :mod:`board.sim.cards.loader`).
Commands and status words follow ISO/IEC 7816-4; each handler cites its clause.

Injectable faults: :meth:`remove` (the card leaves: every later call raises
:class:`CardGone`) and ``remove_after`` (leave after N more commands).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from board.sim.cardos import commands
from board.sim.cardos.filesystem import Application, ElementaryFile
from board.sim.cardos.secrets import KeySlot, PinState
from firmware.iso7816.apdu import ApduError, CommandAPDU
from firmware.iso7816.errors import CardGone


@dataclass
class Volatile:
    """State cleared by every reset (ISO 7816-4 §5.4: security status is volatile)."""

    app: Application | None = None
    ef: ElementaryFile | None = None
    pin_verified: bool = False
    mse_ready: bool = False
    pending: bytes = b""


@dataclass
class CardOS:
    """An emulated smartcard: ATR, applications, optional PIN and keys.

    ``read_past_end_sw`` is 0x6C (answer 6Cxx, the T=0 habit) or 0x62 (return the
    bytes left with 6282) for a READ BINARY whose Le runs past the end of the EF.
    """

    atr: bytes
    applications: list[Application]
    pin: PinState | None = None
    pin_ref: int = 0x01
    sign_key: KeySlot | None = None
    auth_key: KeySlot | None = None
    data_objects: dict[int, bytes] = field(default_factory=dict)
    read_past_end_sw: int = 0x6C
    name: str = ""
    present: bool = True
    remove_after: int | None = None
    commands_seen: int = 0
    state: Volatile = field(default_factory=Volatile)
    random: bytes | None = None  # fixed GET CHALLENGE output for tests, else os.urandom

    # -- EmulatedCard contract -------------------------------------------------
    def power_on(self) -> None:
        if not self.present:
            raise CardGone("card removed")
        self.state = Volatile()

    def process(self, command: bytes) -> bytes:
        if not self.present:
            raise CardGone("card removed")
        if self.remove_after is not None:
            if self.remove_after <= 0:
                self.present = False
                raise CardGone("card removed between commands")
            self.remove_after -= 1
        self.commands_seen += 1
        try:
            apdu = CommandAPDU.from_bytes(command)
        except ApduError:
            return b"\x67\x00"  # wrong length: Lc/Le do not match the bytes
        return commands.dispatch(self, apdu)

    # -- test controls -----------------------------------------------------------
    def remove(self) -> None:
        """Pull the card out: every later power_on()/process() raises CardGone."""
        self.present = False

    def insert(self) -> None:
        """Put the card back (persistent state such as PIN tries is kept)."""
        self.present = True
        self.remove_after = None
        self.state = Volatile()

    @property
    def pin_tries_left(self) -> int | None:
        """Visible to tests like a lab reader would show it; the PIN itself is not."""
        return self.pin.pin_left if self.pin else None

    def challenge(self, n: int) -> bytes:
        if self.random is not None:
            return (self.random * (n // len(self.random) + 1))[:n]
        return os.urandom(n)
