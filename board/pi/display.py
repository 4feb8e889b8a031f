"""The 128x64 SSD1306 OLED on I2C-1 at 0x3C through luma.oled (imported only
here, when the Pi board is built), as a :class:`firmware.parts.Display`.

    display = Ssd1306Display()             # /dev/i2c-1, address 0x3C
    display.show(image)                    # a 128x64 mode "1" Pillow image

Only what changed goes on the bus (docs/ui.md, "The display on I2C"): the
controller's RAM is 8 pages of 128 column bytes (bit i of a byte = row 8p+i);
each image is turned into those 1,024 bytes and compared with the ones sent
before. In each page, the runs of changed bytes (two runs less than
``MERGE_GAP`` bytes apart are sent as one: skipping costs more than the bytes
between); adjacent pages whose runs are cheaper sent as one rectangle are
joined (``windows``: a shortest path over the 8 pages; every page changed: the
whole frame in one window). Each window is an address window (COLUMNADDR x0 x1,
PAGEADDR p0 p1, horizontal addressing as luma's init sets it) and its bytes,
through luma's serial interface; an address the controller already holds is
not sent again (a window written to its end leaves the pointer at its start:
the next run of the same page needs only its COLUMNADDR). luma.oled 3.x
``ssd1306.display`` itself always sends the whole frame, and luma.core's
``diff_to_previous`` compares square-grid segments (16x8 px for page-high
ones, each with its own address command), so the diff is done here on the
controller's own bytes.
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
COLUMNS_COST = 2 + 3  # a new COLUMNADDR alone (the next run of the same page)
DATA_COST = 2  # each data write: the I2C address byte and the control byte
MERGE_GAP = COLUMNS_COST + DATA_COST  # fewer unchanged bytes: resent rather than skipped


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
    page less than MERGE_GAP unchanged bytes apart joined."""
    runs = []
    for page in range(PAGES):
        a, b = old[page], new[page]
        if a == b:
            continue
        cols = [x for x in range(DISPLAY_WIDTH) if a[x] != b[x]]
        start = end = cols[0]
        for x in cols[1:]:
            if x - end - 1 >= MERGE_GAP:
                runs.append((page, start, end))
                start = x
            end = x
        runs.append((page, start, end))
    return runs


Window = tuple[int, int, int, int]  # first page, last page, first column, last column


def data_cost(window: Window, block: int) -> int:
    """Bytes on the bus for a window's bytes (page after page, horizontal
    addressing) in data writes of ``block`` bytes."""
    p0, p1, x0, x1 = window
    size = (p1 - p0 + 1) * (x1 - x0 + 1)
    return size + DATA_COST * -(-size // block)


def page_cost(runs: list[Window], block: int) -> int:
    """One page's runs: the first with its whole address window, the next ones
    with their columns only (the page is the controller's already)."""
    return (WINDOW_COST + COLUMNS_COST * (len(runs) - 1)
            + sum(data_cost(w, block) for w in runs))


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
            options.append((best[last][0] + page_cost(runs, block), best[last][1] + runs))
        for first in range(last + 1):
            band = [w for p in range(first, last + 1) for w in by_page.get(p, [])]
            if not band or first not in by_page or last not in by_page:
                continue  # a band starts and ends on a changed page
            rect = (first, last, min(w[2] for w in band), max(w[3] for w in band))
            options.append((best[first][0] + WINDOW_COST + data_cost(rect, block),
                            best[first][1] + [rect]))
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
        self.address: tuple[int, int, int, int] | None = None  # the controller's window

    def show(self, image: Image) -> None:
        if image.size != (DISPLAY_WIDTH, DISPLAY_HEIGHT):
            raise ValueError(f"the display is {DISPLAY_WIDTH}x{DISPLAY_HEIGHT}, "
                             f"not {image.size[0]}x{image.size[1]}")
        ram = gddram(image.convert("1"))
        for window in windows(self.ram, ram, self.block):
            command = self._address(window)
            self.address = None  # unknown until the command and the bytes went through
            if command:
                self.device.command(*command)
            p0, p1, x0, x1 = window
            self.device.data([b for row in ram[p0:p1 + 1] for b in row[x0:x1 + 1]])
            self.address = window
        self.ram = ram

    def _address(self, window: Window) -> list[int]:
        """The command setting the controller's address window, without the part
        it holds: each window is written to its end, which leaves the pointer at
        its first column and page (SSD1306 datasheet §10.1.3, horizontal mode)."""
        p0, p1, x0, x1 = window
        held = self.address
        command = []
        if held is None or held[2:] != (x0, x1):
            command += [COLUMNADDR, x0, x1]
        if held is None or held[:2] != (p0, p1):
            command += [PAGEADDR, p0, p1]
        return command

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
