"""A simulated I2C-1 bus with register-level twins of the Pi board's chips, so
the real ``board/pi`` drivers run unchanged without hardware (``i2c_bus = "sim"``
in unit.toml, docs/board.md): the MAX17048 gauge at 0x36
(:class:`~board.sim.fuel_gauge.SimMax17048`), the DS3231 RTC at 0x68
(:class:`SimDs3231`) and the SSD1306 display at 0x3C (:class:`SimSsd1306`).
Calls follow smbus2 (``read_byte_data``, ``write_byte_data``,
``read_i2c_block_data``, ``write_i2c_block_data``); a missing device or
register raises ``OSError`` like the kernel's driver (EREMOTEIO, 121).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from board.pi import rtc
from board.sim.fuel_gauge import SimMax17048

EREMOTEIO = 121


class Device(Protocol):
    def read(self, reg: int, length: int) -> list[int]: ...

    def write(self, reg: int, data: list[int]) -> None: ...


class SimDs3231:
    """The DS3231's registers over a time source (``base``, seconds since 1970).
    It starts as after a power loss: OSF set, so the driver says "not set"."""

    def __init__(self, base: Callable[[], float] = time.time) -> None:
        self.base = base
        self.offset = 0.0
        self.control = 0x1C  # the chip's power-on value (EOSC clear)
        self.status = rtc.OSF
        self._lock = threading.Lock()

    def read(self, reg: int, length: int) -> list[int]:
        with self._lock:
            now = datetime.fromtimestamp(int(self.base() + self.offset), UTC)
            regs = rtc.encode_time(now) + [0] * 7 + [self.control, self.status]
        if reg + length > len(regs):
            raise OSError(EREMOTEIO, f"DS3231 register 0x{reg + length - 1:02X} not simulated")
        return regs[reg:reg + length]

    def write(self, reg: int, data: list[int]) -> None:
        with self._lock:
            if reg == rtc.REG_TIME and len(data) == 7:
                self.offset = rtc.decode_time(list(data)).timestamp() - int(self.base())
            elif reg == rtc.REG_CONTROL and len(data) == 1:
                self.control = data[0]
            elif reg == rtc.REG_STATUS and len(data) == 1:
                self.status &= data[0] | ~rtc.OSF  # OSF can only be cleared
            else:
                raise OSError(EREMOTEIO, f"DS3231 write of {len(data)} at 0x{reg:02X} "
                                         "not simulated")


class SimSsd1306:
    """Takes what luma.oled sends the SSD1306 over I2C: control byte 0x00 for
    commands, 0x40 for display data. Keeps the controller's display RAM (8
    pages of 128 column bytes, horizontal addressing: data fills the window set
    by COLUMNADDR / PAGEADDR column by column, then the next page), so a test
    sees what the screen shows after partial updates; counts commands and data."""

    # parameter bytes of the commands luma.oled's ssd1306 sends (datasheet §9)
    PARAMS = {0x81: 1, 0x20: 1, 0x21: 2, 0x22: 2, 0xA8: 1, 0xD3: 1, 0xD5: 1, 0xD9: 1,
              0xDA: 1, 0xDB: 1, 0x8D: 1}

    def __init__(self) -> None:
        self.commands: list[int] = []
        self.data_bytes = 0
        self.ram = [bytearray(128) for _ in range(8)]
        self.columns, self.pages = (0, 127), (0, 7)
        self.column, self.page = 0, 0

    def read(self, reg: int, length: int) -> list[int]:
        raise OSError(EREMOTEIO, "the SSD1306 is write-only over I2C")

    def write(self, reg: int, data: list[int]) -> None:
        if reg == 0x00:
            self.commands += data
            self._commands(list(data))
        elif reg == 0x40:
            self.data_bytes += len(data)
            for byte in data:
                self._put(byte)
        else:
            raise OSError(EREMOTEIO, f"SSD1306 control byte 0x{reg:02X} unknown")

    def _commands(self, data: list[int]) -> None:
        i = 0
        while i < len(data):
            cmd, n = data[i], self.PARAMS.get(data[i], 0)
            args = data[i + 1:i + 1 + n]
            if cmd == 0x21:
                self.columns, self.column = (args[0], args[1]), args[0]
            elif cmd == 0x22:
                self.pages, self.page = (args[0], args[1]), args[0]
            i += 1 + n

    def _put(self, byte: int) -> None:
        self.ram[self.page][self.column] = byte
        if self.column < self.columns[1]:
            self.column += 1
            return
        self.column = self.columns[0]
        self.page = self.page + 1 if self.page < self.pages[1] else self.pages[0]

    def pixel(self, x: int, y: int) -> int:
        """What the screen shows at (x, y): 1 lit, 0 dark."""
        return (self.ram[y // 8][x] >> (y % 8)) & 1


class _Gauge:
    def __init__(self, twin: SimMax17048) -> None:
        self.twin = twin

    def read(self, reg: int, length: int) -> list[int]:
        return self.twin.read_i2c_block_data(self.twin.address, reg, length)

    def write(self, reg: int, data: list[int]) -> None:
        raise OSError(EREMOTEIO, "the MAX17048 twin is read-only")


class SimI2CBus:
    """smbus2's calls routed by 7-bit address to the twins above."""

    def __init__(self, *, battery_percent: float = 87.0) -> None:
        self.gauge = SimMax17048(soc=battery_percent)
        self.rtc = SimDs3231()
        self.display = SimSsd1306()
        self.devices: dict[int, Any] = {0x36: _Gauge(self.gauge), rtc.ADDRESS: self.rtc,
                                        0x3C: self.display}

    def _device(self, address: int) -> Device:
        try:
            return self.devices[address]
        except KeyError:
            raise OSError(EREMOTEIO, f"no device at I2C address 0x{address:02X}") from None

    def read_byte_data(self, address: int, reg: int) -> int:
        return self._device(address).read(reg, 1)[0]

    def write_byte_data(self, address: int, reg: int, value: int) -> None:
        self._device(address).write(reg, [value & 0xFF])

    def read_i2c_block_data(self, address: int, reg: int, length: int) -> list[int]:
        return self._device(address).read(reg, length)

    def write_i2c_block_data(self, address: int, reg: int, data: list[int]) -> None:
        if len(data) > 32:
            raise OSError(22, "an SMBus block is at most 32 bytes")
        self._device(address).write(reg, list(data))

    def close(self) -> None:
        pass
