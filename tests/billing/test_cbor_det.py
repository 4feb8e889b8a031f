"""Deterministic CBOR (RFC 8949 §4.2.1) checked against hand-encoded bytes."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given, settings
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


# ---- the fast path (cbrrr) against the reference proof ---------------------------------

def _reference(data: bytes):
    """The reference proof's verdict: ("ok", value) or ("refused", code)."""
    try:
        return "ok", cbor_det._decode_reference(data)
    except FseFormatError as exc:
        return "refused", exc.code


def _verdict(data: bytes):
    try:
        return "ok", cbor_det.decode_deterministic(data)
    except FseFormatError as exc:
        return "refused", exc.code


def test_the_fast_path_is_installed_and_taken_for_an_fse_payload():
    # text keys, no float: what an FSE payload is (docs/fse.md §Payload)
    payload = cbor_det.encode({"format": "opentla-fse/1", "amounts": {"lines": [
        {"code": "AMI", "amo_cents": 284}]}, "vitale": None, "ok": True, "cert": b"\x00" * 32})
    assert cbor_det._dag_cbor is not None  # cbrrr (the dev and fast extras)
    assert cbor_det._decode_fast(payload) == cbor2.loads(payload)


@pytest.mark.parametrize("hexdata,why", [
    ("a2 6161 01 6161 02", "duplicate text key"),
    ("a2 6162 01 6161 02", "text keys out of order"),
    ("a2 626161 01 6162 02", "longer text key first"),
    ("18 17", "23 written with a 1-byte argument"),
    ("5f 41 00 ff", "indefinite byte string"),
    ("bf 6161 01 ff", "indefinite map"),
    ("fb 3ff8000000000000", "float64 at the top"),
    ("a1 6161 fb 3ff8000000000000", "float64 in a map"),
    ("81 81 a1 6161 82 01 fb 3ff8000000000000", "float64 three levels down"),
    ("d8 2a 45 0001711220", "tag 42"),
    ("c2 49 010000000000000000", "bignum 2**64"),
    ("f7", "undefined"),
    ("a1 01 02", "integer key (valid for the reference, not for the fast path)"),
    ("6161 00", "trailing byte"),
])
def test_what_the_fast_path_refuses_is_left_to_the_reference(hexdata, why):
    data = bytes.fromhex(hexdata)
    assert cbor_det._decode_fast(data) is cbor_det._PASS, why
    assert _verdict(data) == _reference(data), why


def _nested(depth: int, leaf: bytes) -> bytes:
    return b"\x81" * depth + leaf  # ``depth`` arrays of one around ``leaf``


@pytest.mark.parametrize("depth,leaf", [(32, b"\x01"), (33, b"\x01"), (32, b"\x80"),
                                        (33, b"\x80"), (33, b"\xa0"), (40, b"\x80")])
def test_nesting_limit_is_the_reference_one(depth, leaf):
    # containers at depth 0..32 pass, one at depth 33 (even empty) is refused
    data = _nested(depth, leaf)
    fast = cbor_det._decode_fast(data)
    verdict = _reference(data)
    deepest = depth if leaf in (b"\x80", b"\xa0") else depth - 1
    assert verdict[0] == ("ok" if deepest <= 32 else "refused")
    assert (fast is not cbor_det._PASS) == (verdict[0] == "ok")
    assert _verdict(data) == verdict


def test_no_float_sees_floats_at_every_depth_in_maps_and_arrays():
    # the walk relies on gc.get_referents visiting every item of dicts and lists
    for depth in range(6):
        value: object = 1.5
        for level in range(depth):
            value = {"k": value, "a": "x"} if level % 2 else ["x", value, None]
        with pytest.raises(ValueError, match="floats"):
            cbor_det._no_float(value)
        cbor_det._no_float(value, may_float=False)  # only the depth, then


def test_fb_bytes_outside_floats_still_accepted():
    # fb inside a byte string and in an integer argument: the type walk runs, passes
    data = cbor_det.encode({"b": b"\xfb\xfb", "n": 251, "m": 0x1FB})
    assert cbor_det._decode_fast(data) == {"b": b"\xfb\xfb", "n": 251, "m": 0x1FB}


text_keyed = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64 - 1) | st.text(max_size=30)
    | st.binary(max_size=30),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=30), inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300)
@given(text_keyed)
def test_fast_path_accepts_every_deterministic_text_keyed_encoding(value):
    # keys of 0..30 characters cross the 1-byte/2-byte length-argument boundary (24)
    data = cbor_det.encode(value)
    assert cbor_det._decode_fast(data) == value


@settings(max_examples=500)
@given(plain, st.data())
def test_fast_path_agrees_with_the_reference_on_mutated_encodings(value, data):
    encoded = bytearray(cbor_det.encode(value))
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        at = data.draw(st.integers(0, len(encoded)))
        if op == "insert":
            encoded.insert(at, data.draw(st.integers(0, 255)))
        elif encoded and at < len(encoded):
            if op == "flip":
                encoded[at] ^= 1 << data.draw(st.integers(0, 7))
            else:
                del encoded[at]
    mutated = bytes(encoded)
    reference = _reference(mutated)
    fast = cbor_det._decode_fast(mutated)
    if fast is not cbor_det._PASS:  # what the fast path accepts, the reference accepts
        assert reference == ("ok", fast)
    assert _verdict(mutated) == reference


@pytest.mark.parametrize("hexdata", ["a2 2002 186401", "19 0017", "9f 01 ff", "f9 3e00",
                                     "c1 1a 5f000000", "01 02"])
def test_without_cbrrr_the_reference_decides_alone(monkeypatch, hexdata):
    data = bytes.fromhex(hexdata)
    expected = _reference(data)
    monkeypatch.setattr(cbor_det, "_dag_cbor", None)
    assert cbor_det._decode_fast(data) is cbor_det._PASS
    assert _verdict(data) == expected == ("refused", expected[1])
