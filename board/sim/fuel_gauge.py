"""The simulated MAX17048 fuel gauge: a register-level twin of board/pi/fuel_gauge.py.

It keeps a state of charge and a cell voltage, encodes them in the chip's
registers exactly as the datasheet does (VCELL 0x02: 78.125 uV/LSB; SOC 0x04:
1/256 %/LSB; 16 bits, MSB first) and answers ``read_i2c_block_data`` like an
smbus2 bus, so the real driver can run on it unchanged:

    twin = SimMax17048(soc=87.0)
    Max17048(bus=twin).percent()    # 87
    twin.percent()                  # 87, the BatteryGauge protocol of the unit

The voltage follows the charge on a straight line from 3.3 V (0 %) to 4.2 V
(100 %) unless set explicitly: enough for a demo, not a discharge curve.
"""

from __future__ import annotations

import threading

from board.pi.fuel_gauge import ADDRESS, REG_SOC, REG_VCELL, REG_VERSION, decode_soc

EMPTY_V, FULL_V = 3.3, 4.2
VERSION = 0x0012


def linear_vcell(soc: float) -> float:
    soc = min(max(soc, 0.0), 100.0)
    return EMPTY_V + (FULL_V - EMPTY_V) * soc / 100.0


class SimMax17048:
    """State of charge (percent) and cell voltage (volts), read through registers."""

    def __init__(self, soc: float = 87.0, vcell: float | None = None, address: int = ADDRESS):
        self.address = address
        self._lock = threading.Lock()  # the sim's command thread sets, the unit reads
        self._soc = 0.0
        self._vcell = 0.0
        self.set(soc, vcell)

    def set(self, soc: float, vcell: float | None = None) -> None:
        if not 0.0 <= soc <= 255.99:
            raise ValueError("state of charge must be 0..255.99 percent")
        with self._lock:
            self._soc = soc
            self._vcell = linear_vcell(soc) if vcell is None else vcell

    def discharge(self, percent: float) -> None:
        """Lose ``percent`` points of charge (not below 0)."""
        with self._lock:
            soc = max(0.0, self._soc - percent)
        self.set(soc)

    # ---- registers ------------------------------------------------------------------
    def register(self, reg: int) -> int:
        with self._lock:
            if reg == REG_SOC:
                return min(0xFFFF, round(self._soc * 256))
            if reg == REG_VCELL:
                return min(0xFFFF, round(self._vcell / 78.125e-6))
        if reg == REG_VERSION:
            return VERSION
        raise OSError(121, f"MAX17048 register 0x{reg:02X} not simulated")

    def read_i2c_block_data(self, address: int, reg: int, length: int) -> list[int]:
        """smbus2's block read: ``length`` bytes from ``reg``, MSB first."""
        if address != self.address:
            raise OSError(121, f"no device at I2C address 0x{address:02X}")  # EREMOTEIO
        if length != 2:
            raise OSError(22, "the twin serves 16-bit register reads only")
        value = self.register(reg)
        return [value >> 8, value & 0xFF]

    # ---- BatteryGauge (firmware/parts.py) --------------------------------------------
    def percent(self) -> int | None:
        return min(100, int(decode_soc(self.register(REG_SOC))))
