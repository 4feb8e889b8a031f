"""The sans-I/O server: OS group, error forms, malformed input; requests built by `smp`."""

from __future__ import annotations

from datetime import UTC, datetime

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smp import os_management as smpos
from smp.image_management import ImageStatesReadRequest

from firmware.office_link.events import LinkError, ResetRequested, Send
from firmware.office_link.framing import FrameDecoder, encode_packet
from firmware.office_link.security import Identity, MemoryPairedHosts
from firmware.office_link.server import SMPServer

from .helpers import FakeUnit, exchange, raw_request
from .test_security import DocHost, open_session, pair


@pytest.fixture
def unit():
    server = SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit(clock=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)))
    return server


@pytest.fixture
def session_unit(unit):
    host = DocHost()
    begun = pair(unit, host)
    open_session(unit, host, begun["ukx"], 10.0)
    return unit


def test_echo_v1_and_v2_echo_sequence_and_version(unit):
    for version in (0, 1):
        request = smpos.EchoWriteRequest(d="bonjour", sequence=200, version=version)
        reply, _ = exchange(unit, request.BYTES)
        assert (reply.op, reply.version, reply.group, reply.seq, reply.command) == (3, version, 0, 200, 0)
        assert reply.body == {"r": "bonjour"}
        # and the smp package parses the same bytes as the documented response
        [send] = unit.receive_data(encode_packet(request.BYTES), 0.0)
        [packet] = FrameDecoder().feed(send.data)
        assert smpos.EchoWriteResponse.loads(packet.data).r == "bonjour"


def test_params_answer_an_unpaired_host(unit):
    reply, _ = exchange(unit, smpos.MCUMgrParametersReadRequest(sequence=3).BYTES)
    assert (reply.op, reply.body) == (1, {"buf_size": 2048, "buf_count": 1})


def test_unknown_group_command_and_image_group_are_not_supported(session_unit):
    for packet in (
        raw_request(0, 77, 0, {}),
        raw_request(2, 0, 9, {}),
        ImageStatesReadRequest(sequence=4).BYTES,
    ):
        reply, _ = exchange(session_unit, packet, 11.0)
        assert reply.body["rc"] == 8  # MGMT_ERR_ENOTSUP


def test_datetime_read_write_and_errors(session_unit):
    reply, _ = exchange(session_unit, smpos.DateTimeReadRequest().BYTES, 11.0)
    assert reply.body == {"datetime": "2026-03-04T05:06:07"}
    for bad in ("yesterday", "2026-13-01T00:00:00", "1999-12-31T23:59:59", 5):
        reply, _ = exchange(session_unit, raw_request(2, 0, 4, {"datetime": bad}), 11.0)
        assert reply.body["rc"] == 3  # EINVAL
    fake = session_unit.dispatcher.lookup((0, 4, 2)).handler.__self__.services
    fake.fail_clock_write = True
    reply, events = exchange(session_unit, raw_request(2, 0, 4, {"datetime": "2026-01-01T00:00:00"}), 11.0)
    assert reply.body == {"err": {"group": 0, "rc": 5}}  # RTC_COMMAND_FAILED, v2 form
    reply, _ = exchange(session_unit, raw_request(2, 0, 4, {"datetime": "2026-01-01T00:00:00"}, version=0), 11.0)
    assert reply.body["rc"] == 1  # v1: EUNKNOWN


def test_reset_answers_first_then_asks_for_the_restart(session_unit):
    sealed = session_unit.doc_session.seal(smpos.ResetWriteRequest().BYTES)
    actions = session_unit.receive_data(encode_packet(sealed), 11.0)
    assert isinstance(actions[0], Send) and actions[-1] == ResetRequested()


def test_malformed_requests_get_einval_or_version_errors(unit):
    echo = raw_request(2, 0, 0, {"d": "x"})
    bad_length = echo[:2] + (99).to_bytes(2, "big") + echo[4:]
    not_cbor = echo[:2] + (2).to_bytes(2, "big") + echo[4:8] + b"\xff\xff"
    not_map = echo[:2] + (1).to_bytes(2, "big") + echo[4:8] + cbor2.dumps(5)
    hostile = [  # declared sizes far beyond the body, and deep nesting: bounded, refused
        b"\x9b" + b"\xff" * 8, b"\x5b\x00\x00\x00\x10\x00\x00\x00\x00", b"\x81" * 1000 + b"\x00",
    ]
    hostile_packets = [echo[:2] + len(h).to_bytes(2, "big") + echo[4:8] + h for h in hostile]
    for packet in (bad_length, not_cbor, not_map, raw_request(2, 0, 0, {"d": 5}), *hostile_packets):
        reply, _ = exchange(unit, packet)
        assert reply.body["rc"] == 3
    too_new = bytes([(2 << 3) | 2]) + echo[1:]
    reply, _ = exchange(unit, too_new)
    assert reply.body["rc"] == 13 and reply.version == 1


def test_a_response_sent_to_the_unit_is_dropped(unit):
    reply, events = exchange(unit, raw_request(3, 0, 0, {"r": "x"}))
    assert reply is None and events[0].code == "smp.unexpected_response"


def test_a_handler_bug_is_answered_not_raised(unit):
    class Broken:
        group_id = 90

        def routes(self):
            from firmware.office_link.dispatch import Access, Route

            return [Route(0, 0, lambda request, ctx: 1 / 0, Access.PUBLIC)]

    unit.dispatcher.add_group(Broken())
    reply, events = exchange(unit, raw_request(0, 90, 0, {}))
    assert reply.body["rc"] == 1 and events[0].code == "smp.internal"


@settings(max_examples=300)
@given(
    st.integers(0, 7), st.integers(0, 3), st.integers(0, 0xFFFF), st.integers(0, 255),
    st.integers(0, 255), st.binary(max_size=200),
)
def test_random_packets_never_crash_and_get_at_most_one_reply(op, version, group, seq, command, body):
    server = SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit())
    header = bytes([(version << 3) | op, 0]) + len(body).to_bytes(2, "big") + group.to_bytes(2, "big")
    actions = server.receive_data(encode_packet(header + bytes([seq, command]) + body), 0.0)
    sends = [a for a in actions if isinstance(a, Send)]
    assert len(sends) == (0 if op in (1, 3) else 1)
    assert all(isinstance(a, (Send, LinkError)) for a in actions)
    assert not any(isinstance(a, LinkError) and a.code == "smp.internal" for a in actions), actions


_HOST = DocHost()
_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=40)
    | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10)
_routes = st.sampled_from([(2, 0, 0), (0, 0, 4), (2, 0, 4), (2, 0, 5), (0, 0, 6), (0, 81, 0),
                           (2, 80, 0), (2, 80, 1), (2, 80, 4)])


@settings(max_examples=300, deadline=None)
@given(_routes, st.integers(0, 1),
       st.dictionaries(st.sampled_from(["d", "datetime", "boot_mode", "hid", "hkx", "hc", "hn",
                                        "sig", "kc", "name", "x"]), _values, max_size=4))
def test_random_requests_in_a_session_reach_the_handlers_and_never_hit_a_bug(route, version, body):
    """Well-formed CBOR maps through a real session (so every handler runs): each gets
    an answer, none an internal error (which is how a bug in our code shows)."""
    server = SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit())
    begun = pair(server, _HOST)
    open_session(server, _HOST, begun["ukx"], 10.0)
    op, group, command = route
    reply, events = exchange(server, raw_request(op, group, command, body, version=version), 11.0)
    assert reply is not None
    assert not any(getattr(e, "code", "") == "smp.internal" for e in events), events
