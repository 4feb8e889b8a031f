"""PPS request, response collection and checking (ISO/IEC 7816-3:2006 §9).
PCK values are worked out by hand: PCK = XOR of PPSS..PPS3 so that the XOR of
the whole request is 00."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.iso7816.errors import LinkUsageError, PpsError
from firmware.iso7816.pps import PpsCollector, PpsOutcome, build_pps, check_pps_response


def test_build_pps_by_hand():
    # FF ^ 10 = EF; EF ^ 13 = FC.
    assert build_pps(0, 1, 3) == bytes.fromhex("FF 10 13 FC")
    # FF ^ 11 = EE; EE ^ 18 = F6.
    assert build_pps(1, 1, 8) == bytes.fromhex("FF 11 18 F6")
    # PPS1=65 (Fi 1860, Di 16): FF ^ 10 = EF; EF ^ 65 = 8A.
    assert build_pps(0, 6, 5) == bytes.fromhex("FF 10 65 8A")


def test_build_pps_rejects_rfu_and_t15():
    for args in ((15, 1, 1), (0, 7, 1), (0, 1, 0), (0, 1, 0xA), (0, 16, 1)):
        with pytest.raises(LinkUsageError):
            build_pps(*args)


def test_echo_is_success():
    req = bytes.fromhex("FF 11 18 F6")
    assert check_pps_response(req, req) == PpsOutcome(1, 1, 8, 372, 12, False)


def test_pps1_absent_means_defaults():
    req = bytes.fromhex("FF 11 18 F6")
    # PPS0=01: T=1, b5=0 -> no PPS1; PCK = FF ^ 01 = FE.
    out = check_pps_response(req, bytes.fromhex("FF 01 FE"))
    assert out == PpsOutcome(1, 1, 1, 372, 1, True)


@pytest.mark.parametrize(
    "response, code",
    [
        ("", "pps_bad_ppss"),
        ("FE 11 18 F7", "pps_bad_ppss"),
        ("FF 11 18", "pps_bad_length"),  # PCK missing
        ("FF 11 18 F6 00", "pps_bad_length"),
        ("FF 11 18 F7", "pps_bad_pck"),
        ("FF 10 18 F7", "pps_protocol_changed"),  # T=0 answered to T=1
        ("FF 11 13 FD", "pps_not_echoed"),  # other Di: FF^11^13 = FD
        ("FF 31 18 00 D6", "pps_not_echoed"),  # PPS2 that was not asked
        ("FF 91 18 76", "pps_bad_pps0"),  # b8 reserved
    ],
)
def test_refused_or_garbled(response, code):
    req = bytes.fromhex("FF 11 18 F6")
    with pytest.raises(PpsError) as exc:
        check_pps_response(req, bytes.fromhex(response))
    assert exc.value.code == code


def test_malformed_request_is_our_bug():
    with pytest.raises(LinkUsageError):
        check_pps_response(bytes.fromhex("FF 11 18"), bytes.fromhex("FF 11 18 F6"))


def test_collector_length_from_pps0():
    for resp in ("FF 11 18 F6", "FF 01 FE", "FF 71 18 00 00 96"):
        data = bytes.fromhex(resp)
        c = PpsCollector()
        ends = [c.feed(b) for b in data]
        assert ends == [False] * (len(data) - 1) + [True]
        assert c.response == data
        with pytest.raises(LinkUsageError):
            c.feed(0)
    c = PpsCollector()
    assert c.feed(0x6F) is True  # not a PPS answer: stop at once


@given(
    st.integers(0, 14),
    st.sampled_from([0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13]),
    st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 9]),
)
def test_round_trip(protocol, fi_index, di_index):
    req = build_pps(protocol, fi_index, di_index)
    x = 0
    for b in req:
        x ^= b
    assert x == 0 and req[0] == 0xFF and req[1] == 0x10 | protocol
    c = PpsCollector()
    assert [c.feed(b) for b in req][-1] is True
    out = check_pps_response(req, c.response)
    assert (out.protocol, out.fi_index, out.di_index, out.defaulted) == (
        protocol,
        fi_index,
        di_index,
        False,
    )


@given(st.binary(min_size=0, max_size=7))
def test_random_response_never_crashes_otherwise(resp):
    req = bytes.fromhex("FF 11 18 F6")
    try:
        out = check_pps_response(req, resp)
    except PpsError:
        return
    assert resp in (req, bytes.fromhex("FF 01 FE"))
    assert out.protocol == 1
