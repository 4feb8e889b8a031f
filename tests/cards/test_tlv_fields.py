"""BER-TLV and field codecs: hand-written bytes and hypothesis round trips."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.cardapps import fields as f
from firmware.cardapps.model import PartialDate
from firmware.cardapps.tlv import TlvError, decode_tlvs, encode_tlv, first_object, is_constructed


def test_short_and_long_lengths_by_hand():
    assert encode_tlv(0x80, b"AB") == bytes.fromhex("80024142")
    assert encode_tlv(0x93, b"x" * 200)[:3] == bytes.fromhex("9381c8")
    assert encode_tlv(0x65, b"y" * 300)[:4] == bytes.fromhex("65 82 01 2c")
    assert encode_tlv(0x5F24, b"\x20\x26") == bytes.fromhex("5f24022026")


def test_decode_hand_written_nested_template():
    raw = bytes.fromhex("6509 8003414243 82021234")  # 65 { 80 'ABC', 82 12 34 }
    [(tag, value)] = decode_tlvs(raw)
    assert tag == 0x65 and is_constructed(tag)
    assert decode_tlvs(value) == [(0x80, b"ABC"), (0x82, b"\x12\x34")]
    assert not is_constructed(0x80)


def test_padding_between_objects_is_skipped():
    assert decode_tlvs(bytes.fromhex("00 8001 41 ff ff 8100")) == [(0x80, b"A"), (0x81, b"")]


@pytest.mark.parametrize(
    "raw",
    ["8005 4142", "81", "8181", "9f", "8183010000", "808105" + "41" * 5, "9f8080808001 41"],
)
def test_malformed_tlv_raises(raw):
    with pytest.raises(TlvError):
        decode_tlvs(bytes.fromhex(raw))


tags = st.sampled_from([0x80, 0x81, 0x93, 0xC3, 0x65, 0xA0, 0x5F24, 0x9F7F, 0xDF20])


@given(st.lists(st.tuples(tags, st.binary(max_size=600)), max_size=6))
def test_tlv_round_trip(items):
    raw = b"".join(encode_tlv(t, v) for t, v in items)
    assert decode_tlvs(raw) == items


@given(st.binary(max_size=64))
def test_decoder_never_crashes_other_than_tlv_error(raw):
    try:
        decode_tlvs(raw)
    except TlvError:
        pass


@given(tags, st.binary(max_size=400))
def test_first_object_reports_total_size(tag, value):
    raw = encode_tlv(tag, value) + b"\x80\x00"
    t, v, used = first_object(raw)
    assert (t, v) == (tag, value) and raw[used:] == b"\x80\x00"


def test_birth_dates_by_hand():
    assert f.encode_partial_date(PartialDate(1983, 3, 0)) == bytes.fromhex("19830300")
    assert f.decode_partial_date(bytes.fromhex("19680000")) == PartialDate(1968, 0, 0)
    lunar = f.decode_partial_date(bytes.fromhex("19550231"))
    assert lunar == PartialDate(1955, 2, 31) and lunar.lunar
    assert not f.decode_partial_date(bytes.fromhex("19550228")).lunar


@pytest.mark.parametrize("raw", ["19551301", "19550032", "00000101", "1955000a", "195501", "19550005"])
def test_bad_birth_dates(raw):
    with pytest.raises(f.FieldError):
        f.decode_partial_date(bytes.fromhex(raw))


@pytest.mark.parametrize("raw", ["20230230", "20231301", "2023010a"])
def test_rights_dates_must_exist(raw):
    with pytest.raises(f.FieldError):
        f.decode_date(bytes.fromhex(raw))


@given(st.integers(1, 9999), st.integers(0, 12), st.integers(0, 31))
def test_partial_date_round_trip(y, m, d):
    pd = PartialDate(y, m, d if m else 0)
    assert f.decode_partial_date(f.encode_partial_date(pd)) == pd


@given(st.dates())
def test_date_round_trip(d: date):
    assert f.decode_date(f.encode_date(d)) == d


def test_flags_and_text():
    assert f.decode_flag(b"\x01") is True
    with pytest.raises(f.FieldError):
        f.decode_flag(b"\x02")
    with pytest.raises(f.FieldError):
        f.decode_ascii(b"12\x01", digits=True)
    with pytest.raises(f.FieldError):
        f.decode_name(b"\xff\xfe")
    assert f.decode_name("HÉLÈNE".encode()) == "HÉLÈNE"
