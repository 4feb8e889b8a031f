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
