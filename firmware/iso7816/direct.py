"""A direct card slot as a :class:`firmware.parts.CardReader`: the board's
:class:`~firmware.iso7816.port.SlotPort` (a Pi slot's UART and GPIOs, or the
simulated slot) driven by :class:`~firmware.iso7816.link.CardLink`::

    reader = DirectReader(slot_port)
    reader.card_present()          # the card-present switch
    reader.connect().atr.hex()     # powered, ATR read, PPS done: a CardConnection
"""

from __future__ import annotations

from .link import CardLink
from .port import SlotConfig, SlotPort


class DirectReader:
    """``connect()`` powers the card in ``port`` (cold reset, ATR, PPS) and
    returns the ready link; a new link each time, so a card pulled and put back
    starts from a clean slot engine."""

    def __init__(self, port: SlotPort, config: SlotConfig | None = None):
        self.port = port
        self.config = config or SlotConfig()

    def connect(self) -> CardLink:
        link = CardLink(self.port, self.config)
        link.power_on()
        return link

    def card_present(self) -> bool:
        return self.port.card_present()
