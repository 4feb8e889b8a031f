"""``tla-unit cards``: the card link on the simulated board, end to end.

Inserts a Vitale 2 card in slot "vitale" and a CPS4 in slot "ps", activates
both (ATR, PPS, protocol), and runs a few APDUs with their wire timing.

The emulated cards come from :func:`demo_cards`: until the Vitale/CPS card OS
(``board/sim/cardos``) lands they are the generic memory test card behind the
real ATRs; swap them there (one place) for the real emulated profiles.
"""

from __future__ import annotations

from collections.abc import Callable

from board.sim.card_emulator import CardEmulator, MemoryTestCard
from board.sim.card_side import EmulatedCard
from board.sim.slot import REFERENCE_ATRS, SimCardSlot
from firmware.iso7816.apdu import CommandAPDU
from firmware.iso7816.atr import Atr, parse_atr
from firmware.iso7816.errors import CardError
from firmware.iso7816.link import CardLink
from firmware.iso7816.slot import SlotConfig

# slot name -> (card factory, preferred protocol)
DemoCards = dict[str, tuple[Callable[[], EmulatedCard], int | None]]

DEMO_APDUS: dict[str, list[tuple[str, CommandAPDU]]] = {
    "vitale": [
        ("SELECT", CommandAPDU(0x00, 0xA4, 0x00, 0x00, data=bytes.fromhex("2F20"))),
        ("READ BINARY 32", CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=32)),
        ("READ BINARY 255", CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=255)),
    ],
    "ps": [
        ("SELECT", CommandAPDU(0x00, 0xA4, 0x00, 0x00, data=bytes.fromhex("2F20"))),
        ("READ BINARY 64", CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=64)),
        ("SIGN (PSO:CDS 35 B)", CommandAPDU(0x00, 0x2A, 0x9E, 0x9A, data=bytes(35), le=256)),
    ],
}


def demo_cards() -> DemoCards:
    """The cards inserted by the demo. Replace the factories here with the
    Vitale 2 and CPS4 card OS emulations when available."""
    return {
        "vitale": (lambda: MemoryTestCard(atr=REFERENCE_ATRS["vitale2"][0]), None),
        "ps": (lambda: MemoryTestCard(atr=REFERENCE_ATRS["cps4-t1"][0]), 1),
    }


def describe_atr(atr: Atr) -> str:
    parts = [f"convention {atr.convention}", f"T={','.join(map(str, atr.protocols or []))}"]
    ta1 = atr.ta(1)
    if ta1 is not None:
        fi = "RFU" if atr.fi is None else atr.fi
        di = "RFU" if atr.di is None else atr.di
        f_max = "RFU" if atr.f_max is None else f"{atr.f_max / 1e6:g} MHz"
        parts.append(f"TA1={ta1:02X} (Fi {fi}, Di {di}, f max {f_max})")
    parts.append(f"N={atr.n} WI={atr.wi}")
    if atr.ifsc is not None:
        parts.append(f"IFSC={atr.ifsc} BWI={atr.bwi} CWI={atr.cwi} {atr.checksum}")
    parts.append("specific mode" if atr.specific else "negotiable mode")
    parts.append(f"historical {atr.historical.hex(' ').upper()}")
    return ", ".join(parts)


def run_demo(print_=print, cards: DemoCards | None = None) -> int:
    """Run the demo; returns 0 when every slot worked."""
    status = 0
    for slot_name, (factory, prefer) in (cards or demo_cards()).items():
        port = SimCardSlot(CardEmulator(factory()))
        link = CardLink(port, SlotConfig(prefer_protocol=prefer))
        print_(f"== slot {slot_name}")
        try:
            atr = link.power_on()
        except CardError as exc:
            print_(f"   activation failed: {exc.code} ({exc.message_fr})")
            status = 1
            continue
        t = link.timing
        print_(f"   ATR {atr.hex(' ').upper()}")
        print_(f"   {describe_atr(parse_atr(atr))}")
        pps = link.slot.pps_outcome
        print_("   PPS " + (f"accepted: T={pps.protocol} Fi={pps.fi} Di={pps.di}" if pps
                            else "not needed or not possible"))
        print_(f"   T={link.protocol}, etu {t.etu * 1e6:.2f} us ({t.baud:.0f} baud at "
               f"{t.clock_hz / 1e6:g} MHz)")
        for label, cmd in DEMO_APDUS.get(slot_name, []):
            try:
                resp = link.transmit(cmd)
            except CardError as exc:
                print_(f"   {label}: {exc.code} ({exc.message_fr})")
                status = 1
                break
            w = link.stats.last
            if w is None:  # the link meters every exchange that moved characters
                raise RuntimeError("internal error: the card link recorded no wire figures")
            print_(f"   {label:20} -> {resp.describe():32} {len(resp.data):3} B, "
                   f"{w.chars_sent}+{w.chars_received} chars, {w.etu:.0f} etu, "
                   f"{w.seconds * 1e3:.2f} ms")
        link.power_off()
    return status
