"""Reading a ``tla load`` JSON file one record at a time, with line numbers.

The file is one object of sections; list sections (``invoices``, ``patients``,
``fse_ranges``, ``opposition``) are read element by element and other sections
(``tariffs``) whole. Each value is decoded by the standard library's C decoder
(``json.JSONDecoder.raw_decode``) from a sliding text buffer, so memory holds one
element (at most :data:`MAX_VALUE` characters) and not the file, and the line of each
element is counted as the buffer slides. Only when an element is refused is its text
walked again (:func:`locate`) to find the line of the faulty field. This replaces a
YAML compose of the whole file (kept for line numbers only: 3.6 GB and 109 s for
100,000 invoices); ``ijson`` would stream too but gives no positions.

Errors are :class:`JsonFileError` with the line; a value nested too deeply for the
decoder (``RecursionError``) is one of them, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

MAX_VALUE = 8 * 1024 * 1024  # characters of one element (a tariff table, an invoice)
READ_SIZE = 1 << 16
_WS = " \t\n\r"
_DECODER = json.JSONDecoder()


class JsonFileError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Element:
    section: str
    index: int | None  # position in a list section; None for a whole section
    value: Any
    line: int  # where the element starts
    text: str  # its JSON text (for locate)


class JsonSections:
    """Iterate the elements of a file's sections (see the module docstring)."""

    def __init__(self, f: IO[str], list_sections: tuple[str, ...]) -> None:
        self.f = f
        self.lists = list_sections
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.line = 1  # line at self.pos
        self.seen: set[str] = set()

    # ---- buffer --------------------------------------------------------------------
    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = self.f.read(READ_SIZE)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True

    def _advance(self, to: int) -> None:
        self.line += self.buf.count("\n", self.pos, to)
        self.pos = to

    def _peek(self) -> str:
        """The next character after white space ('' at the end of the file)."""
        while True:
            n = len(self.buf)
            i = self.pos
            while i < n and self.buf[i] in _WS:
                i += 1
            self._advance(i)
            if i < n:
                return self.buf[i]
            if not self._more():
                return ""

    def _expect(self, chars: str, what: str) -> str:
        ch = self._peek()
        if ch == "" or ch not in chars:
            found = "the end of the file" if ch == "" else repr(ch)
            raise JsonFileError(self.line, f"not JSON: expected {what}, found {found}")
        self._advance(self.pos + 1)
        return ch

    def _value(self) -> tuple[Any, int, str]:
        """Decode the value at the cursor: (value, its line, its text). A value the
        buffer may have cut (a decode error, or a value ending at the buffer's end) is
        tried again with more text, up to MAX_VALUE characters."""
        self._peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except RecursionError:
                raise JsonFileError(self.line, "nested too deeply") from None
            except json.JSONDecodeError as exc:
                if self._can_grow() and self._more():
                    continue
                if not self.eof:
                    raise JsonFileError(self.line, f"one value longer than {MAX_VALUE} "
                                        "characters") from None
                line = self.line + self.buf.count("\n", self.pos, exc.pos)
                raise JsonFileError(line, f"not JSON: {exc.msg}") from None
            if end == len(self.buf) and self._can_grow() and self._more():
                continue
            line, text = self.line, self.buf[self.pos:end]
            self._advance(end)
            return value, line, text

    def _can_grow(self) -> bool:
        return len(self.buf) - self.pos <= MAX_VALUE

    # ---- sections ------------------------------------------------------------------
    def __iter__(self) -> Iterator[Element]:
        if self._peek() == "":
            raise JsonFileError(0, "empty file (expected a JSON object)")
        if self._peek() != "{":
            raise JsonFileError(self.line, "expected a JSON object with sections")
        self._advance(self.pos + 1)
        if self._peek() == "}":
            self._advance(self.pos + 1)
        else:
            while True:
                if self._peek() != '"':
                    raise JsonFileError(self.line, "not JSON: expected a section name")
                key, line, _ = self._value()
                if key in self.seen:
                    raise JsonFileError(line, f"{key}: section given twice (one {key} "
                                        "section per file)")
                self.seen.add(key)
                self._expect(":", "':'")
                if key in self.lists:
                    yield from self._list(key, line)
                else:
                    value, vline, text = self._value()
                    yield Element(key, None, value, vline, text)
                if self._expect(",}", "',' or '}'") == "}":
                    break
        if self._peek() != "":
            raise JsonFileError(self.line, "not JSON: extra data after the object")

    def _list(self, key: str, line: int) -> Iterator[Element]:
        if self._peek() != "[":
            value, vline, text = self._value()  # reported by the caller: not a list
            yield Element(key, None, value, vline, text)
            return
        self._advance(self.pos + 1)
        if self._peek() == "]":
            self._advance(self.pos + 1)
            return
        index = 0
        while True:
            value, vline, text = self._value()
            yield Element(key, index, value, vline, text)
            index += 1
            if self._expect(",]", "',' or ']'") == "]":
                return


def locate(text: str, path: list[str | int]) -> int:
    """Lines (0-based) from the start of ``text`` to the value at ``path`` (keys and
    list indexes), or to the deepest part of it that exists."""
    pos, best = 0, 0
    try:
        for step in path:
            pos = _skip_ws(text, pos)
            if text[pos] == "{" and isinstance(step, str):
                pos = _find_key(text, pos + 1, step)
            elif text[pos] == "[" and isinstance(step, int):
                pos = _find_index(text, pos + 1, step)
            else:
                break
            if pos < 0:
                break
            best = pos
    except (ValueError, IndexError):
        pass
    return text.count("\n", 0, best)


def _skip_ws(text: str, pos: int) -> int:
    while text[pos] in _WS:
        pos += 1
    return pos


def _find_key(text: str, pos: int, key: str) -> int:
    while True:
        pos = _skip_ws(text, pos)
        if text[pos] == "}":
            return -1
        name, pos = _DECODER.raw_decode(text, pos)
        pos = _skip_ws(text, pos) + 1  # ':'
        pos = _skip_ws(text, pos)
        if name == key:
            return pos
        _, pos = _DECODER.raw_decode(text, pos)
        pos = _skip_ws(text, pos)
        if text[pos] == ",":
            pos += 1


def _find_index(text: str, pos: int, index: int) -> int:
    for _ in range(index):
        pos = _skip_ws(text, pos)
        if text[pos] == "]":
            return -1
        _, pos = _DECODER.raw_decode(text, pos)
        pos = _skip_ws(text, pos)
        if text[pos] != ",":
            return -1
        pos += 1
    pos = _skip_ws(text, pos)
    return -1 if text[pos] == "]" else pos
