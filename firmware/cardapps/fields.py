"""Field codecs shared by the Vitale and CPS profiles.

- dates: 4 bytes of packed BCD ``YYYYMMDD``; in a birth date month and/or day may be
  ``00`` (unknown) and lunar dates (``31/02``) are allowed, other dates must exist;
- text: ASCII for codes and numbers, UTF-8 for names (profile decision; documented
  in docs/cards.md);
- small integers: one unsigned byte; flags: one byte, ``00`` or ``01``.
"""

from __future__ import annotations

from datetime import date

from firmware.cardapps.model import PartialDate


class FieldError(ValueError):
    """A field value that does not follow its codec."""


def bcd_encode(digits: str) -> bytes:
    if len(digits) % 2 or not digits.isdigit():
        raise FieldError(f"BCD needs an even number of digits: {digits!r}")
    return bytes(int(digits[i : i + 2], 16) for i in range(0, len(digits), 2))


def bcd_decode(raw: bytes) -> str:
    out = raw.hex()
    if not out.isdigit():
        raise FieldError(f"not packed BCD: {raw.hex()}")
    return out


def encode_partial_date(d: PartialDate) -> bytes:
    if not 1 <= d.year <= 9999 or not 0 <= d.month <= 12 or not 0 <= d.day <= 31:
        raise FieldError(f"birth date out of range: {d}")
    return bcd_encode(f"{d.year:04d}{d.month:02d}{d.day:02d}")


def decode_partial_date(raw: bytes) -> PartialDate:
    if len(raw) != 4:
        raise FieldError(f"a date has 4 bytes, got {len(raw)}")
    digits = bcd_decode(raw)
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:])
    if year == 0 or month > 12 or day > 31 or (day and not month):
        raise FieldError(f"impossible birth date {digits}")
    return PartialDate(year, month, day)


def encode_date(d: date) -> bytes:
    return bcd_encode(f"{d.year:04d}{d.month:02d}{d.day:02d}")


def decode_date(raw: bytes) -> date:
    if len(raw) != 4:
        raise FieldError(f"a date has 4 bytes, got {len(raw)}")
    digits = bcd_decode(raw)
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError as exc:
        raise FieldError(f"impossible date {digits}") from exc


def encode_ascii(text: str, *, digits: bool = False) -> bytes:
    if digits and not text.isdigit():
        raise FieldError(f"digits expected: {text!r}")
    try:
        return text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise FieldError(f"not ASCII: {text!r}") from exc


def decode_ascii(raw: bytes, *, digits: bool = False) -> str:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FieldError(f"not ASCII: {raw.hex()}") from exc
    if digits and not text.isdigit():
        raise FieldError(f"digits expected: {text!r}")
    if not text.isprintable():
        raise FieldError(f"control characters in {text!r}")
    return text


def encode_name(text: str) -> bytes:
    if not text.isprintable():
        raise FieldError(f"control characters in name {text!r}")
    return text.encode("utf-8")


def decode_name(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FieldError(f"name is not UTF-8: {raw.hex()}") from exc
    if not text.isprintable():
        raise FieldError(f"control characters in name {text!r}")
    return text


def encode_flag(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


def decode_flag(raw: bytes) -> bool:
    if raw not in (b"\x00", b"\x01"):
        raise FieldError(f"flag must be 00 or 01, got {raw.hex()}")
    return raw == b"\x01"


def encode_u8(n: int) -> bytes:
    if not 0 <= n <= 255:
        raise FieldError(f"{n} does not fit one byte")
    return bytes((n,))


def decode_u8(raw: bytes) -> int:
    if len(raw) != 1:
        raise FieldError(f"one byte expected, got {len(raw)}")
    return raw[0]
