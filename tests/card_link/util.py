"""Helpers for the card link tests: a simulated slot with a card in it."""

from __future__ import annotations

from board.sim.card_emulator import CardEmulator, EmulatorConfig, Faults, MemoryTestCard
from board.sim.slot import REFERENCE_ATRS, SimCardSlot
from firmware.iso7816.link import CardLink
from firmware.iso7816.slot import SlotConfig

CLOCK = 4_800_000
FD_ETU = 372 / CLOCK  # default etu during the ATR (ISO 7816-3 §8.1)


def make_link(card: str = "vitale2", *, atr: bytes | None = None, config: EmulatorConfig | None = None,
              faults: Faults | None = None, echo: bool = True, **slot_kw):
    """(link, port, emulator, card) for a reference ATR (or ``atr``)."""
    ref_atr, prefer = REFERENCE_ATRS.get(card, (bytes.fromhex("3B00"), None))
    slot_kw.setdefault("prefer_protocol", prefer)
    card_os = MemoryTestCard(atr=atr or ref_atr)
    emulator = CardEmulator(card_os, config, faults)
    port = SimCardSlot(emulator, echo=echo)
    link = CardLink(port, SlotConfig(echo=echo, **slot_kw))
    return link, port, emulator, card_os


def bound_etu(chars, protocol: int) -> float:
    """ISO 7816-3 minimum (N=0): 12 etu per character, 16 (T=0) or 22 (T=1)
    etu at each change of direction, between leading edges; plus the last char."""
    turn = 22.0 if protocol == 1 else 16.0
    total = sum(turn if a.from_card != b.from_card else 12.0 for a, b in zip(chars, chars[1:], strict=False))
    return total + 12.0
