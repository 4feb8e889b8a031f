"""Direct and inverse convention (ISO 7816-3 §8.1).

The slot UART is wired for the direct convention. A card using the inverse
convention sends TS = 3F, which such a UART reads as 0x03: data bits are both
inverted and sent most-significant first. Each byte is converted both ways by
inverting and bit-reversing it; parity on the wire becomes odd.
"""

from __future__ import annotations

DIRECT = "direct"
INVERSE = "inverse"

TS_DIRECT = 0x3B
TS_INVERSE = 0x3F
# TS of an inverse-convention card as read by a direct-convention UART.
TS_INVERSE_RAW = 0x03

_INVERT_REVERSE = bytes((~int(f"{b:08b}"[::-1], 2)) & 0xFF for b in range(256))


def inverse_byte(b: int) -> int:
    """Logical value of a byte read in inverse convention (and the converse)."""
    return _INVERT_REVERSE[b]


def convention_from_raw_ts(raw: int) -> str | None:
    """Convention from TS as read by a direct-convention UART, or None."""
    if raw == TS_DIRECT:
        return DIRECT
    if raw == TS_INVERSE_RAW:
        return INVERSE
    return None


def decode(raw: bytes, convention: str) -> bytes:
    """Raw UART bytes to logical characters."""
    return raw if convention == DIRECT else raw.translate(_INVERT_REVERSE)


def encode(logical: bytes, convention: str) -> bytes:
    """Logical characters to raw UART bytes (the transform is its own inverse)."""
    return decode(logical, convention)


def uart_parity(convention: str) -> str:
    """Parity a direct-convention UART must check: even, or odd for inverse."""
    return "E" if convention == DIRECT else "O"
