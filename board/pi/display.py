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


Window = tuple[int, int, int, int]  # first page, last page, first column, last column


def window_cost(window: Window, block: int) -> int:
    """Bytes on the bus for one window: its address command, then its bytes
    (page after page, horizontal addressing) in data writes of ``block`` bytes."""
    p0, p1, x0, x1 = window
    size = (p1 - p0 + 1) * (x1 - x0 + 1)
    return WINDOW_COST + size + DATA_COST * -(-size // block)


def windows(old: list[bytes], new: list[bytes], block: int) -> list[Window]:
    """The cheapest set of windows found to send what changed: each page's runs
    (``changed_runs``), or a band of adjacent pages sent as one rectangle (the
    span of their runs: one address command for several pages, and the data
    writes' blocks filled), chosen page band by page band (a shortest path over
    the 8 pages). All pages changed alike: one window for the whole frame."""
    by_page: dict[int, list[Window]] = {}
    for page, x0, x1 in changed_runs(old, new):
        by_page.setdefault(page, []).append((page, page, x0, x1))
    best: list[tuple[int, list[Window]]] = [(0, [])]  # best[p]: pages 0..p-1 sent
    for last in range(PAGES):
        options = []
        if last not in by_page:
            options.append((best[last][0], best[last][1]))
        else:
            runs = by_page[last]
            options.append((best[last][0] + sum(window_cost(w, block) for w in runs),
                            best[last][1] + runs))
        for first in range(last + 1):
            band = [w for p in range(first, last + 1) for w in by_page.get(p, [])]
            if not band or first not in by_page or last not in by_page:
                continue  # a band starts and ends on a changed page
            rect = (first, last, min(w[2] for w in band), max(w[3] for w in band))
            options.append((best[first][0] + window_cost(rect, block), best[first][1] + [rect]))
        best.append(min(options, key=lambda o: o[0]))
    return best[PAGES][1]


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
        for p0, p1, x0, x1 in windows(self.ram, ram, self.block):
            self.device.command(COLUMNADDR, x0, x1, PAGEADDR, p0, p1)
            self.device.data([b for row in ram[p0:p1 + 1] for b in row[x0:x1 + 1]])
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
