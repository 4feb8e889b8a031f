"""BER-TLV codec (ISO/IEC 7816-4 §5.2.2, ISO/IEC 8825-1 tags and lengths).

Tags are kept as integers of their encoded bytes (``0x65``, ``0x5F24``); lengths use
the short form below 128 and the long forms ``81 xx`` / ``82 xx xx`` above.

>>> encode_tlv(0x80, b"DUPONT").hex()
'80064455504f4e54'
>>> decode_tlvs(bytes.fromhex("8001418100"))
[(128, b'A'), (129, b'')]
"""

from __future__ import annotations

from collections.abc import Iterable


class TlvError(ValueError):
    """Bytes that are not well-formed BER-TLV."""


def is_constructed(tag: int) -> bool:
    """Bit b6 of the first tag byte marks a constructed data object (8825-1 §8.1.2.5)."""
    first = tag
    while first > 0xFF:
        first >>= 8
    return bool(first & 0x20)


def encode_tag(tag: int) -> bytes:
    if tag < 0 or tag > 0xFFFFFF:
        raise TlvError(f"tag {tag:#x} out of range")
    raw = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    if raw[0] & 0x1F == 0x1F:
        if len(raw) == 1:
            raise TlvError(f"tag {tag:#x} announces more tag bytes")
        for i, b in enumerate(raw[1:], start=1):
            last = i == len(raw) - 1
            if bool(b & 0x80) == last:
                raise TlvError(f"tag {tag:#x} has a bad continuation bit")
    elif len(raw) != 1:
        raise TlvError(f"tag {tag:#x}: a multi-byte tag must start with xxx11111")
    return raw


def encode_length(n: int) -> bytes:
    if n < 0:
        raise TlvError("negative length")
    if n < 0x80:
        return bytes((n,))
    if n <= 0xFF:
        return bytes((0x81, n))
    if n <= 0xFFFF:
        return b"\x82" + n.to_bytes(2, "big")
    raise TlvError(f"length {n} too large for this profile")


def encode_tlv(tag: int, value: bytes) -> bytes:
    return encode_tag(tag) + encode_length(len(value)) + bytes(value)


def encode_tlvs(items: Iterable[tuple[int, bytes]]) -> bytes:
    return b"".join(encode_tlv(t, v) for t, v in items)


def _read_tag(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError("truncated tag")
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:
        for _ in range(3):
            if pos >= len(data):
                raise TlvError("truncated multi-byte tag")
            b = data[pos]
            pos += 1
            tag = (tag << 8) | b
            if not b & 0x80:
                break
        else:
            raise TlvError("tag longer than 3 bytes")
    return tag, pos


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError("truncated length")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count == 0 or count > 2:
        raise TlvError(f"length form {first:#04x} not supported")
    if pos + count > len(data):
        raise TlvError("truncated long length")
    n = int.from_bytes(data[pos : pos + count], "big")
    if n < 0x80 or (count == 2 and n <= 0xFF):
        raise TlvError("length not in its shortest form (DER rule)")
    return n, pos + count


def decode_tlvs(data: bytes, *, skip_padding: bool = True) -> list[tuple[int, bytes]]:
    """Split ``data`` into (tag, value) pairs at one level. 00/FF padding bytes
    between objects are skipped (ISO 7816-4 §5.2.2.1)."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    data = bytes(data)
    while pos < len(data):
        if skip_padding and data[pos] in (0x00, 0xFF):
            pos += 1
            continue
        tag, pos = _read_tag(data, pos)
        length, pos = _read_length(data, pos)
        if pos + length > len(data):
            raise TlvError(f"tag {tag:#x}: value of {length} bytes overruns the data")
        out.append((tag, data[pos : pos + length]))
        pos += length
    return out


def first_object(data: bytes) -> tuple[int, bytes, int]:
    """Decode the first object only: (tag, value, bytes used). Useful to learn
    the total size of a file from its first bytes."""
    tag, pos = _read_tag(data, 0)
    length, pos = _read_length(data, pos)
    return tag, data[pos : pos + length], pos + length


def as_dict(items: list[tuple[int, bytes]], *, repeatable: frozenset[int] = frozenset()) -> dict:
    """Index a level by tag; a non-repeatable tag that occurs twice is an error."""
    out: dict[int, bytes | list[bytes]] = {}
    groups: dict[int, list[bytes]] = {}  # the lists of ``out`` for repeatable tags
    for tag, value in items:
        if tag in repeatable:
            group = groups.get(tag)
            if group is None:
                group = groups[tag] = out[tag] = []
            group.append(value)
        elif tag in out:
            raise TlvError(f"tag {tag:#x} occurs twice")
        else:
            out[tag] = value
    return out
