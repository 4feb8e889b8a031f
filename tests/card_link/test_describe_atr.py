"""The card demo's one-line ATR summary, including TA1 values that are RFU
(ISO 7816-3 Tables 7 and 8): they are named, not a crash."""

from board.sim.card_demo import describe_atr
from firmware.iso7816.atr import parse_atr


def test_vitale2_atr_summary():
    atr = parse_atr(bytes.fromhex("3B751300004709EA9000"))
    assert describe_atr(atr) == (
        "convention direct, T=0, TA1=13 (Fi 372, Di 4, f max 5 MHz), N=0 WI=10, "
        "negotiable mode, historical 47 09 EA 90 00"
    )


def test_rfu_fi_index_in_ta1_is_named():
    atr = parse_atr(bytes.fromhex("3B1071"))  # TA1=71: Fi index 7 is RFU, Di index 1
    assert describe_atr(atr) == (
        "convention direct, T=0, TA1=71 (Fi RFU, Di 1, f max RFU), N=0 WI=10, "
        "negotiable mode, historical "
    )


def test_rfu_di_index_in_ta1_is_named():
    atr = parse_atr(bytes.fromhex("3B101A"))  # TA1=1A: Fi 372 (5 MHz), Di index A is RFU
    assert describe_atr(atr) == (
        "convention direct, T=0, TA1=1A (Fi 372, Di RFU, f max 5 MHz), N=0 WI=10, "
        "negotiable mode, historical "
    )
