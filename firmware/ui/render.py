"""Draw a screen (status bar + view) into a 128x64 mode "1" image with Pillow.

Fonts (``fonts/``, licence in ``fonts/LICENSE-DejaVu.txt``, docs/ui.md): DejaVu
Sans Mono 10 px for the body (6 px advance: 21 characters in 128 px, rows 13 px
apart, room for the accents of capitals), its bold face for titles, and the bold
face at 14 px (15 characters) for amounts and FSE numbers. Drawn without
antialiasing (``fontmode = "1"``): a 1-bit screen has no grey.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache, lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from firmware.parts import DISPLAY_HEIGHT, DISPLAY_WIDTH

from .view import Status, View

FONTS = Path(__file__).resolve().parent / "fonts"
BODY_PX, BIG_PX = 10, 14
ROW, BIG_ROW = 12, 16  # row pitch of the body and big faces
BAR = 10  # status bar height (including its rule)
CURSOR_W = 6  # the list cursor's column: list lines hold 20 characters
NOT_A_CHAR = "\uffff"  # never mapped: draws the font's .notdef glyph


@cache
def font(size: int = BODY_PX, bold: bool = False) -> ImageFont.FreeTypeFont:
    name = "DejaVuSansMono-Bold.ttf" if bold else "DejaVuSansMono.ttf"
    return ImageFont.truetype(str(FONTS / name), size)


@lru_cache(maxsize=2048)
def _glyph(ch: str, size: int, bold: bool) -> tuple[Image.Image, int, int]:
    """One character drawn once in its own small image (FreeType renders each
    call in a few hundred microseconds): the image and its offset from the
    character's origin."""
    face = font(size, bold)
    left, top, right, bottom = (int(v) for v in face.getbbox(ch, mode="1"))  # whole pixels
    image = Image.new("1", (max(1, right - left), max(1, bottom - top)), 0)
    d = ImageDraw.Draw(image)
    d.fontmode = "1"
    d.text((-left, -top), ch, font=face, fill=1)
    return image, left, top


@cache
def _advance(size: int, bold: bool) -> float:
    return font(size, bold).getlength("0")  # a monospace face: every character's


def text(d: ImageDraw.ImageDraw, xy: tuple[int, int], line: str, size: int = BODY_PX,
         bold: bool = False) -> None:
    """Draw ``line`` lit at ``xy`` (the text's origin, as ``ImageDraw.text``), one
    cached glyph per character at the face's advance: the same pixels as
    FreeType's whole string (tests/ui/test_screens.py), without rendering it."""
    advance = _advance(size, bold)
    for i, ch in enumerate(line):
        if ch == " ":
            continue
        image, left, top = _glyph(ch, size, bold)
        d.bitmap((xy[0] + round(i * advance) + left, xy[1] + top), image, fill=1)


# what the screens write: drawn once when the unit starts (warm_glyphs)
CHARSET = ("".join(chr(c) for c in range(0x21, 0x7F)) + "àâçéèêëîïôùûüÀÂÇÉÈÊËÎÏÔÙÛÜ€°×…●○↑«»")


def warm_glyphs() -> Iterator[None]:
    """Rasterize the screens' characters in the three faces, one glyph a step (the
    unit's main loop takes a few a round once it serves, docs/ui.md: a screen change
    then only pastes bitmaps, and the boot does not wait for it)."""
    for size, bold in ((BODY_PX, False), (BODY_PX, True), (BIG_PX, True)):
        for ch in CHARSET:
            _glyph(ch, size, bold)
            yield


def fonts() -> tuple[ImageFont.FreeTypeFont, ...]:
    return (font(), font(bold=True), font(BIG_PX, bold=True))


def missing_glyphs(text: str, face: ImageFont.FreeTypeFont | None = None) -> set[str]:
    """Characters of ``text`` the face has no glyph for (it would draw its
    .notdef box): compared with the glyph of a code point no font maps."""
    face = face or font()
    notdef = face.getmask(NOT_A_CHAR, mode="1")
    missing = set()
    for ch in set(text):
        if ch.isspace():
            continue
        mask = face.getmask(ch, mode="1")
        if mask.size == notdef.size and bytes(mask) == bytes(notdef):
            missing.add(ch)
    return missing


def _battery(d: ImageDraw.ImageDraw, x: int, percent: int | None) -> int:
    d.rectangle((x, 1, x + 10, 7), outline=1)
    d.rectangle((x + 11, 3, x + 12, 5), fill=1)
    if percent is not None and percent > 0:
        d.rectangle((x + 2, 3, x + 2 + max(0, round(6 * min(percent, 100) / 100)), 5), fill=1)
    return x + 14


def _padlock(d: ImageDraw.ImageDraw, x: int, locked: bool) -> int:
    """A closed padlock (locked) or an open one (the left leg out of the body)."""
    d.rectangle((x, 4, x + 6, 8), fill=1)
    d.line((x + 2, 0, x + 4, 0), fill=1)
    d.line((x + 5, 1, x + 5, 3), fill=1)
    d.line((x + 1, 1, x + 1, 3 if locked else 1), fill=1)
    return x + 9


def _upload(d: ImageDraw.ImageDraw, x: int) -> int:
    """An arrow up to a bar: FSEs waiting to go up to the office."""
    d.line((x, 0, x + 4, 0), fill=1)
    d.line((x + 2, 2, x + 2, 8), fill=1)
    d.line((x + 1, 3, x + 3, 3), fill=1)
    d.point((x, 4), fill=1)
    d.point((x + 4, 4), fill=1)
    return x + 6


def draw_status(d: ImageDraw.ImageDraw, status: Status) -> None:
    f = font()
    x = _battery(d, 0, status.battery)
    text(d, (x, -1), "--" if status.battery is None else f"{status.battery}%")
    text(d, (37, -1), status.clock or "--:--")
    x = _padlock(d, 70, status.locked)
    x = _upload(d, x)
    text(d, (x, -1), str(status.waiting))
    store = f"{status.store_percent}%"
    right = DISPLAY_WIDTH - int(f.getlength(store))
    # a memory card: its outline, filled when the store is nearly full
    d.polygon([(right - 7, 1), (right - 3, 1), (right - 2, 2), (right - 2, 7), (right - 7, 7)],
              outline=1, fill=1 if status.store_warning else 0)
    text(d, (right, -1), store)
    d.line((0, BAR - 1, DISPLAY_WIDTH - 1, BAR - 1), fill=1)


def draw_view(d: ImageDraw.ImageDraw, v: View) -> None:
    y = BAR + 1
    if v.title:
        text(d, (0, y - 1), v.title, bold=True)
        y += ROW
    lines = v.lines[v.offset:]
    # a list: every line one character in, the cursor a small triangle before
    # the selected one (a cursor move changes a few columns, not two whole
    # inverted lines: fewer bytes to the display, docs/ui.md)
    x = CURSOR_W if any(line.selected for line in v.lines) else 0
    for line in lines:
        h = BIG_ROW if line.big else ROW
        if y + h - 1 > DISPLAY_HEIGHT:
            _more(d, down=True)
            break
        if line.selected:
            _cursor(d, y + (h - ROW) // 2)
        if line.big:
            text(d, (x, y - 2), line.text, BIG_PX, bold=True)
        else:
            text(d, (x, y - 1), line.text, bold=line.bold)
        y += h
    if v.offset > 0:
        _more(d, down=False)


def _cursor(d: ImageDraw.ImageDraw, y: int) -> None:
    """The list cursor: a triangle pointing right, in the row starting at ``y``."""
    d.polygon([(0, y + 1), (0, y + 7), (3, y + 4)], fill=1, outline=1)


def _more(d: ImageDraw.ImageDraw, down: bool) -> None:
    """A small triangle at the right edge: more lines below (or above)."""
    x = DISPLAY_WIDTH - 5
    if down:
        d.polygon([(x, DISPLAY_HEIGHT - 4), (x + 4, DISPLAY_HEIGHT - 4),
                   (x + 2, DISPLAY_HEIGHT - 2)], fill=1, outline=0)
    else:
        d.polygon([(x, BAR + 4), (x + 4, BAR + 4), (x + 2, BAR + 2)], fill=1, outline=0)


def render(status: Status, v: View) -> Image.Image:
    img = Image.new("1", (DISPLAY_WIDTH, DISPLAY_HEIGHT), 0)
    d = ImageDraw.Draw(img)
    d.fontmode = "1"
    draw_status(d, status)
    draw_view(d, v)
    return img
