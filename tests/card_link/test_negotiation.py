"""Convention, PPS and the DESIGN.md ATRs. Expected values are computed by hand
from ISO/IEC 7816-3 Tables 7/8 (Fi, Di) and §9.2 (PCK = XOR of the bytes)."""

import pytest

from board.sim.card_emulator import EmulatorConfig
from firmware.iso7816.actions import SetUart, SetVcc
from firmware.iso7816.apdu import CommandAPDU

from .util import CLOCK, FD_ETU, make_link

READ4 = CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=4)


def reader_chars(port):
    return bytes(b for _, b in port.sent)


@pytest.mark.parametrize("card,protocol,fi,di,pps", [
    # Vitale 2: TA1=13 -> Fi 372 (index 1), Di 4 (index 3); PCK FF^10^13 = FC.
    ("vitale2", 0, 372, 4, "FF 10 13 FC"),
    # Vitale 1: no TA1, T=0 only: no PPS at all.
    ("vitale1", 0, 372, 1, None),
    # CPS3: no TA1: default speed, no PPS.
    ("cps3", 0, 372, 1, None),
    # CPS4: TA1=18 -> Di 12 (index 8); T=0 first offered; FF^10^18 = F7.
    ("cps4", 0, 372, 12, "FF 10 18 F7"),
    # CPS4 preferring T=1 (offered by TD2=01): PPS0 = 11; FF^11^18 = F6.
    ("cps4-t1", 1, 372, 12, "FF 11 18 F6"),
])
def test_design_atrs_negotiate(card, protocol, fi, di, pps):
    link, port, em, _ = make_link(card)
    link.power_on()
    assert (link.protocol, link.timing.fi, link.timing.di) == (protocol, fi, di)
    sent = reader_chars(port)
    if pps is None:
        assert 0xFF not in sent
    else:
        assert sent[:4] == bytes.fromhex(pps)
    baud = CLOCK * di / fi
    last_uart = [a for _, a in port.history if isinstance(a, SetUart)][-1]
    assert last_uart.baud == pytest.approx(baud)
    assert link.transmit(READ4).to_bytes() == bytes([0, 1, 2, 3, 0x90, 0x00])
    assert em.protocol == protocol


def test_cps4_t1_announces_ifsd_254():
    link, port, _, _ = make_link("cps4-t1")
    link.power_on()
    # After the PPS: S(IFS request) NAD 00, PCB C1, LEN 01, IFSD FE, LRC 00^C1^01^FE = 3E.
    assert reader_chars(port)[4:9] == bytes.fromhex("00C101FE3E")
    assert link.slot.timing.protocol == 1


def test_cps3_work_waiting_time_uses_wi_42():
    link, _, _, _ = make_link("cps3")
    link.power_on()
    # WWT = 960 x WI x Fi / f = 960 x 42 x 372 / 4.8 MHz = 3.1248 s (§10.2).
    assert link.timing.wwt == pytest.approx(3.1248)


def test_inverse_convention_vitale1():
    link, port, em, _ = make_link("vitale1")
    link.power_on()
    assert em.log[0].raw == 0x03  # TS 3F as a direct-convention UART reads it
    uarts = [a for _, a in port.history if isinstance(a, SetUart)]
    assert any(u.parity == "O" for u in uarts)  # §8.1: odd parity on the wire
    assert link.atr == bytes.fromhex("3F 65 25 00 52 09 6A 90 00")  # smartcard_list.txt
    # Header 00 B0 00 00 04 goes out inverted and bit-reversed: 00 -> FF, B0 -> F2.
    assert link.transmit(READ4).data == bytes([0, 1, 2, 3])
    header = bytes(b for _, b in port.sent[:5])
    assert header == bytes.fromhex("FFF2FFFFDF")


def test_inverse_card_fails_if_uart_stays_even():
    """The card checks parity: a reader that ignored TS=03 would be refused."""
    from board.sim.card_emulator import LineChar

    ch = LineChar(0.0, 0x03, True, FD_ETU, "O")
    assert ch.parity_ok("O") and not ch.parity_ok("E")


def test_pps_decline_keeps_default_speed_without_fallback():
    link, port, _, _ = make_link("vitale2", config=EmulatorConfig(pps="decline"))
    link.power_on()
    assert (link.timing.fi, link.timing.di) == (372, 1)
    assert link.slot.pps_outcome.defaulted
    assert [a for _, a in port.history if isinstance(a, SetVcc)] == [SetVcc(True)]
    assert link.transmit(READ4).sw == 0x9000


@pytest.mark.parametrize("mode", ["refuse", "garble"])
def test_pps_failure_falls_back_to_cold_reset_at_default_speed(mode):
    link, port, em, _ = make_link("cps4", config=EmulatorConfig(pps=mode))
    link.power_on()
    vcc = [a for _, a in port.history if isinstance(a, SetVcc)]
    assert vcc == [SetVcc(True), SetVcc(False), SetVcc(True)]  # deactivated, then cold
    assert em.resets == 2
    assert reader_chars(port).count(0xFF) == 1  # one PPS request only
    assert (link.timing.fi, link.timing.di, link.protocol) == (372, 1, 0)
    assert link.slot.fallback
    assert link.transmit(READ4).data == bytes([0, 1, 2, 3])


def test_pps_refused_waits_9600_etu():
    link, port, _, _ = make_link("cps4", config=EmulatorConfig(pps="refuse"))
    link.power_on()
    off = next(t for t, a in port.history if a == SetVcc(False))
    last_pps_char = port.sent[3][0]
    assert (off - last_pps_char) / FD_ETU == pytest.approx(9600)


def test_no_pps_when_disabled():
    link, port, _, _ = make_link("cps4", pps=False)
    link.power_on()
    assert 0xFF not in reader_chars(port)
    assert (link.timing.di, link.protocol) == (1, 0)


def test_specific_mode_applies_ta1_without_pps():
    # TA1=13, TD1=10 (TA2 follows, T=0), TA2=00 (specific mode T=0, Fi/Di of TA1).
    atr = bytes.fromhex("3B9413100041424344")
    link, port, _, _ = make_link(atr=atr)
    link.power_on()
    assert 0xFF not in reader_chars(port)
    assert (link.timing.fi, link.timing.di) == (372, 4)
    assert link.transmit(READ4).sw == 0x9000


def test_extra_guard_time_tc1_spaces_reader_characters():
    # T0=40: TC1 only; TC1=05 -> N=5: our characters 12 + 5 = 17 etu apart (§8.3).
    link, port, em, _ = make_link(atr=bytes.fromhex("3B4005"))
    link.power_on()
    assert link.transmit(READ4).data == bytes([0, 1, 2, 3])
    etu = link.timing.etu
    reader = [c.at for c in em.log if not c.from_card]
    card = [c.at for c in em.log if c.from_card][-7:]
    assert (reader[1] - reader[0]) / etu == pytest.approx(17)
    assert (card[2] - card[1]) / etu == pytest.approx(12)  # the card keeps 12


def test_n255_in_t1_gives_11_etu_characters():
    # T0=C0: TC1 and TD1; TC1=FF (N=255), TD1=01 (T=1); TCK = C0^FF^01 = 3E.
    link, port, em, _ = make_link(atr=bytes.fromhex("3BC0FF013E"))
    link.power_on()
    assert link.protocol == 1
    start = len(em.log)
    assert link.transmit(READ4).data == bytes([0, 1, 2, 3])
    chars = em.log[start:]
    etu = link.timing.etu
    steps = {round((b.at - a.at) / etu, 6) for a, b in zip(chars, chars[1:], strict=False)
             if a.from_card == b.from_card}
    assert steps == {11.0}
    uart = [a for _, a in port.history if isinstance(a, SetUart)][-1]
    assert uart.extra_guard_etu == -1.0
