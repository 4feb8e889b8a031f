"""T=1 block codec: hand-built bytes, the CRC against published check values,
and hypothesis round trips / fuzzing of the incremental decoder."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.iso7816.t1_block import (
    CRC,
    LRC,
    R_EDC_ERROR,
    R_OTHER_ERROR,
    Block,
    BlockCollector,
    BlockFormatError,
    Kind,
    SType,
    crc,
    encode,
    lrc,
)


def decode(raw: bytes, checksum: str = LRC, parity: list[bool] | None = None):
    c = BlockCollector(checksum)
    results = [c.feed(b, True if parity is None else parity[i]) for i, b in enumerate(raw)]
    assert all(r is None for r in results[:-1]), "block ended early"
    assert results[-1] is not None, "block not complete"
    return results[-1]


# ---- hand-built blocks (LRC computed by hand; the IFS pair is the one every
# pcscd/libccid debug log shows right after a T=1 card is powered) -------------
HAND = [
    # bytes, constructor, description
    ("00 c1 01 fe 3e", Block.s(SType.IFS, inf=b"\xfe"), "S(IFS request, FE)"),
    ("00 e1 01 fe 1e", Block.s(SType.IFS, True, b"\xfe"), "S(IFS response, FE)"),
    ("00 c0 00 c0", Block.s(SType.RESYNCH), "S(RESYNCH request)"),
    ("00 e0 00 e0", Block.s(SType.RESYNCH, True), "S(RESYNCH response)"),
    ("00 c2 00 c2", Block.s(SType.ABORT), "S(ABORT request)"),
    ("00 c3 01 02 c0", Block.s(SType.WTX, inf=b"\x02"), "S(WTX request, 02)"),
    ("00 e3 01 02 e0", Block.s(SType.WTX, True, b"\x02"), "S(WTX response, 02)"),
    ("00 80 00 80", Block.r(0), "R(0)"),
    ("00 90 00 90", Block.r(1), "R(1)"),
    ("00 81 00 81", Block.r(0, R_EDC_ERROR), "R(0, EDC error)"),
    ("00 92 00 92", Block.r(1, R_OTHER_ERROR), "R(1, other error)"),
    # SELECT MF by file id: 00 A4 04 00 02 3F 00, N(S)=0, no chaining
    ("00 00 07 00 a4 04 00 02 3f 00 9a", Block.i(0, bytes.fromhex("00a40400023f00")), "I(0,0) [7]"),
    # N(S)=1, M=1, INF 90 00
    ("00 60 02 90 00 f2", Block.i(1, b"\x90\x00", more=True), "I(1,1) [2]"),
]


@pytest.mark.parametrize("hexbytes,block,text", HAND)
def test_hand_built_blocks_encode_and_decode(hexbytes, block, text):
    raw = bytes.fromhex(hexbytes)
    assert encode(block) == raw
    got = decode(raw)
    assert got.error is None and got.block == block
    assert block.describe() == text


def test_fields_of_each_kind():
    i = Block(0, 0x60, b"ab")
    assert (i.kind, i.ns, i.more) == (Kind.I, 1, True)
    r = Block(0, 0x92)
    assert (r.kind, r.nr, r.error) == (Kind.R, 1, R_OTHER_ERROR)
    s = Block(0, 0xE3, b"\x05")
    assert (s.kind, s.stype, s.response) == (Kind.S, SType.WTX, True)


# ---- CRC ----------------------------------------------------------------------
def _crc_bitwise(data: bytes) -> int:
    """CRC straight from its definition (x^16+x^12+x^5+1, LSB first, preset
    FFFF, no final XOR), one bit at a time: independent of the table code."""
    reg = 0xFFFF
    for byte in data:
        for bit in range(8):
            fb = (reg ^ (byte >> bit)) & 1
            reg >>= 1
            if fb:
                reg ^= 0x8408  # x^16+x^12+x^5+1, bit-reversed
    return reg


def test_crc_check_value_from_the_crc_catalogue():
    # CRC-16/MCRF4XX (poly 0x1021 reflected, init 0xFFFF, xorout 0): the
    # published check value over "123456789" is 0x6F91; its complemented
    # sibling CRC-16/IBM-SDLC (X.25, ISO 13239 FCS) has check 0x906E.
    assert crc(b"123456789") == bytes([0x6F, 0x91])
    assert int.from_bytes(crc(b"123456789"), "big") ^ 0xFFFF == 0x906E


@given(st.binary(max_size=300))
def test_crc_matches_the_bitwise_definition(data):
    assert crc(data) == _crc_bitwise(data).to_bytes(2, "big")


def test_crc_block_has_two_edc_bytes():
    raw = encode(Block.s(SType.IFS, inf=b"\xfe"), CRC)
    assert raw[:4] == bytes.fromhex("00c101fe")
    assert raw[4:] == _crc_bitwise(raw[:4]).to_bytes(2, "big")
    assert decode(raw, CRC).block == Block.s(SType.IFS, inf=b"\xfe")


def test_lrc_is_xor_of_all_bytes():
    assert lrc(bytes.fromhex("00c101fe")) == b"\x3e"
    assert lrc(b"") == b"\x00"


# ---- errors reported, never raised ---------------------------------------------
def test_edc_error_is_reported():
    got = decode(bytes.fromhex("00 00 02 90 00 93"))  # good LRC would be 92
    assert got.error == "edc" and got.edc_class
    assert got.block == Block.i(0, b"\x90\x00")


def test_parity_error_is_reported_after_the_whole_block():
    raw = bytes.fromhex("00 00 02 90 00 92")
    got = decode(raw, parity=[True, True, True, False, True, True])
    assert got.error == "parity" and got.edc_class


def test_len_ff_stops_the_decoder_at_len():
    c = BlockCollector()
    assert c.feed(0x00) is None and c.feed(0x00) is None
    got = c.feed(0xFF)
    assert got is not None and got.error == "len_ff" and got.block is None
    assert not got.edc_class
    assert not c.started  # ready for the next block


@pytest.mark.parametrize(
    "hexbytes,reason",
    [
        ("00 a0 00 a0", "pcb_bad_r"),  # R-block with b6 set
        ("00 83 00 83", "pcb_bad_r"),  # R-block error code 3 is RFU
        ("00 80 01 00 81", "r_with_inf"),
        ("00 c5 00 c5", "pcb_bad_s"),  # S type 5 does not exist
        ("00 c1 00 c1", "s_bad_len"),  # S(IFS) without its byte
        ("00 c0 01 00 c1", "s_bad_len"),  # S(RESYNCH) with a byte
        ("00 c1 01 00 c0", "ifs_out_of_range"),  # IFS 0
        ("00 c1 01 ff 3f", "ifs_out_of_range"),  # IFS 255
        ("00 c3 01 00 c2", "wtx_zero"),
        ("00 01 00 01", "pcb_rfu_bits"),  # I-block with b1 set
    ],
)
def test_invalid_blocks_name_their_problem(hexbytes, reason):
    got = decode(bytes.fromhex(hexbytes))
    assert got.error == reason and not got.edc_class


def test_encode_refuses_what_cannot_be_a_block():
    with pytest.raises(BlockFormatError):
        encode(Block(0, 0, bytes(255)))
    with pytest.raises(BlockFormatError):
        encode(Block(0x100, 0))
    with pytest.raises(BlockFormatError):
        encode(Block(0, 0), "MD5")


# ---- hypothesis ----------------------------------------------------------------
blocks = st.builds(
    Block, st.integers(0, 255), st.integers(0, 255), st.binary(max_size=254)
)


@given(blocks, st.sampled_from([LRC, CRC]))
def test_round_trip_any_block(block, checksum):
    raw = encode(block, checksum)
    assert len(raw) == 3 + len(block.inf) + (1 if checksum == LRC else 2)
    got = decode(raw, checksum)
    assert got.block == block
    assert got.error == block.problem()
    assert got.raw == raw


@given(blocks, st.sampled_from([LRC, CRC]), st.data())
def test_any_single_bit_error_after_len_is_detected(block, checksum, data):
    raw = bytearray(encode(block, checksum))
    pos = data.draw(st.integers(3, len(raw) - 1))  # INF or EDC: length unchanged
    raw[pos] ^= 1 << data.draw(st.integers(0, 7))
    assert decode(bytes(raw), checksum).error == "edc"


@given(st.binary(max_size=2000), st.sampled_from([LRC, CRC]))
def test_decoder_survives_any_byte_stream(stream, checksum):
    c = BlockCollector(checksum)
    for b in stream:
        got = c.feed(b)
        if got is not None:
            assert got.error is not None or got.block is not None
            if got.block is not None and got.error is None:
                assert encode(got.block, checksum) == got.raw
