"""ATR decoding, field by field, on real cards; expectations worked out by hand
from ISO/IEC 7816-3:2006 §8 tables (noted beside each)."""

import pytest

from firmware.iso7816 import convention
from firmware.iso7816.atr import Atr, SpecificMode, parse_atr
from firmware.iso7816.errors import AtrError

VITALE2 = bytes.fromhex("3B 75 13 00 00 47 09 EA 90 00")
VITALE1 = bytes.fromhex("3F 65 25 00 52 09 6A 90 00")  # smartcard_list.txt: "French carte Vitale"
CPS3 = bytes.fromhex("3B AC 00 40 2A 00 12 25 00 64 80 00 03 10 00 90 00")
CPS4 = bytes.fromhex("3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90 44")
# A T=1 card with the T=15 global bytes (listed in pcsc-tools' smartcard_list).
T1_CARD = bytes.fromhex("3B DA 18 FF 81 B1 FE 75 1F 03 00 31 C5 73 C0 01 40 00 90 00 0C")


def test_vitale2():
    a = parse_atr(VITALE2)
    assert a.ok and a.error is None
    assert a.convention == "direct" and a.ts == 0x3B and a.t0 == 0x75
    # T0=75: Y1=0111 -> TA1 TB1 TC1, no TD1; K=5.
    assert (a.ta(1), a.tb(1), a.tc(1), a.td(1)) == (0x13, 0x00, 0x00, None)
    # TA1=13: Fi index 1 -> 372, f max 5 MHz; Di index 3 -> 4 (Tables 7, 8).
    assert (a.fi_index, a.fi, a.f_max, a.di_index, a.di) == (1, 372, 5_000_000, 3, 4)
    assert a.protocols == [0] and a.first_protocol == 0  # no TD1: T=0 only
    assert a.n == 0 and a.wi == 10
    assert a.historical == bytes.fromhex("47 09 EA 90 00")
    assert a.tck is None and a.tck_required is False and a.tck_ok is None
    assert (a.ifsc, a.bwi, a.cwi, a.checksum) == (None, None, None, None)
    assert a.specific is None


def test_vitale1_inverse_logical_and_raw():
    a = parse_atr(VITALE1)
    assert a.ok and a.convention == "inverse" and not a.from_raw_inverse
    # T0=65: Y1=0110 -> TB1 TC1; K=5; no TA1 -> Fd=372 Dd=1.
    assert (a.ta(1), a.tb(1), a.tc(1)) == (None, 0x25, 0x00)
    assert (a.fi, a.di, a.f_max) == (372, 1, 5_000_000)
    assert a.historical == bytes.fromhex("52 09 6A 90 00")
    # The same card read by a direct-convention UART: TS arrives as 03 and each
    # byte is inverted and bit-reversed. 3F = 0011 1111 -> reversed 1111 1100
    # -> inverted 0000 0011 = 03; 65 = 0110 0101 -> 1010 0110 -> 0101 1001 = 59.
    raw = convention.encode(VITALE1, convention.INVERSE)
    assert raw[:2] == bytes([0x03, 0x59])
    b = parse_atr(raw)
    assert b.ok and b.convention == "inverse" and b.from_raw_inverse
    assert b.raw == VITALE1 and b.historical == a.historical and b.tb(1) == 0x25


def test_cps3_wi():
    a = parse_atr(CPS3)
    assert a.ok
    # T0=AC: Y1=1010 -> TB1 TD1; K=12. TD1=40: T=0, Y2=0100 -> TC2.
    assert (a.ta(1), a.tb(1), a.td(1)) == (None, 0x00, 0x40)
    assert a.tc(2) == 0x2A and a.wi == 42
    assert a.protocols == [0] and a.first_protocol == 0
    assert len(a.historical) == 12 and a.historical[-2:] == b"\x90\x00"
    assert a.tck_required is False and a.tck_ok is None
    assert (a.fi, a.di) == (372, 1)


def test_cps4_t0_and_t1():
    a = parse_atr(CPS4)
    assert a.ok
    # T0=9B: TA1 TD1, K=11. TA1=18: Fi=372 (f max 5 MHz), Di index 8 -> 12.
    assert (a.fi, a.f_max, a.di_index, a.di) == (372, 5_000_000, 8, 12)
    # TD1=80: T=0, Y2=1000 -> TD2. TD2=01: T=1, no more bytes.
    assert (a.td(1), a.td(2)) == (0x80, 0x01)
    assert a.protocols == [0, 1] and a.first_protocol == 0
    # T=1 offered, no level-3 bytes: IFSC 32, BWI 4, CWI 13, LRC (§11.4).
    assert (a.ifsc, a.bwi, a.cwi, a.checksum) == (32, 4, 13, "LRC")
    # TCK required (T=1 indicated); XOR of T0..TCK:
    # 9B^18^80^01 = 02; 02^00^12^25^00^64^80^04^01^00^00^90 = 44 -> TCK 44 is right.
    assert a.tck == 0x44 and a.tck_required and a.tck_ok is True


def test_t1_card_with_t15_bytes():
    a = parse_atr(T1_CARD)
    assert a.ok
    assert a.n == 255  # TC1=FF
    assert a.protocols == [1] and a.first_protocol == 1  # TD1=81, T=15 is no protocol
    assert (a.ifsc, a.bwi, a.cwi, a.checksum) == (254, 7, 5, "LRC")  # TA3=FE TB3=75
    assert a.clock_stop == 0 and a.class_indicator == 0x03  # TA4=03: classes A and B
    assert a.tck == 0x0C and a.tck_ok is True


def test_crc_and_specific_mode():
    # T0=B0: TA1 TB1 TD1, K=0. TA1=11. TB1=00. TD1=91: T=1, TA2 and TD2.
    # TA2=81: specific T=1, b8=1 cannot change, b5=0 TA1 values apply.
    # TD2=31: T=1, TA3 TB3. TA3=FE, TB3=45 -> BWI 4 CWI 5. TCK computed below.
    body = bytes.fromhex("3B B0 11 00 91 81 31 FE 45")
    tck = 0
    for b in body[1:]:
        tck ^= b
    a = parse_atr(body + bytes([tck]))
    assert a.ok
    assert a.specific == SpecificMode(protocol=1, can_change=False, implicit=False)
    assert (a.ifsc, a.bwi, a.cwi, a.checksum) == (0xFE, 4, 5, "LRC")
    # Same with TC3=01 -> CRC (T0 Y of TD2 becomes 7 -> TA3 TB3 TC3).
    body = bytes.fromhex("3B B0 11 00 91 11 71 FE 45 01")
    tck = 0
    for b in body[1:]:
        tck ^= b
    a = parse_atr(body + bytes([tck]))
    assert a.ok and a.checksum == "CRC"
    assert a.specific == SpecificMode(protocol=1, can_change=True, implicit=True)


@pytest.mark.parametrize(
    "hexatr, code",
    [
        ("", "atr_empty"),
        ("3C 00", "atr_bad_ts"),
        ("3B", "atr_truncated"),
        ("3B 75 13 00 00 47 09", "atr_truncated"),  # 3 of 5 historical bytes
        ("3B 80", "atr_truncated"),  # TD1 announced, absent
        ("3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90", "atr_truncated"),  # no TCK
        ("3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90 45", "atr_tck_mismatch"),
        ("3B 75 13 00 00 47 09 EA 90 00 00", "atr_extra_bytes"),
        ("3B 0F" + " 00" * 15 + " 00" * 16, "atr_extra_bytes"),  # 33 bytes, 17 expected
        ("3B 80 40 00", "atr_bad_wi"),  # TD1=40: T=0 and TC2=00, RFU
    ],
)
def test_errors(hexatr, code):
    a = parse_atr(bytes.fromhex(hexatr))
    assert not a.ok
    assert a.error.startswith(code + ":")
    with pytest.raises(AtrError) as exc:
        a.require_ok()
    assert exc.value.code == code


def test_too_long():
    # K=15 and a chain of TD bytes: 2 + 16 TDs (T=1 -> TCK) + 15 + 1 = 34 bytes.
    body = bytes([0x3B, 0x8F]) + bytes([0x81] * 15) + bytes([0x01]) + bytes(15)
    tck = 0
    for b in body[1:]:
        tck ^= b
    a = parse_atr(body + bytes([tck]))
    assert len(body) + 1 == 34
    assert a.error.startswith("atr_too_long")


def test_ifsc_bwi_invalid():
    for ta3, code in ((0x00, "atr_bad_ifsc"), (0xFF, "atr_bad_ifsc")):
        body = bytes([0x3B, 0x80, 0x81, 0x11, ta3])
        tck = 0
        for b in body[1:]:
            tck ^= b
        assert parse_atr(body + bytes([tck])).error.startswith(code)
    body = bytes([0x3B, 0x80, 0x81, 0x21, 0xA4])  # TB3=A4: BWI=10, RFU
    tck = 0
    for b in body[1:]:
        tck ^= b
    assert parse_atr(body + bytes([tck])).error.startswith("atr_bad_bwi")


def test_rfu_fi_di_warning_in_negotiable_mode_error_in_specific():
    a = parse_atr(bytes.fromhex("3B 10 70"))  # TA1=70: Fi index 7 RFU
    assert a.ok and a.fi is None and a.f_max is None
    assert a.warnings[0].startswith("atr_rfu_fi")
    a = parse_atr(bytes.fromhex("3B 10 1A"))  # Di index A RFU
    assert a.ok and a.di is None and a.warnings[0].startswith("atr_rfu_di")
    # TA1=70 imposed by TA2=00 (specific T=0, b5=0): unusable.
    a = parse_atr(bytes.fromhex("3B 90 70 10 00"))
    assert a.error.startswith("atr_rfu_fi")


def test_td1_t15_is_an_error():
    body = bytes.fromhex("3B 80 0F")  # TD1=0F: T=15, nothing follows; TCK due
    a = parse_atr(body + bytes([0x80 ^ 0x0F]))
    assert a.error.startswith("atr_td1_t15")
    assert a.protocols == []


def test_never_raises_on_garbage_and_json_shape():
    a = parse_atr(b"\x00\x01\x02")
    assert isinstance(a, Atr) and a.error.startswith("atr_bad_ts")
    d = parse_atr(CPS4).to_json_dict()
    assert d["convention"] == "direct" and d["fi"] == 372 and d["di"] == 12
    assert d["protocols"] == [0, 1] and d["tck_ok"] is True and d["checksum"] == "LRC"
    assert d["historical"] == "0012250064800401000090"
    assert (d["ifsc"], d["bwi"], d["cwi"], d["error"]) == (32, 4, 13, None)
    d = parse_atr(VITALE2).to_json_dict()
    assert d["tck_ok"] is None and d["checksum"] is None and d["ifsc"] is None
