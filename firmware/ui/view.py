"""What a screen shows, as plain data (the renderer draws it, tests read it).

A :class:`View` is the body of one screen: a title and lines, each line normal
(DejaVu Sans Mono 10 px, 21 characters), ``bold`` (its bold face: "FSE signée"),
``big`` (the larger face, for amounts and FSE numbers, 15 characters) or
``selected`` (the list cursor, a small triangle before it).
The status bar (:class:`Status`) is drawn above every view.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.parts import Key


@dataclass(frozen=True)
class Line:
    text: str
    big: bool = False
    selected: bool = False
    bold: bool = False  # the body face's bold (a confirmation: "FSE signée")


@dataclass(frozen=True)
class View:
    title: str = ""
    lines: tuple[Line, ...] = ()
    offset: int = 0  # first line shown (scrolling lists and long texts)

    def text(self) -> str:
        """The screen as text (the simulator's ``screen`` command, tests)."""
        body = [("> " if ln.selected else "") + ln.text for ln in self.lines]
        return "\n".join([self.title, *body] if self.title else body)


def view(title: str, *lines: str | Line, offset: int = 0) -> View:
    return View(title, tuple(ln if isinstance(ln, Line) else Line(ln) for ln in lines), offset)


@dataclass(frozen=True)
class Status:
    """The status bar: battery (None: no gauge), clock (None: not set),
    locked, FSEs waiting to be unloaded, store use in percent."""

    battery: int | None = None
    clock: str | None = None
    locked: bool = True
    waiting: int = 0
    store_percent: int = 0
    store_warning: bool = False

    def text(self) -> str:
        bat = "--" if self.battery is None else f"{self.battery}%"
        lock = "verrouillé" if self.locked else "ouvert"
        return (f"{bat} {self.clock or '--:--'} {lock} FSE:{self.waiting} "
                f"mém:{self.store_percent}%")


LAST_SHOWN = 3  # lines a scrolled screen still shows at its last offset


def scrolled(offset: int, key: Key | None, count: int) -> int | None:
    """The offset after ``key`` on a screen of ``count`` lines that up and down
    scroll (never past the last ``LAST_SHOWN``), or None when ``key`` is another."""
    if key == Key.DOWN:
        return min(offset + 1, max(0, count - LAST_SHOWN))
    if key == Key.UP:
        return max(0, offset - 1)
    return None
