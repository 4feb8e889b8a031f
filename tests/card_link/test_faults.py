"""Faults through the whole stack: echo collision, card removal at every
character, mute and slow cards, T=0 parity repetition, T=1 WTX and corruption.
Times are the emulator's virtual time."""

import pytest

from board.sim.card_emulator import EmulatorConfig, Faults
from board.sim.t1_card import T1CardSide
from firmware.iso7816.apdu import CommandAPDU
from firmware.iso7816.errors import CardGone, CardMute, CardProtocolError
from firmware.iso7816.slot import State

from .util import CLOCK, make_link

READ = CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=8)
SIGN = CommandAPDU(0x00, 0x2A, 0x9E, 0x9A, data=bytes(range(10)), le=16)


def chars_of_exchange(card, command, **kw):
    link, _, em, _ = make_link(card, **kw)
    link.power_on()
    start = len(em.log)
    link.transmit(command)
    return len(em.log) - start


def test_echo_mismatch_is_a_collision_and_powers_down():
    link, port, _, _ = make_link("vitale2", faults=Faults(echo_corrupt_at=frozenset({2})))
    link.power_on()
    with pytest.raises(CardProtocolError) as exc:
        link.transmit(READ)
    assert exc.value.code == "io_collision"
    assert not port.vcc and link.slot.state is State.INACTIVE


def test_without_echo_the_line_works_too():
    link, _, _, _ = make_link("vitale2", echo=False)
    link.power_on()
    assert link.transmit(READ).data == bytes(range(8))


@pytest.mark.parametrize("card,command", [("vitale2", READ), ("vitale1", SIGN),
                                          ("cps4-t1", READ), ("cps4-t1", SIGN)])
def test_removal_at_every_character(card, command):
    # Fault indexes count from the protocol phase: in T=1 the S(IFS) exchange
    # of the activation (5 + 5 characters) comes first.
    setup = 10 if card == "cps4-t1" else 0
    total = chars_of_exchange(card, command)
    assert total > 10
    in_exchange = 0
    for index in range(setup + total):
        link, port, _, _ = make_link(card, faults=Faults(remove_at=index))
        with pytest.raises(CardGone) as exc:
            link.power_on()
            in_exchange += 1
            link.transmit(command)
        assert exc.value.code == "card_removed"
        assert link.slot.state is State.ABSENT
        assert not port.vcc and port.clock_hz == 0 and not port.rst_high
        assert "card_removed" in link.powered_down
        assert link.atr == b""
    assert in_exchange == total


def test_removal_during_activation():
    link, port, _, _ = make_link("vitale2")
    port.remove(at=500 / CLOCK)  # after RST rose (400 clocks), before the ATR
    with pytest.raises(CardGone):
        link.power_on()
    assert not port.vcc


def test_card_mute_after_command_is_cardmute_after_wwt():
    # Character 5 is the card's procedure byte after the 5-byte header.
    link, port, _, _ = make_link("vitale2", pps=False,
                                 faults=Faults(lost_at=frozenset(range(5, 400))))
    link.power_on()
    with pytest.raises(CardMute):
        link.transmit(READ)
    last_sent = port.sent[-1][0]
    # WWT = 960 x 10 x 372 / 4.8 MHz = 0.744 s after our last character (§10.2).
    off = [t for t, a in port.history if type(a).__name__ == "SetVcc"][-1]
    assert off - last_sent == pytest.approx(0.744)
    assert link.slot.state is State.INACTIVE


@pytest.mark.parametrize("card", ["vitale2", "cps4-t1"])
def test_slow_card_still_works_and_costs_exactly_its_delay(card):
    fast, _, em_fast, _ = make_link(card)
    fast.power_on()
    fast.transmit(READ)
    slow, _, em, _ = make_link(card, config=EmulatorConfig(delay_etu=1000, char_delay_etu=3))
    slow.power_on()
    start = len(em.log)
    assert slow.transmit(READ).data == bytes(range(8))
    chars = em.log[start:]
    card_chars = sum(c.from_card for c in chars)
    replies = sum(1 for a, b in zip(chars, chars[1:], strict=False) if b.from_card and not a.from_card)
    gaps = card_chars - replies  # spacing between consecutive card chars
    extra = slow.stats.last.etu - fast.stats.last.etu
    assert extra == pytest.approx(1000 * replies + 3 * gaps)


def test_t0_parity_error_is_repeated_and_costs_14_etu():
    clean, _, _, _ = make_link("vitale2")
    clean.power_on()
    clean.transmit(READ)
    link, _, em, _ = make_link("vitale2", faults=Faults(parity_at=frozenset({5, 9})))
    link.power_on()
    start = len(em.log)
    assert link.transmit(READ).data == bytes(range(8))
    bad = [c for c in em.log[start:] if c.parity_fault]
    assert len(bad) == 2
    # §7.3: each repetition starts 14 etu after the bad character instead of 0.
    assert link.stats.last.etu - clean.stats.last.etu == pytest.approx(2 * 14)


def test_t1_corrupted_block_is_recovered():
    clean_total = chars_of_exchange("cps4-t1", READ)
    # Character 22: after S(IFS) (10) and our I-block (9), the card's first INF byte.
    link, _, em, _ = make_link("cps4-t1", faults=Faults(corrupt_at=frozenset({22})))
    link.power_on()
    start = len(em.log)
    assert link.transmit(READ).data == bytes(range(8))
    assert len(em.log) - start > clean_total  # an R-block and the block again


def test_t1_parity_error_is_recovered():
    link, _, _, _ = make_link("cps4-t1", faults=Faults(parity_at=frozenset({21})))
    link.power_on()
    assert link.transmit(SIGN).data == bytes((45 + i) & 0xFF for i in range(16))


def test_t1_wtx_through_the_stack():
    sides = []

    def factory(card, protocol, atr):
        side = T1CardSide(card, ifsc=atr.ifsc, checksum=atr.checksum)
        side.request_wtx(3, delay_etu=300_000)  # beyond BWT, within 3 x BWT
        sides.append(side)
        return side

    link, _, _, _ = make_link("cps4-t1", config=EmulatorConfig(protocol_factory=factory))
    link.power_on()
    bwt_etu = link.timing.bwt / link.timing.etu
    assert bwt_etu < 300_000 < 3 * bwt_etu  # without WTX the card would be declared mute
    assert link.transmit(READ).data == bytes(range(8))
    assert sides and any("wtx" in n.event for n in link.notes)


def test_t1_card_too_slow_without_wtx_is_mute():
    link, _, _, _ = make_link("cps4-t1", config=EmulatorConfig(delay_etu=400_000))
    link.power_on()  # the S(IFS) answer is late too: slot fails there
    with pytest.raises(CardMute):
        link.transmit(READ)


@pytest.mark.parametrize("char", range(0, 10))
def test_removal_at_each_atr_character(char):
    # TS at 400 + 1000 clocks, then 12 etu = 12 x 372 clocks apart (§8.1).
    at = (400 + 1000 + char * 12 * 372) / CLOCK
    link, port, em, _ = make_link("vitale2")
    port.remove(at=at)
    with pytest.raises(CardGone):
        link.power_on()
    assert not port.vcc and link.slot.state is State.ABSENT


@pytest.mark.parametrize("offset", [0, 2, 4])
def test_removal_during_pps(offset):
    # The PPS request starts 16 etu after the last ATR character (§9, as T=0).
    last_atr = (400 + 1000 + 9 * 12 * 372) / CLOCK
    at = last_atr + (16 + offset * 12) * 372 / CLOCK
    link, port, _, _ = make_link("vitale2")
    port.remove(at=at)
    with pytest.raises(CardGone):
        link.power_on()
    assert not port.vcc


def test_t0_null_bytes_keep_a_slow_card_alive():
    from board.sim.t0_card import T0CardSide

    # Each NULL (60) comes 9 000 etu after the previous character, under
    # WWT = 960 x WI x Fi / f = 38 400 etu at Di = 4 (§10.2); 5 NULLs make the
    # whole answer longer than one WWT.
    def factory(card, protocol, atr):
        return T0CardSide(card, null_bytes=5, null_interval_etu=9_000)

    link, _, em, _ = make_link("vitale2", config=EmulatorConfig(protocol_factory=factory))
    link.power_on()
    assert link.transmit(SIGN).data == bytes((45 + i) & 0xFF for i in range(16))
    assert link.timing.wwt / link.timing.etu == pytest.approx(38_400)
    assert link.stats.last.etu > 5 * 9_000 > 38_400


def test_card_answering_inside_our_character_collides():
    # Turnaround 16 - 10 = 6 etu: the card's first character overlaps our last
    # one on the open-drain line; the echo reads wrong.
    link, port, _, _ = make_link("vitale2", config=EmulatorConfig(delay_etu=-10))
    link.power_on()
    with pytest.raises(CardProtocolError) as exc:
        link.transmit(READ)
    assert exc.value.code == "io_collision"
    assert not port.vcc


def test_t1_length_corrupted_towards_card_is_recovered():
    # Our I-block's LEN (character 12 after S(IFS)) reaches the card as 06: it
    # waits for one more byte and stays silent. BWT later we send R(0) (rule
    # 7.1); the card dropped its partial block after CWT of silence (§11.4.3),
    # answers R(0) (our I-block is still expected) and we send it again.
    link, port, em, _ = make_link("cps4-t1", faults=Faults(corrupt_at=frozenset({12})))
    link.power_on()
    assert link.transmit(READ).data == bytes(range(8))
    assert port.vcc
    assert [n.event for n in link.notes].count("t1_retry") >= 1
