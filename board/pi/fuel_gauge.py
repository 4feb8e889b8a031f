"""MAX17048 fuel gauge over I2C (smbus2, imported only when no bus is given).

Registers (MAX17048/MAX17049 datasheet, "Register Summary"), 16 bits, MSB first:

- ``VCELL`` 0x02: cell voltage, 78.125 uV per LSB (full 16 bits).
- ``SOC`` 0x04: state of charge, 1/256 % per LSB (high byte = whole percent).
- ``VERSION`` 0x08: production version (0x001x).

The chip answers at the 7-bit address 0x36. An SMBus "read word" returns the low
byte first, so registers are read as a 2-byte I2C block (MSB, LSB) instead.

    gauge = Max17048()          # /dev/i2c-1
    gauge.percent()             # 0..100, None if the chip does not answer
    gauge.voltage()             # volts
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("opentla.board.fuel_gauge")

ADDRESS = 0x36
REG_VCELL = 0x02
REG_SOC = 0x04
REG_VERSION = 0x08
VCELL_LSB_V = 78.125e-6  # volts per LSB of VCELL
SOC_LSB_PERCENT = 1 / 256  # percent per LSB of SOC


def decode_soc(raw: int) -> float:
    """SOC register value -> state of charge in percent (may exceed 100 slightly)."""
    return raw * SOC_LSB_PERCENT


def decode_vcell(raw: int) -> float:
    """VCELL register value -> cell voltage in volts."""
    return raw * VCELL_LSB_V


class Max17048:
    """The real gauge; ``bus`` is any object with smbus2's ``read_i2c_block_data``."""

    def __init__(self, bus: Any = None, *, bus_number: int = 1, address: int = ADDRESS):
        if bus is None:
            from smbus2 import SMBus  # lazily: only the Pi image has it

            bus = SMBus(bus_number)
        self.bus = bus
        self.address = address

    def read_register(self, register: int) -> int:
        """One 16-bit register, MSB first."""
        msb, lsb = self.bus.read_i2c_block_data(self.address, register, 2)
        return (msb << 8) | lsb

    def soc(self) -> float:
        return decode_soc(self.read_register(REG_SOC))

    def voltage(self) -> float:
        return decode_vcell(self.read_register(REG_VCELL))

    def percent(self) -> int | None:
        """Whole percent (the SOC high byte), capped at 100; None when the chip
        cannot be read (the unit shows the battery as unknown)."""
        try:
            return min(100, int(self.soc()))
        except OSError as exc:
            log.warning("fuel_gauge_unreadable error=%s", exc)
            return None
