"""Serial framing: round trips, the `smp` package as an independent reference, bad frames."""

from __future__ import annotations

import base64
import random
import struct

import pytest
from crcmod.predefined import mkPredefinedCrcFun
from hypothesis import given, settings
from hypothesis import strategies as st
from smp import packet as smppacket

from firmware.office_link.framing import (
    LINE_MAX,
    FrameDecoder,
    FrameError,
    Packet,
    crc16_xmodem,
    encode_packet,
)

BUF = 2048
packets = st.binary(min_size=8, max_size=BUF - 4)


def split_lines(wire: bytes) -> list[bytes]:
    return [line + b"\n" for line in wire.split(b"\n") if line]


def feed_in_chunks(decoder: FrameDecoder, wire: bytes, cuts: list[int]) -> list:
    out, last = [], 0
    for cut in sorted(c % (len(wire) + 1) for c in cuts) + [len(wire)]:
        out += decoder.feed(wire[last:cut])
        last = max(last, cut)
    return out


def test_crc_matches_the_published_check_value_and_crcmod():
    # CRC-16/XMODEM check value over "123456789" is 0x31C3 (CRC catalogue).
    assert crc16_xmodem(b"123456789") == 0x31C3
    reference = mkPredefinedCrcFun("xmodem")
    for data in (b"", b"\x00", bytes(range(256)), b"SMP" * 99):
        assert crc16_xmodem(data) == reference(data)


def test_encoding_matches_the_smp_package_documented_example():
    # smp.packet.encode's docstring shows this exact line for b"Hello, world!".
    assert encode_packet(b"Hello, world!") == b"\x06\tAA9IZWxsbywgd29ybGQhet4=\n"


@settings(max_examples=200)
@given(packets, st.lists(st.integers(min_value=0, max_value=5000), max_size=8))
def test_round_trip_in_any_chunking(packet, cuts):
    wire = encode_packet(packet)
    assert all(len(line) <= LINE_MAX for line in split_lines(wire))
    assert split_lines(wire)[0].startswith(b"\x06\x09")
    assert all(line.startswith(b"\x04\x14") for line in split_lines(wire)[1:])
    assert feed_in_chunks(FrameDecoder(BUF), wire, cuts) == [Packet(packet)]


@settings(max_examples=100)
@given(packets)
def test_smp_package_decodes_what_we_encode(packet):
    decoder = smppacket.decode()
    next(decoder)
    with pytest.raises(StopIteration) as done:
        for line in split_lines(encode_packet(packet)):
            decoder.send(line)
    assert done.value.value == packet


@settings(max_examples=100)
@given(packets)
def test_we_decode_what_the_smp_package_encodes(packet):
    # smpclient's default line length (128) gives lines of 127 bytes.
    wire = b"".join(smppacket.encode(packet, line_length=128))
    assert FrameDecoder(BUF).feed(wire) == [Packet(packet)]


noise = st.binary(max_size=300).map(lambda b: b.replace(b"\x06", b"").replace(b"\x04", b""))


@given(noise, packets, noise, packets, noise)
def test_garbage_between_frames_is_ignored(n1, p1, n2, p2, n3):
    wire = n1 + encode_packet(p1) + n2 + encode_packet(p2) + n3
    got = [x for x in FrameDecoder(BUF).feed(wire) if isinstance(x, Packet)]
    assert got == [Packet(p1), Packet(p2)]


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=400), max_size=20))
def test_random_bytes_never_crash_and_memory_stays_bounded(chunks):
    decoder = FrameDecoder(256)
    for chunk in chunks:
        for item in decoder.feed(chunk):
            assert isinstance(item, (Packet, FrameError))
            if isinstance(item, FrameError):
                assert item.code and item.detail
        assert len(decoder._raw) <= LINE_MAX
        assert decoder._frame is None or len(decoder._frame) <= 256
    # and a good frame still goes through afterwards
    assert decoder.feed(b"\n" + encode_packet(bytes(20)))[-1] == Packet(bytes(20))


def line(delimiter: bytes, raw: bytes) -> bytes:
    return delimiter + base64.b64encode(raw) + b"\n"


def framed(packet: bytes, crc: int | None = None, length: int | None = None) -> bytes:
    crc = crc16_xmodem(packet) if crc is None else crc
    length = len(packet) + 2 if length is None else length
    return struct.pack(">H", length) + packet + struct.pack(">H", crc)


def codes(items: list) -> list[str]:
    return [x.code for x in items if isinstance(x, FrameError)]


def test_bad_crc_is_rejected_then_the_next_frame_passes():
    p = bytes(range(30))
    bad = line(b"\x06\x09", framed(p, crc=crc16_xmodem(p) ^ 1))
    items = FrameDecoder(BUF).feed(bad + encode_packet(p))
    assert codes(items) == ["frame.bad_crc"]
    assert items[-1] == Packet(p)


def test_oversized_frame_is_refused_from_its_first_line():
    decoder = FrameDecoder(256)
    # claims 1000 bytes: refused at once, its continuation lines are orphans
    wire = encode_packet(bytes(998))
    items = decoder.feed(wire)
    assert codes(items)[0] == "frame.too_large"
    assert set(codes(items)[1:]) == {"frame.orphan_continuation"}
    assert not any(isinstance(x, Packet) for x in items)
    assert decoder.feed(encode_packet(bytes(100))) == [Packet(bytes(100))]


def test_truncated_frame_is_reported_when_the_next_one_starts():
    first = split_lines(encode_packet(bytes(range(200))))
    items = FrameDecoder(BUF).feed(b"".join(first[:-1]) + encode_packet(b"x" * 12))
    assert codes(items) == ["frame.interrupted"]
    assert items[-1] == Packet(b"x" * 12)


def test_excess_data_beyond_the_length_field_is_rejected():
    p = bytes(12)
    items = FrameDecoder(BUF).feed(line(b"\x06\x09", framed(p, length=8 + 2) + b"\x00\x00\x00"))
    assert codes(items) == ["frame.length_mismatch"]


def test_too_short_length_bad_base64_long_line_and_orphan_continuation():
    d = FrameDecoder(BUF)
    assert codes(d.feed(line(b"\x06\x09", framed(b"abc")))) == ["frame.too_short"]
    assert codes(d.feed(b"\x06\x09AB$=\n")) == ["frame.bad_base64"]
    assert codes(d.feed(b"\x06\x09" + b"A" * 200 + b"\n")) == ["line.too_long"]
    assert codes(d.feed(line(b"\x04\x14", b"abc"))) == ["frame.orphan_continuation"]
    assert codes(d.feed(line(b"\x06\x09", b"\x00"))) == ["frame.bad_length"]


# ---- long frames: whole continuation lines are taken a run at a time ---------------------
TRANSFER = 32 * 1024  # the unit's buffer for uploads (TRANSFER_BUF_SIZE)


def long_packet(seed: int, size: int = TRANSFER - 4) -> bytes:
    return random.Random(seed).randbytes(size)


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=8, max_value=TRANSFER - 4),
       st.lists(st.integers(min_value=0, max_value=50_000), max_size=12))
def test_long_frames_round_trip_in_any_chunking_and_the_smp_package_agrees(seed, size, cuts):
    packet = long_packet(seed, size)
    wire = encode_packet(packet)
    assert wire == b"".join(smppacket.encode(packet, line_length=128))
    assert feed_in_chunks(FrameDecoder(TRANSFER), wire, cuts) == [Packet(packet)]


def corrupt_line(wire: bytes, index: int, at: int, text: bytes) -> bytes:
    """``wire`` with the base64 text of line ``index`` overwritten from ``at`` by ``text``."""
    lines = split_lines(wire)
    start = 2 + at
    lines[index] = lines[index][:start] + text + lines[index][start + len(text):]
    return b"".join(lines)


SPLIT = b"\n\x04\x14"  # a newline and a delimiter inside a line's text: two lines


@pytest.mark.parametrize("text, whole", [
    (b"!", True), (b"AB==", True), (SPLIT, True), (SPLIT + b"AAA" + SPLIT * 3, False)],
    ids=["not base64", "padding mid-frame", "split in two", "split in five"])
def test_a_broken_line_inside_a_long_frame_drops_it_as_line_by_line(text, whole):
    good = long_packet(1)
    wire = encode_packet(good)
    broken = corrupt_line(wire, 100, 61 if not whole else 60, text)
    items = feed_in_chunks(FrameDecoder(TRANSFER), broken + encode_packet(good), [4096, 9000])
    errors = codes(items)
    # line by line: the broken line does not decode alone (a split one: 60 characters that
    # do, then 61 that do not; split in five: 61 characters first), its frame is dropped
    assert errors[0] == "frame.bad_base64"
    if whole:  # and each line after it belongs to no frame
        assert errors[1:] == ["frame.orphan_continuation"] * (len(split_lines(wire)) - 101)
    assert [x for x in items if isinstance(x, Packet)] == [Packet(good)]


def test_a_long_frame_cut_by_a_new_one_is_reported_and_the_new_one_passes():
    first = split_lines(encode_packet(long_packet(2)))
    second = long_packet(3)
    items = FrameDecoder(TRANSFER).feed(b"".join(first[:150]) + encode_packet(second))
    assert codes(items) == ["frame.interrupted"]
    assert items[-1] == Packet(second)


def test_a_long_frame_with_a_bad_crc_is_refused():
    packet = long_packet(4)
    wire = bytearray(encode_packet(packet))
    last = wire.rindex(b"\n", 0, len(wire) - 1) + 3  # the last line's first base64 character
    wire[last] = ord("B") if wire[last] != ord("B") else ord("C")
    assert codes(FrameDecoder(TRANSFER).feed(bytes(wire))) in (["frame.bad_crc"],
                                                               ["frame.length_mismatch"])
