"""The real slot driver without hardware: fake GPIOs, pyserial's loop://
(which echoes like the board's tied TX/RX) and a fake clock."""

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

from board.pi import config as cfg
from board.pi.card_slot import ParityUnmarker, PiCardSlot
from firmware.iso7816.actions import Send, SetClock, SetRst, SetUart, SetVcc
from firmware.iso7816.port import CardRemoved, Received, TransmitDone


class FakeGpio:
    def __init__(self, present=True):
        self.levels = {}
        self.present = present

    def setup_output(self, pin, level):
        self.levels[pin] = level

    def setup_input(self, pin):
        self.levels[pin] = self.present

    def write(self, pin, level):
        self.levels[pin] = level

    def read(self, pin):
        return self.levels[pin]

    def edges(self, pin):
        return 0


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def make(present=True):
    gpio, clock = FakeGpio(present), FakeClock()
    ser = serial.serial_for_url("loop://", timeout=0)
    slot = PiCardSlot("ps", gpio=gpio, serial=ser, clock=clock, sleep=clock.sleep)
    return slot, gpio, ser, clock


def test_pins_follow_actions():
    slot, gpio, _, _ = make()
    pins = cfg.SLOTS["ps"]
    assert gpio.levels[pins.cmdvcc_n] is True  # CMDVCCN high: card unpowered at start
    slot.apply(SetVcc(True))
    assert gpio.levels[pins.cmdvcc_n] is False
    assert gpio.levels[cfg.IO_SELECT_PIN] is pins.io_select_level
    slot.apply(SetRst(True))
    assert gpio.levels[pins.rstin] is True
    slot.apply(SetVcc(False))
    assert gpio.levels[pins.cmdvcc_n] is True


def test_clock_must_be_the_board_clock():
    slot, _, _, _ = make()
    slot.apply(SetClock(4_800_000))
    slot.apply(SetClock(0))
    try:
        slot.apply(SetClock(3_571_200))
    except ValueError as exc:
        assert "4800000" in str(exc)
    else:
        raise AssertionError("a clock the board cannot make was accepted")


def test_uart_settings_and_echo():
    slot, _, ser, _ = make()
    slot.apply(SetUart(154_838.7, "O", -1.0))  # T=1 with N=255: 11 etu, 1 stop bit
    assert (ser.baudrate, ser.parity, ser.stopbits) == (154_839, "O", 1)
    slot.apply(SetUart(12_903.2, "E", 0.0))
    assert (ser.baudrate, ser.parity, ser.stopbits) == (12_903, "E", 2)
    slot.apply(Send(b"\x00\xb0\x00\x00\x08"))
    events = slot.wait(None)
    assert isinstance(events[0], TransmitDone)
    events = slot.wait(slot.now() + 1.0)
    assert isinstance(events[0], Received) and events[0].data == b"\x00\xb0\x00\x00\x08"
    assert all(events[0].parity_ok)
    # leading edges 12 etu apart, the last one 12 etu before the read
    t = events[0].times
    assert (t[1] - t[0]) * 12_903.2 == pytest.approx(12)


def test_send_waits_for_not_before():
    slot, _, _, clock = make()
    slot.apply(SetUart(9600, "E"))
    slot.apply(Send(b"\x01", not_before=clock.t + 0.5))
    done = slot.wait(None)[0]
    assert done.first >= 100.5


def test_removal_is_an_event_and_deadline_expires():
    slot, gpio, _, clock = make()
    slot.apply(SetUart(9600, "E"))
    assert slot.wait(clock.t + 0.1) == []
    assert clock.t >= 100.1
    gpio.levels[cfg.SLOTS["ps"].off_n] = False
    events = slot.wait(None)
    assert isinstance(events[0], CardRemoved) and not slot.card_present()


def parmrk(data: bytes, flags: list[bool]) -> bytes:
    out = bytearray()
    for b, ok in zip(data, flags, strict=True):
        if not ok:
            out += bytes((0xFF, 0x00, b))
        elif b == 0xFF:
            out += b"\xff\xff"
        else:
            out.append(b)
    return bytes(out)


@given(st.lists(st.tuples(st.integers(0, 255), st.booleans()), max_size=40), st.data())
def test_parmrk_stream_decodes_across_any_split(chars, draw):
    data = bytes(b for b, _ in chars)
    flags = [ok for _, ok in chars]
    stream = parmrk(data, flags)
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(stream)), max_size=5)))
    un = ParityUnmarker()
    got, got_flags = b"", []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        d, f = un.feed(stream[a:b])
        got += d
        got_flags += f
    assert got == data and got_flags == flags


def test_inverse_ts_with_parity_error_reads_as_03():
    un = ParityUnmarker()
    assert un.feed(b"\xff\x00\x03\x65") == (b"\x03\x65", [False, True])
