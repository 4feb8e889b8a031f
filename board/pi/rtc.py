"""DS3231 real-time clock over I2C (smbus2, imported only when no bus is given),
the unit's :class:`~firmware.unit.UnitClock` on the reference board.

Registers (DS3231 datasheet, "Timekeeping Registers"), BCD, kept in UTC:

| reg  | content                                                          |
|------|------------------------------------------------------------------|
| 0x00 | seconds 00-59                                                    |
| 0x01 | minutes 00-59                                                    |
| 0x02 | hours: bit 6 = 12-hour mode (bit 5 PM, bits 4-0 01-12), else 00-23 |
| 0x03 | day of week 1-7 (1 = Monday here)                                |
| 0x04 | date 01-31                                                       |
| 0x05 | month 01-12, bit 7 = century (year 2100-2199)                    |
| 0x06 | year 00-99 (from 2000)                                           |
| 0x0E | control: bit 7 EOSC (1 = oscillator stops on battery)            |
| 0x0F | status: bit 7 OSF, the oscillator stopped (power lost, never set) |

The chip answers at the 7-bit address 0x68. While OSF is set the time is not to
be trusted: :meth:`Ds3231.now` raises :class:`~firmware.unit.ClockNotSet` until
the office sets the clock, which writes the seven time registers, clears EOSC
and then OSF.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from firmware.unit import ClockNotSet

ADDRESS = 0x68
REG_TIME = 0x00
REG_CONTROL = 0x0E
REG_STATUS = 0x0F
OSF = 0x80
EOSC = 0x80
CENTURY = 0x80
HOUR_12 = 0x40
HOUR_PM = 0x20


def bcd(value: int) -> int:
    return (value // 10) << 4 | value % 10


def from_bcd(raw: int) -> int:
    high, low = raw >> 4, raw & 0x0F
    if low > 9 or high > 9:
        raise ValueError(f"0x{raw:02X} is not BCD")
    return high * 10 + low


def encode_time(utc: datetime) -> list[int]:
    """The seven time registers (0x00-0x06) for ``utc``, 24-hour mode."""
    if not 2000 <= utc.year <= 2199:
        raise ValueError("the DS3231 keeps years 2000-2199")
    century = CENTURY if utc.year >= 2100 else 0
    return [bcd(utc.second), bcd(utc.minute), bcd(utc.hour), utc.isoweekday(),
            bcd(utc.day), century | bcd(utc.month), bcd(utc.year % 100)]


def decode_time(regs: list[int]) -> datetime:
    """Registers 0x00-0x06 -> UTC time; ValueError if they hold no valid time."""
    sec, minute, hour, _dow, day, month, year = regs
    if hour & HOUR_12:
        hour12 = from_bcd(hour & 0x1F)
        hours = hour12 % 12 + (12 if hour & HOUR_PM else 0)
    else:
        hours = from_bcd(hour & 0x3F)
    century = 2100 if month & CENTURY else 2000
    return datetime(century + from_bcd(year), from_bcd(month & 0x1F), from_bcd(day & 0x3F),
                    hours, from_bcd(minute & 0x7F), from_bcd(sec & 0x7F), tzinfo=UTC)


class Ds3231:
    """The real RTC; ``bus`` is any object with smbus2's byte and block calls."""

    def __init__(self, bus: Any = None, *, bus_number: int = 1, address: int = ADDRESS):
        if bus is None:
            from smbus2 import SMBus  # lazily: only the Pi image has it

            bus = SMBus(bus_number)
        self.bus = bus
        self.address = address

    def lost_power(self) -> bool:
        """OSF: the oscillator stopped since the clock was last set."""
        return bool(self.bus.read_byte_data(self.address, REG_STATUS) & OSF)

    def now(self) -> datetime:
        if self.lost_power():
            raise ClockNotSet("the RTC lost power (DS3231 OSF set): the office must set it")
        regs = list(self.bus.read_i2c_block_data(self.address, REG_TIME, 7))
        try:
            return decode_time(regs)
        except ValueError as exc:
            raise ClockNotSet(f"the RTC holds no valid time ({exc})") from exc

    def set(self, utc: datetime) -> None:
        if utc.tzinfo is None:
            raise ValueError("clock must be set with a timezone-aware time")
        utc = utc.astimezone(UTC)
        self.bus.write_i2c_block_data(self.address, REG_TIME, encode_time(utc))
        control = self.bus.read_byte_data(self.address, REG_CONTROL)
        if control & EOSC:  # keep time on the coin cell
            self.bus.write_byte_data(self.address, REG_CONTROL, control & ~EOSC)
        status = self.bus.read_byte_data(self.address, REG_STATUS)
        self.bus.write_byte_data(self.address, REG_STATUS, status & ~OSF)
