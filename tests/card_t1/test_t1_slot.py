"""T=1 in the whole simulated chain: CardLink -> SlotEngine (PPS to T=1) ->
T1Engine -> simulated slot with echo -> CardEmulator -> T1CardSide -> card OS.
Expected data are the memory card's contents, written out independently."""

from board.sim.card_emulator import CardEmulator, Faults, MemoryTestCard
from board.sim.slot import REFERENCE_ATRS, SimCardSlot
from firmware.iso7816.apdu import CommandAPDU
from firmware.iso7816.link import CardLink
from firmware.iso7816.slot import SlotConfig

CPS4 = REFERENCE_ATRS["cps4-t1"][0]


def link_with(faults: Faults | None = None) -> tuple[CardLink, CardEmulator]:
    emulator = CardEmulator(MemoryTestCard(atr=CPS4), faults=faults)
    link = CardLink(SimCardSlot(emulator), SlotConfig(prefer_protocol=1))
    link.power_on()
    return link, emulator


def t1_notes(link: CardLink) -> list[str]:
    return [n.event for n in link.notes if n.event.startswith("t1_")]


def test_cps4_in_t1_reads_and_writes_with_chaining():
    link, emulator = link_with()
    assert link.protocol == 1 and link.timing.di == 12  # TA1=18 reached by PPS
    assert emulator.side.ifsd == 254  # our S(IFS request) reached the card
    r = link.transmit(CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=256))
    assert r.sw == 0x9000 and r.data == bytes(range(256))  # 258 bytes: 2 blocks
    data = bytes(range(255, 0, -1))
    assert link.transmit(CommandAPDU(0x00, 0xD6, 0x01, 0x00, data=data)).sw == 0x9000
    r = link.transmit(CommandAPDU(0x00, 0xB0, 0x01, 0x00, le=255))
    assert r.data == data
    # the 260-byte UPDATE went as I-blocks of at most IFSC = 32 bytes
    sizes = [len(b.inf) for b in emulator.side.received if b.kind.value == "I"]
    assert max(sizes) == 32 and sum(sizes) == 5 + 5 + 255 + 5
    assert t1_notes(link) == ["t1_ifsd"]


def test_corrupted_characters_are_recovered_by_t1():
    # a corrupted character from the card (index 40) and one from the reader (700)
    link, emulator = link_with(Faults(corrupt_at=frozenset({40, 700})))
    assert link.transmit(CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=256)).data == bytes(range(256))
    data = bytes(200)
    assert link.transmit(CommandAPDU(0x00, 0xD6, 0x00, 0x00, data=data)).sw == 0x9000
    assert link.transmit(CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=200)).data == data
    assert "t1_retry" in t1_notes(link)
