"""The Pi board's drivers without hardware: gpiozero's MockFactory for the pins,
the register-level sim I2C bus, pyserial's loop:// for the card UART."""

from __future__ import annotations

import os
import time

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockConnectedPin, MockFactory

from board.config import BoardConfig
from board.pi import config as pins
from board.pi.buzzer import GpioBuzzer
from board.pi.keypad import MatrixKeypad
from board.pi.parts import build
from firmware.app import UnitApp, UnitThread
from firmware.iso7816.errors import AtrError
from firmware.parts import Beep, Key


@pytest.fixture
def factory():
    previous = Device.pin_factory
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = previous


@pytest.fixture
def pty_path():
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def levels(factory, pin: int) -> list[bool]:
    """The pin's successive levels, repeats folded."""
    out: list[bool] = []
    for state in factory.pin(pin).states:
        if not out or out[-1] != bool(state.state):
            out.append(bool(state.state))
    return out


def test_the_pi_board_starts_and_activates_both_slots(factory, pty_path, tmp_path):
    config = BoardConfig(board="pi", state_dir=str(tmp_path), i2c_bus="sim",
                         card_uart="loop://", link=pty_path)
    thread = UnitThread(lambda: UnitApp(build(config), tmp_path))
    app = thread.start()
    try:
        assert app.call(lambda: app.unit.unit_info()).board == "pi"
        # OFFN pulled up: a card is seen in each slot; nothing answers on loop://
        for connect in (app.unit.connect_vitale, app.unit.connect_cps):
            with pytest.raises(AtrError) as exc:
                app.call(connect)
            assert exc.value.code == "atr_mute"
    finally:
        thread.stop()
    for slot in pins.SLOTS.values():
        # CMDVCCN (after the mock pin's initial low): set up unpowered (high), powered
        # for the activation (low), released when the card stayed mute (high)
        assert levels(factory, slot.cmdvcc_n) == [False, True, False, True]
        rst = levels(factory, slot.rstin)
        assert rst[0] is False and True in rst and rst[-1] is False  # reset released, then held
    # IO_SELECT: set up by the PS slot (high), routed to the Vitale slot (low), then PS
    assert levels(factory, pins.IO_SELECT_PIN) == [False, True, False, True]


def press(factory, row: int, column: int) -> None:
    """Wire row ``row`` to column ``column``, as a held key does."""
    factory.pin(pins.KEYPAD_ROWS[row], pin_class=MockConnectedPin,
                input_pin=factory.pin(pins.KEYPAD_COLUMNS[column]))


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_matrix_keypad_reads_the_key_at_its_row_and_column(factory):
    press(factory, 3, 3)  # bottom right: Valider
    clock = FakeTime()
    keypad = MatrixKeypad(clock=clock)
    try:
        assert keypad.scan() == {Key.VALIDER}
        assert keypad.events() == []  # not held long enough yet
        clock.t = 0.05
        [event] = keypad.events()
    finally:
        keypad.close()
    assert (event.key, event.down, event.at) == (Key.VALIDER, True, 0.05)


def test_no_key_held_reads_nothing(factory):
    keypad = MatrixKeypad(clock=FakeTime())
    try:
        assert keypad.scan() == set()
    finally:
        keypad.close()


def test_the_buzzer_beeps_on_its_pin(factory):
    buzzer = GpioBuzzer()
    try:
        buzzer.beep(Beep.DONE)  # two beeps, in gpiozero's background thread
        for _ in range(200):
            if levels(factory, pins.BUZZER_PIN).count(True) == 2 and \
                    levels(factory, pins.BUZZER_PIN)[-1] is False:
                break
            time.sleep(0.01)
    finally:
        buzzer.close()
    assert levels(factory, pins.BUZZER_PIN) == [False, True, False, True, False]


def test_a_card_pulled_and_put_back_between_two_polls_is_still_seen(factory):
    """OFFN's edges come from the pin's interrupt (gpiozero callbacks): a pull and
    reinsertion shorter than a poll still ends the session (CardRemoved, then
    CardInserted), where reading the level alone would see nothing."""
    import serial

    from board.pi.card_slot import PiCardSlot
    from board.pi.gpio import GpiozeroLines
    from firmware.iso7816.port import CardInserted, CardRemoved

    lines = GpiozeroLines()
    uart = serial.serial_for_url("loop://", timeout=0)
    clock = FakeTime()
    slot = PiCardSlot("vitale", gpio=lines, serial=uart, clock=clock,
                      sleep=lambda s: setattr(clock, "t", clock.t + s))
    try:
        off_n = factory.pin(pins.SLOTS["vitale"].off_n)
        assert slot.card_present()  # pulled up: a card is in
        assert slot.wait(clock.t + 0.01) == []
        off_n.drive_low()  # pulled out...
        off_n.drive_high()  # ...and back, before the driver looked
        assert slot.card_present()
        events = slot.wait(clock.t + 0.01)
        assert [type(e) for e in events] == [CardRemoved, CardInserted]
        assert slot.wait(clock.t + 0.01) == []  # counted once
        off_n.drive_low()  # pulled out and left out: one removal
        assert [type(e) for e in slot.wait(clock.t + 0.01)] == [CardRemoved]
    finally:
        lines.close()
        uart.close()


def test_a_pi_unit_whose_rtc_lost_power_refuses_to_sign_until_the_office_sets_it(
        factory, pty_path, tmp_path):
    """The DS3231 twin starts as after a power loss (OSF set): the signing time the
    visit takes (Terminal.now, firmware/visit/visit.py sign) is refused with
    clock_not_set until the office sets the clock (the set_clock the link's
    `tla clock set` calls), which writes the RTC and clears OSF."""
    from datetime import UTC, datetime

    from board.pi.rtc import OSF
    from firmware.visit import VisitError

    config = BoardConfig(board="pi", state_dir=str(tmp_path), i2c_bus="sim",
                         card_uart="loop://", link=pty_path)
    board = build(config)
    rtc = board.clock.bus.rtc  # type: ignore[attr-defined]
    thread = UnitThread(lambda: UnitApp(board, tmp_path))
    app = thread.start()
    try:
        with pytest.raises(VisitError) as exc:
            app.call(app.terminal.now)
        assert (exc.value.code, exc.value.message_fr) == ("clock_not_set", "Heure non réglée")
        assert rtc.status & OSF
        rtc.base = lambda: 1_800_000_000.0
        app.call(lambda: app.unit.set_clock(datetime(2026, 12, 1, 9, 30, tzinfo=UTC)))
        assert not rtc.status & OSF
        rtc.base = lambda: 1_800_000_090.0  # a minute and a half later
        assert app.call(app.terminal.now) == datetime(2026, 12, 1, 9, 31, 30, tzinfo=UTC)
    finally:
        thread.stop()
