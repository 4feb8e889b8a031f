"""The reference Raspberry Pi board (DESIGN.md §3, docs/board.md): every part a
real driver. Hardware libraries (pyserial, smbus2, gpiozero, luma.oled) are
imported here, when this board is built, never by the firmware.

Without hardware the same drivers run on fakes chosen by configuration only:
``GPIOZERO_PIN_FACTORY=mock`` (gpiozero's MockFactory), ``i2c_bus = "sim"`` (the
register-level twins of ``board/sim/i2c.py``), pyserial URLs such as
``loop://`` for ``card_uart`` and ``link``.
"""

from __future__ import annotations

from typing import Any

from board import COMMON_SEALED
from board.config import BoardConfig
from firmware.iso7816.direct import DirectReader
from firmware.iso7816.port import SlotConfig
from firmware.parts import Board

from . import config as cfg
from .buzzer import GpioBuzzer
from .card_slot import PiCardSlot, open_uart
from .display import Ssd1306Display
from .fuel_gauge import Max17048
from .gpio import GpiozeroLines
from .keypad import MatrixKeypad
from .link_port import SerialLinkPort
from .rtc import Ds3231

DEFAULT_LINK = "/dev/ttyGS0"  # the USB CDC-ACM gadget
SEALED = (*COMMON_SEALED, "board/pi")
SIM_I2C_SEALED = ("board/sim/__init__.py", "board/sim/i2c.py", "board/sim/fuel_gauge.py")


def _i2c(config: BoardConfig) -> tuple[Any, tuple[str, ...]]:
    """The I2C bus object and the extra files it runs (the seal covers them)."""
    if config.i2c_bus == "sim":
        from board.sim.i2c import SimI2CBus

        return SimI2CBus(battery_percent=config.battery_percent), SIM_I2C_SEALED
    from smbus2 import SMBus  # lazily: only the Pi image has it

    return SMBus(int(config.i2c_bus)), ()


def build(config: BoardConfig) -> Board:
    bus, extra_sealed = _i2c(config)
    closers: list = [bus.close]
    lines = GpiozeroLines()
    closers.append(lines.close)
    try:
        uart = open_uart(config.card_uart)
        closers.append(uart.close)
        slot = SlotConfig(clock_hz=cfg.CARD_CLOCK_HZ, max_baud=cfg.UART_MAX_BAUD, echo=True)
        vitale = DirectReader(PiCardSlot("vitale", gpio=lines, serial=uart), slot)
        cps = DirectReader(PiCardSlot("ps", gpio=lines, serial=uart), slot)
        display = (Ssd1306Display(bus) if config.i2c_bus == "sim"
                   else Ssd1306Display(port=int(config.i2c_bus)))  # luma's own 4 KiB writes
        closers.append(display.close)
        keypad = MatrixKeypad()
        closers.append(keypad.close)
        buzzer = GpioBuzzer()
        closers.append(buzzer.close)
        link = SerialLinkPort(config.link or DEFAULT_LINK, baudrate=config.link_baudrate)
    except BaseException:
        for close in reversed(closers):
            close()
        raise
    return Board(kind="pi", vitale=vitale, cps=cps, link=link, clock=Ds3231(bus),
                 gauge=Max17048(bus), display=display, keypad=keypad, buzzer=buzzer,
                 sealed=SEALED + extra_sealed, closers=closers)
