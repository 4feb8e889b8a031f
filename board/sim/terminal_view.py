"""The OLED in a terminal, and the terminal's keys on the keypad (``tla-unit sim
--interactive``, docs/demo.md). Pure functions, no terminal I/O: :func:`half_blocks`
turns a 1-bit frame into text, two pixel rows per character cell; :func:`decode_keys`
turns the bytes a terminal sends in cbreak mode into the simulator's actions."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

# (top pixel lit, bottom pixel lit) -> the character cell
CELLS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}

# what the terminal sends -> a keypad key (its name in board.sim.unit.KEYS) or an action
KEY_BYTES: dict[bytes, str] = {
    **{str(d).encode(): str(d) for d in range(10)},
    b"\n": "valider", b"\r": "valider",
    b"\x1b": "annuler",
    b"\x7f": "corriger", b"\x08": "corriger",
    b"\x1b[A": "up", b"\x1bOA": "up",
    b"\x1b[B": "down", b"\x1bOB": "down",
    b"m": "menu", b"M": "menu",
    b"v": "card:vitale", b"V": "card:vitale",
    b"c": "card:ps", b"C": "card:ps",
    b"q": "quit", b"Q": "quit",
}


def half_blocks(image: Image) -> list[str]:
    """One line per two pixel rows (an odd last row is drawn as a top half)."""
    mono = image.convert("1")
    width, height = mono.size
    lines = []
    for y in range(0, height, 2):
        cells = []
        for x in range(width):
            top = bool(mono.getpixel((x, y)))
            bottom = y + 1 < height and bool(mono.getpixel((x, y + 1)))
            cells.append(CELLS[(top, bottom)])
        lines.append("".join(cells))
    return lines


def decode_keys(data: bytes) -> list[str]:
    """The actions in one read from the terminal; longest sequence first (an arrow is
    ``ESC [ A``, a lone ``ESC`` is Annuler). Unknown bytes and sequences are dropped."""
    out: list[str] = []
    i = 0
    while i < len(data):
        if data[i:i + 2] in (b"\x1b[", b"\x1bO") and i + 2 < len(data):
            action = KEY_BYTES.get(data[i:i + 3])  # an arrow; left/right, F-keys: ignored
            i += 3
        else:
            action = KEY_BYTES.get(data[i:i + 1])
            i += 1
        if action is not None:
            out.append(action)
    return out
