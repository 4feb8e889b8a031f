"""Whole-stack properties: any ECHO payload comes back intact in T=0 and T=1,
and the wire time equals the ISO 7816-3 minimum for the characters that
crossed the line (computed here from the line log, not by the link)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.iso7816.apdu import CommandAPDU
from firmware.iso7816.errors import CardAbsent, LinkUsageError
from firmware.iso7816.slot import SlotEngine, State

from .util import bound_etu, make_link


@pytest.mark.parametrize("card", ["vitale2", "vitale1", "cps4-t1"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=255))
def test_echo_roundtrip_at_the_iso_minimum(card, data):
    link, _, em, _ = make_link(card)
    link.power_on()
    start = len(em.log)
    resp = link.transmit(CommandAPDU(0x80, 0xEE, 0x00, 0x00, data=data, le=len(data) & 0xFF or 256))
    assert resp.data == data and resp.sw == 0x9000
    chars = em.log[start:]
    assert link.stats.last.etu == pytest.approx(bound_etu(chars, link.protocol))
    assert link.stats.last.chars_sent + link.stats.last.chars_received == len(chars)


def test_read_binary_255_t0_is_3160_etu():
    # Hand count: 5 header chars (4 x 12), 16 etu turnaround, INS + 255 data +
    # SW1 SW2 = 258 chars (257 x 12), last char 12: 48 + 16 + 3084 + 12 = 3160.
    link, _, _, _ = make_link("vitale2")
    link.power_on()
    link.transmit(CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=255))
    last = link.stats.last
    assert (last.chars_sent, last.chars_received, last.turnarounds) == (5, 258, 1)
    assert last.etu == pytest.approx(3160)
    assert last.seconds == pytest.approx(3160 * 372 / (4 * 4_800_000))


def test_read_binary_255_t1_is_3366_etu():
    # IFSD 254: the 257-byte answer comes as I(254 + 4) then I(3 + 4) after our
    # R-block. Segments 9 / 258 / 4 / 7 chars: (8+257+3+6) x 12 + 3 x 22 + 12.
    link, _, _, _ = make_link("cps4-t1")
    link.power_on()
    link.transmit(CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=255))
    last = link.stats.last
    assert (last.chars_sent, last.chars_received, last.turnarounds) == (13, 265, 3)
    assert last.etu == pytest.approx(274 * 12 + 66 + 12)


def test_engine_table_refuses_misuse():
    slot = SlotEngine()
    assert [type(a).__name__ for a in slot.activate(0.0)] == ["Failed"]
    assert isinstance(slot.activate(0.0)[0].error, CardAbsent)
    slot.card_inserted(0.0)
    assert slot.state is State.INACTIVE
    with pytest.raises(LinkUsageError):
        slot.transmit(b"\x00\xa4\x00\x00", 0.0)
    with pytest.raises(LinkUsageError):
        slot.warm_reset(0.0)
    assert slot.timeout(1.0)[0].event == "stale_timer"
    assert slot.receive(b"\x3b", 0.0)[0].event == "slot_ignored"


def test_transmit_while_busy_is_misuse_and_extended_apdu_keeps_slot_ready():
    link, _, _, _ = make_link("vitale2")
    link.power_on()
    with pytest.raises(LinkUsageError):
        link.transmit(CommandAPDU(0x00, 0xB0, 0, 0, le=300, extended=True))
    assert link.slot.state is State.READY
    assert link.transmit(CommandAPDU(0x00, 0xB0, 0, 0, le=1)).data == b"\x00"


def test_warm_reset_through_the_link():
    link, _, em, card = make_link("cps4")
    link.power_on()
    assert link.warm_reset() == link.atr
    assert em.resets == 2 and card.powered == 2
    assert link.transmit(CommandAPDU(0x00, 0xB0, 0, 0, le=2)).data == b"\x00\x01"


@settings(max_examples=80, deadline=None)
@given(st.one_of(
    st.binary(min_size=1, max_size=34),
    st.binary(max_size=32).map(lambda b: b"\x3b" + b),
    st.binary(max_size=32).map(lambda b: b"\x3f" + b),
))
def test_any_atr_gives_ready_or_a_clear_card_error(atr):
    """Fuzz: whatever the card answers to reset, activation ends in Ready or a
    CardError with a stable code, and the slot is left consistent."""
    from firmware.iso7816.errors import CardError

    link, port, _, _ = make_link(atr=atr)
    try:
        link.power_on()
    except CardError as exc:
        assert exc.code and exc.message_fr
        assert link.slot.state is State.INACTIVE and not port.vcc
        return
    assert link.slot.state is State.READY and port.vcc
    try:
        link.transmit(CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=2))
    except CardError as exc:
        assert exc.code
