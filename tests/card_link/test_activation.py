"""Activation, ATR timing and deactivation (ISO/IEC 7816-3 §6.2, §6.4, §8)
measured on the emulator's virtual clock (simulated time, not wall clock)."""

import pytest

from board.sim.card_emulator import EmulatorConfig
from firmware.iso7816.actions import SetClock, SetRst, SetUart, SetVcc
from firmware.iso7816.errors import AtrError, CardAbsent
from firmware.iso7816.slot import State

from .util import CLOCK, FD_ETU, make_link

VITALE2 = bytes.fromhex("3B751300004709EA9000")


def electrical(port):
    return [(t, a) for t, a in port.history if isinstance(a, (SetVcc, SetRst, SetClock, SetUart))]


def test_cold_reset_order_and_rst_low_400_clocks():
    link, port, em, _ = make_link("vitale2", pps=False)
    link.power_on()
    hist = electrical(port)
    kinds = [type(a).__name__ for _, a in hist[:5]]
    # §6.2.2: RST low, VCC on, I/O in reception, clock, then RST high.
    assert kinds == ["SetRst", "SetVcc", "SetUart", "SetClock", "SetRst"]
    assert hist[0][1] == SetRst(False) and hist[4][1] == SetRst(True)
    assert hist[3][1] == SetClock(CLOCK)
    clock_on, rst_high = hist[3][0], hist[4][0]
    assert (rst_high - clock_on) * CLOCK == pytest.approx(400)
    # TS arrives atr_delay_clocks (default 1000) after RST rises, then 12 etu apart.
    assert (em.log[0].at - rst_high) * CLOCK == pytest.approx(1000)
    assert (em.log[1].at - em.log[0].at) / FD_ETU == pytest.approx(12)
    assert link.atr == VITALE2


def test_deactivation_order_on_power_off():
    link, port, _, _ = make_link("vitale2")
    link.power_on()
    n = len(port.history)
    link.power_off()
    tail = [a for _, a in port.history[n:]]
    # §6.4: RST low, clock stopped, I/O low (UART off), VCC off.
    assert tail == [SetRst(False), SetClock(0), SetUart(0.0, "E", 0.0), SetVcc(False)]
    assert link.slot.state is State.INACTIVE and not port.vcc


@pytest.mark.parametrize("delay,ok", [(39_000, True), (40_100, False)])
def test_atr_must_start_within_40000_clocks(delay, ok):
    link, port, _, _ = make_link("vitale2", config=EmulatorConfig(atr_delay_clocks=delay))
    if ok:
        assert link.power_on() == VITALE2
        return
    with pytest.raises(AtrError) as exc:
        link.power_on()
    assert exc.value.code == "atr_mute"
    # cold: 400 + 40000 clocks, one warm reset: 400 + 40000 more, then power down.
    assert port.now() * CLOCK == pytest.approx(80_800)
    assert not port.vcc and link.slot.state is State.INACTIVE


def test_mute_card_one_warm_reset_then_atr_error():
    link, port, em, _ = make_link("vitale2", config=EmulatorConfig(atr_script=[None]))
    with pytest.raises(AtrError) as exc:
        link.power_on()
    assert exc.value.code == "atr_mute" and exc.value.message_fr
    assert em.resets == 2  # cold reset + one warm reset (§6.2.3)
    vcc = [a for _, a in port.history if isinstance(a, SetVcc)]
    assert vcc == [SetVcc(True), SetVcc(False)]  # the retry kept VCC on: warm


def test_gap_over_9600_etu_is_a_truncated_atr():
    link, _, _, _ = make_link("vitale2", config=EmulatorConfig(atr_char_gap_etu=9_600))
    with pytest.raises(AtrError) as exc:
        link.power_on()
    assert exc.value.code == "atr_truncated"


def test_gap_just_under_9600_etu_is_accepted():
    link, _, _, _ = make_link("vitale2", config=EmulatorConfig(atr_char_gap_etu=9_580))
    assert link.power_on() == VITALE2


@pytest.mark.parametrize("bad", [
    bytes.fromhex("3B751300004709EA90"),  # truncated
    bytes.fromhex("3B9B188001001225006480040100009045"),  # TCK wrong
    bytes.fromhex("3A751300004709EA9000"),  # bad TS
])
def test_bad_atr_then_good_after_warm_reset(bad):
    atr = VITALE2 if bad[1] == 0x75 else bytes.fromhex("3B9B188001001225006480040100009044")
    link, port, em, _ = make_link(atr=atr, config=EmulatorConfig(atr_script=[bad, atr]))
    assert link.power_on() == atr
    assert em.resets == 2
    assert [n.event for n in link.notes].count("atr_retry") == 1


def test_bad_atr_twice_is_atr_error():
    bad = bytes.fromhex("3B9B188001001225006480040100009045")
    link, _, _, _ = make_link(atr=bad)
    with pytest.raises(AtrError) as exc:
        link.power_on()
    assert exc.value.code == "atr_tck_mismatch"


def test_empty_slot_is_card_absent():
    from board.sim.slot import SimCardSlot
    from firmware.iso7816.link import CardLink

    link = CardLink(SimCardSlot(None))
    with pytest.raises(CardAbsent):
        link.power_on()


def test_insert_then_activate():
    from board.sim.card_emulator import CardEmulator, MemoryTestCard
    from board.sim.slot import SimCardSlot
    from firmware.iso7816.link import CardLink

    port = SimCardSlot(None)
    link = CardLink(port)
    port.insert(CardEmulator(MemoryTestCard(atr=VITALE2)))
    assert link.power_on() == VITALE2
