"""The 128x64 SSD1306 OLED on I2C-1 at 0x3C through luma.oled (imported only
here, when the Pi board is built), as a :class:`firmware.parts.Display`.

    display = Ssd1306Display()             # /dev/i2c-1, address 0x3C
    display.show(image)                    # a 128x64 mode "1" Pillow image

Only what changed goes on the bus (docs/ui.md, "The display on I2C"): the
controller's RAM is 8 pages of 128 column bytes (bit i of a byte = row 8p+i);
each image is turned into those 1,024 bytes and compared with the ones sent
before; in each page, the runs of changed bytes (two runs closer than
``MERGE_GAP`` are sent as one: a new address costs more than the bytes between)
are each sent after their own address window (COLUMNADDR x0 x1, PAGEADDR p p)
through luma's serial interface. When that would cost as much as the whole
frame, the whole frame goes, in one window. luma.oled 3.x ``ssd1306.display``
itself always sends the whole frame, and luma.core's ``diff_to_previous``
compares square-grid segments (16x8 px for page-high ones, each with its own
address command), so the diff is done here on the controller's own bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firmware.parts import DISPLAY_HEIGHT, DISPLAY_WIDTH

if TYPE_CHECKING:
    from PIL.Image import Image

ADDRESS = 0x3C
PAGES = DISPLAY_HEIGHT // 8
COLUMNADDR, PAGEADDR = 0x21, 0x22  # SSD1306 datasheet §10.3 (horizontal addressing mode)
WINDOW_COST = 2 + 6  # an address window: one command write (address, control, 6 bytes)
DATA_COST = 2  # each data write: the I2C address byte and the control byte
MERGE_GAP = WINDOW_COST + DATA_COST  # unchanged bytes cheaper to resend than to skip


def gddram(image: Image) -> list[bytes]:
    """The controller's 8 pages of 128 bytes for a 128x64 mode "1" image: flipped
    top to bottom and transposed, each image column becomes 8 bytes, the last
    one holding rows 0-7 with row 0 in bit 0 (the SSD1306's page 0)."""
    from PIL import Image as PilImage

    packed = image.transpose(PilImage.Transpose.FLIP_TOP_BOTTOM).transpose(
        PilImage.Transpose.TRANSPOSE).tobytes()  # 128 rows of 8 bytes
    return [packed[PAGES - 1 - page::PAGES] for page in range(PAGES)]


def changed_runs(old: list[bytes], new: list[bytes]) -> list[tuple[int, int, int]]:
    """(page, first column, last column) of each run of changed bytes, runs of a
    page closer than MERGE_GAP joined."""
    runs = []
    for page in range(PAGES):
        a, b = old[page], new[page]
        if a == b:
            continue
        cols = [x for x in range(DISPLAY_WIDTH) if a[x] != b[x]]
        start = end = cols[0]
        for x in cols[1:]:
            if x - end > MERGE_GAP:
                runs.append((page, start, end))
                start = x
            end = x
        runs.append((page, start, end))
    return runs


def runs_cost(runs: list[tuple[int, int, int]], block: int) -> int:
    """Bytes on the bus for ``runs`` sent with data writes of ``block`` bytes."""
    return sum(WINDOW_COST + (x1 - x0 + 1) + DATA_COST * -(-(x1 - x0 + 1) // block)
               for _, x0, x1 in runs)


def full_frame_cost(block: int) -> int:
    """Bytes on the bus for the whole frame in one window."""
    size = PAGES * DISPLAY_WIDTH
    return WINDOW_COST + size + DATA_COST * -(-size // block)


class Ssd1306Display:
    """``bus``: an smbus-like object (luma then sends 32-byte blocks), or None
    for luma's own smbus2 on ``port`` (4 KiB transfers)."""

    def __init__(self, bus: Any = None, *, port: int = 1, address: int = ADDRESS):
        from luma.core.interface.serial import i2c  # lazily: board/pi only
        from luma.oled.device import ssd1306

        serial = i2c(bus=bus, address=address) if bus is not None else i2c(
            port=port, address=address)
        self.block = 32 if bus is not None else 4096  # luma's data write size
        self.device = ssd1306(serial, width=DISPLAY_WIDTH, height=DISPLAY_HEIGHT)
        self.ram = [bytes(DISPLAY_WIDTH)] * PAGES  # luma's init cleared the screen

    def show(self, image: Image) -> None:
        if image.size != (DISPLAY_WIDTH, DISPLAY_HEIGHT):
            raise ValueError(f"the display is {DISPLAY_WIDTH}x{DISPLAY_HEIGHT}, "
                             f"not {image.size[0]}x{image.size[1]}")
        ram = gddram(image.convert("1"))
        runs = changed_runs(self.ram, ram)
        if runs and runs_cost(runs, self.block) >= full_frame_cost(self.block):
            self.device.command(COLUMNADDR, 0, DISPLAY_WIDTH - 1, PAGEADDR, 0, PAGES - 1)
            self.device.data(list(b"".join(ram)))
        else:
            for page, x0, x1 in runs:
                self.device.command(COLUMNADDR, x0, x1, PAGEADDR, page, page)
                self.device.data(list(ram[page][x0:x1 + 1]))
        self.ram = ram

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
