"""choose_parameters on the four French cards at the reference clock of
4.8 MHz (19.2 MHz / 4). Baud rates are worked out by hand: baud = f x Di / Fi."""

import pytest

from firmware.iso7816.atr import parse_atr
from firmware.iso7816.errors import AtrError
from firmware.iso7816.pps import check_pps_response, choose_parameters

CLOCK = 4_800_000
VITALE2 = parse_atr(bytes.fromhex("3B 75 13 00 00 47 09 EA 90 00"))
VITALE1 = parse_atr(bytes.fromhex("3F 65 25 00 52 09 6A 90 00"))  # smartcard_list.txt
CPS3 = parse_atr(bytes.fromhex("3B AC 00 40 2A 00 12 25 00 64 80 00 03 10 00 90 00"))
CPS4 = parse_atr(bytes.fromhex("3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90 44"))


@pytest.mark.parametrize("max_baud", [500_000, 115_200])
def test_vitale2_goes_to_di4(max_baud):
    # TA1=13: Fi 372 (f max 5 MHz >= 4.8 MHz), Di 4: 4.8e6 x 4 / 372 = 51 612.9 baud.
    c = choose_parameters(VITALE2, CLOCK, max_baud)
    assert (c.protocol, c.fi_index, c.di_index, c.fi, c.di) == (0, 1, 3, 372, 4)
    assert c.baud == pytest.approx(51_612.9, abs=0.1)
    assert c.request == bytes.fromhex("FF 10 13 FC")


@pytest.mark.parametrize("atr", [VITALE1, CPS3], ids=["vitale1", "cps3"])
@pytest.mark.parametrize("max_baud", [500_000, 115_200])
def test_no_ta1_no_pps(atr, max_baud):
    # No TA1: Fd=372 Dd=1 (12 903 baud) is all the card offers; T=0 is first.
    assert choose_parameters(atr, CLOCK, max_baud) is None
    assert choose_parameters(atr, CLOCK, max_baud, prefer_protocol=1) is None  # T=1 not offered


def test_cps4_fast_uart():
    # TA1=18: Fi 372, Di 12: 4.8e6 x 12 / 372 = 154 838.7 baud <= 500 000.
    c = choose_parameters(CPS4, CLOCK, 500_000)
    assert (c.protocol, c.fi, c.di, c.di_index) == (0, 372, 12, 8)
    assert c.baud == pytest.approx(154_838.7, abs=0.1)
    assert c.request == bytes.fromhex("FF 10 18 F7")  # FF^10^18 = F7
    c = choose_parameters(CPS4, CLOCK, 500_000, prefer_protocol=1)
    assert (c.protocol, c.di) == (1, 12)
    assert c.request == bytes.fromhex("FF 11 18 F6")


def test_cps4_slow_uart_takes_a_lower_di():
    # 154 838.7 > 115 200: next lower Di with Fi 372 is 8: 103 225.8 baud.
    c = choose_parameters(CPS4, CLOCK, 115_200, prefer_protocol=1)
    assert (c.protocol, c.fi_index, c.di_index, c.di) == (1, 1, 4, 8)
    assert c.baud == pytest.approx(103_225.8, abs=0.1)
    assert c.request == bytes.fromhex("FF 11 14 FA")  # FF^11 = EE; EE^14 = FA


def test_cps4_t1_at_default_speed_still_needs_pps():
    # A UART limited to 20 000 baud keeps Di=1 (12 903 baud), but T=1 is not the
    # first offered protocol, so a PPS must still select it (PPS1 = 11).
    c = choose_parameters(CPS4, CLOCK, 20_000, prefer_protocol=1)
    assert (c.protocol, c.fi, c.di) == (1, 372, 1)
    assert choose_parameters(CPS4, CLOCK, 20_000) is None


def test_clock_above_f_max_keeps_defaults():
    # TA1=04: Fi index 0 -> 372 with f max 4 MHz < 4.8 MHz: not usable.
    atr = parse_atr(bytes.fromhex("3B 10 04"))
    assert choose_parameters(atr, CLOCK, 500_000) is None
    # Same at 3.5712 MHz: Di 8 -> 3 571 200 x 8 / 372 = 76 800 baud.
    c = choose_parameters(atr, 3_571_200, 500_000)
    assert (c.fi_index, c.di) == (0, 8) and c.baud == pytest.approx(76_800.0)


def test_specific_mode_no_pps():
    # TA2=01: specific mode T=1.
    body = bytes.fromhex("3B 90 18 11 01")  # TD1=11: T=1, TA2 follows
    tck = 0
    for b in body[1:]:
        tck ^= b
    atr = parse_atr(body + bytes([tck]))
    assert atr.ok and atr.specific.protocol == 1
    assert choose_parameters(atr, CLOCK, 500_000) is None
    with pytest.raises(AtrError) as exc:
        choose_parameters(atr, CLOCK, 500_000, protocols_supported=(0,))
    assert exc.value.code == "atr_no_common_protocol"


def test_unusable_atr_and_no_common_protocol():
    with pytest.raises(AtrError):
        choose_parameters(parse_atr(bytes.fromhex("3B 75 13")), CLOCK, 500_000)
    with pytest.raises(AtrError) as exc:
        choose_parameters(VITALE2, CLOCK, 500_000, protocols_supported=(1,))
    assert exc.value.code == "atr_no_common_protocol"


def test_choice_survives_an_echo():
    c = choose_parameters(CPS4, CLOCK, 500_000, prefer_protocol=1)
    out = check_pps_response(c.request, c.request)
    assert (out.protocol, out.fi, out.di) == (c.protocol, c.fi, c.di)
