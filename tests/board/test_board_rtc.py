"""DS3231 driver against a register-level fake SMBus (registers written by hand
from the datasheet), and the sim I2C twin it runs on without hardware."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from board.pi.rtc import Ds3231
from board.sim.i2c import SimI2CBus
from firmware.unit import ClockNotSet


class FakeSMBus:
    """A DS3231's 0x00-0x12 register file; records every write."""

    def __init__(self, regs: dict[int, int]):
        self.regs = {r: 0 for r in range(0x13)} | regs
        self.writes: list[tuple[int, list[int]]] = []

    def read_byte_data(self, address: int, reg: int) -> int:
        assert address == 0x68
        return self.regs[reg]

    def write_byte_data(self, address: int, reg: int, value: int) -> None:
        assert address == 0x68
        self.writes.append((reg, [value]))
        self.regs[reg] = value

    def read_i2c_block_data(self, address: int, reg: int, length: int) -> list[int]:
        assert address == 0x68
        return [self.regs[reg + i] for i in range(length)]

    def write_i2c_block_data(self, address: int, reg: int, data: list[int]) -> None:
        assert address == 0x68
        self.writes.append((reg, list(data)))
        for i, value in enumerate(data):
            self.regs[reg + i] = value


def test_reads_bcd_time_in_24_hour_mode():
    # 2026-03-10 (a Tuesday) 09:30:45 UTC
    bus = FakeSMBus({0x00: 0x45, 0x01: 0x30, 0x02: 0x09, 0x03: 0x02, 0x04: 0x10,
                     0x05: 0x03, 0x06: 0x26})
    assert Ds3231(bus).now() == datetime(2026, 3, 10, 9, 30, 45, tzinfo=UTC)


@pytest.mark.parametrize("hour_reg, hour", [(0x52, 0), (0x72, 12), (0x71, 23), (0x41, 1)])
def test_reads_12_hour_mode(hour_reg, hour):
    # bit 6: 12-hour mode; bit 5: PM; 12 AM is midnight, 12 PM is noon
    bus = FakeSMBus({0x00: 0, 0x01: 0, 0x02: hour_reg, 0x04: 0x01, 0x05: 0x01, 0x06: 0x30})
    assert Ds3231(bus).now().hour == hour


def test_century_bit_means_2100s():
    bus = FakeSMBus({0x04: 0x01, 0x05: 0x80 | 0x01, 0x06: 0x00})
    assert Ds3231(bus).now().year == 2100


def test_oscillator_stop_flag_means_not_set():
    bus = FakeSMBus({0x04: 0x01, 0x05: 0x01, 0x0F: 0x88})  # OSF + EN32kHz
    with pytest.raises(ClockNotSet) as exc:
        Ds3231(bus).now()
    assert exc.value.code == "clock_not_set"


def test_garbage_in_the_time_registers_is_not_set_either():
    bus = FakeSMBus({0x00: 0x5A, 0x04: 0x01, 0x05: 0x01})
    with pytest.raises(ClockNotSet):
        Ds3231(bus).now()


def test_set_writes_the_time_registers_then_clears_eosc_and_osf():
    bus = FakeSMBus({0x0E: 0x9C, 0x0F: 0x88})  # EOSC set, OSF set
    paris = timezone(timedelta(hours=1))
    Ds3231(bus).set(datetime(2031, 7, 14, 11, 5, 9, tzinfo=paris))  # 10:05:09 UTC, Monday
    assert bus.writes == [
        (0x00, [0x09, 0x05, 0x10, 0x01, 0x14, 0x07, 0x31]),
        (0x0E, [0x1C]),
        (0x0F, [0x08]),
    ]
    assert Ds3231(bus).now() == datetime(2031, 7, 14, 10, 5, 9, tzinfo=UTC)


def test_naive_time_is_refused():
    with pytest.raises(ValueError):
        Ds3231(FakeSMBus({})).set(datetime(2031, 7, 14))


def test_the_sim_bus_twin_starts_lost_and_keeps_time_once_set():
    bus = SimI2CBus()
    clock = Ds3231(bus)
    with pytest.raises(ClockNotSet):
        clock.now()
    bus.rtc.base = lambda: 1_000_000.0
    clock.set(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    bus.rtc.base = lambda: 1_000_061.0  # a minute and a second later
    assert clock.now() == datetime(2030, 1, 2, 3, 5, 6, tzinfo=UTC)
