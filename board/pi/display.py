"""The 128x64 SSD1306 OLED on I2C-1 at 0x3C through luma.oled (imported only
here, when the Pi board is built), as a :class:`firmware.parts.Display`.

    display = Ssd1306Display()             # /dev/i2c-1, address 0x3C
    display.show(image)                    # a 128x64 mode "1" Pillow image
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firmware.parts import DISPLAY_HEIGHT, DISPLAY_WIDTH

if TYPE_CHECKING:
    from PIL.Image import Image

ADDRESS = 0x3C


class Ssd1306Display:
    """``bus``: an smbus-like object (luma then sends 32-byte blocks), or None
    for luma's own smbus2 on ``port`` (4 KiB transfers)."""

    def __init__(self, bus: Any = None, *, port: int = 1, address: int = ADDRESS):
        from luma.core.interface.serial import i2c  # lazily: board/pi only
        from luma.oled.device import ssd1306

        serial = i2c(bus=bus, address=address) if bus is not None else i2c(
            port=port, address=address)
        self.device = ssd1306(serial, width=DISPLAY_WIDTH, height=DISPLAY_HEIGHT)

    def show(self, image: Image) -> None:
        if image.size != (DISPLAY_WIDTH, DISPLAY_HEIGHT):
            raise ValueError(f"the display is {DISPLAY_WIDTH}x{DISPLAY_HEIGHT}, "
                             f"not {image.size[0]}x{image.size[1]}")
        self.device.display(image.convert("1"))

    def contrast(self, level: int) -> None:
        if not 0 <= level <= 255:
            raise ValueError("contrast is 0..255")
        self.device.contrast(level)

    def power_save(self, on: bool) -> None:
        if on:
            self.device.hide()
        else:
            self.device.show()

    def close(self) -> None:
        self.device.cleanup()
