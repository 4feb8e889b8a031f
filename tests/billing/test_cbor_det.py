"""Deterministic CBOR (RFC 8949 §4.2.1) checked against hand-encoded bytes."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.billing import cbor_det
from firmware.billing.errors import FseFormatError


def test_keys_sorted_bytewise_not_length_first():
    # keys 100 -> 18 64 and -1 -> 20 ; bytewise 18 < 20 so 100 comes first.
    # a2 (map of 2) | 18 64 01 (100: 1) | 20 02 (-1: 2)
    assert cbor_det.encode({-1: 2, 100: 1}) == bytes.fromhex("a2 186401 2002")
    # cbor2's canonical=True uses the RFC 7049 length-first order instead:
    assert cbor2.dumps({-1: 2, 100: 1}, canonical=True) == bytes.fromhex("a2 2002 186401")


def test_mixed_keys_and_shortest_arguments():
    # {"b": 1, "aa": 24, 10: 255}:
    #   0a (10) < 61 62 ("b") < 62 61 61 ("aa")
    #   values: 18 ff (255, 1-byte argument), 01, 18 18 (24 needs the 1-byte form)
    expected = bytes.fromhex("a3 0a18ff 616201 6261611818")
    assert cbor_det.encode({"b": 1, "aa": 24, 10: 255}) == expected


def test_nested_and_bytes():
    # [h'0102', {"a": null, "A": true}] -> 82 | 42 0102 | a2 61 41 f5 61 61 f6
    assert cbor_det.encode([b"\x01\x02", {"a": None, "A": True}]) == bytes.fromhex(
        "82 420102 a2 6141f5 6161f6")


@pytest.mark.parametrize("hexdata,why", [
    ("a2 2002 186401", "unsorted keys"),
    ("19 0017", "23 written with a 2-byte argument"),
    ("9f 01 ff", "indefinite-length array"),
    ("a2 6161 01 6161 02", "duplicate key"),
    ("f9 3e00", "float"),
    ("c1 1a 5f000000", "tag 1 (date)"),
    ("01 02", "trailing byte"),
    ("5f 41 00 ff", "indefinite-length byte string"),
])
def test_non_deterministic_rejected(hexdata, why):
    with pytest.raises(FseFormatError) as exc:
        cbor_det.decode_deterministic(bytes.fromhex(hexdata))
    assert exc.value.code in ("cbor_not_deterministic", "cbor_invalid"), why


def test_float_refused_on_encode():
    with pytest.raises(ValueError):
        cbor_det.encode({"x": 1.5})


plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64) + 1, 2**64 - 1) | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.integers(-1000, 1000) | st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@given(plain)
def test_round_trip_and_order_independence(value):
    data = cbor_det.encode(value)
    assert cbor_det.decode_deterministic(data) == value
    if isinstance(value, dict):
        reversed_order = dict(reversed(list(value.items())))
        assert cbor_det.encode(reversed_order) == data


@given(st.dictionaries(st.integers(-1000, 1000) | st.text(max_size=4), st.integers(),
                       min_size=2, max_size=6))
def test_map_keys_in_bytewise_order(value):
    # independent check: decode the map by hand and compare the key encodings' order.
    data = cbor_det.encode(value)
    keys = [cbor2.dumps(k) for k in cbor2.loads(data)]  # cbor2.loads keeps wire order
    assert keys == sorted(keys)


@pytest.mark.parametrize("size", [0, 23, 24, 255, 256, 65535, 65536])
def test_sig_structure_written_out_is_the_deterministic_encoding(size):
    """cose.sig_structure writes the bytes directly: they equal cbor_det's encoding at
    every byte-string length argument size (RFC 8949 §3: 0, 1, 2 and 4 bytes)."""
    from firmware.billing import cose

    body, sign, payload = b"\xa1\x03\x61x", bytes(range(40)), bytes(size)
    assert cose.sig_structure(body, sign, payload) == cbor_det.encode(
        ["Signature", body, sign, b"", payload])
