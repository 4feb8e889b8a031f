"""Request and reply MACs inside a session (docs/protocol.md, "Authenticated requests"),
driven with bytes: the MAC is computed by hand in tests/link/helpers.DocSession."""

from __future__ import annotations

import cbor2
import pytest

from firmware.office_link.events import LinkError, SessionClosed

from .helpers import FakeUnit, exchange, raw_request
from .test_security import DocHost, open_session, pair
from .test_security import unit as unit  # noqa: F401  (the fixture)

READ, WRITE = 0, 2
CLOCK = (WRITE, 0, 4, {"datetime": "2031-02-03T04:05:06"})


def denied(reason: str) -> dict:
    return {"rc": 11, "rsn": reason}


@pytest.fixture
def session(unit):  # noqa: F811
    host = DocHost()
    begun = pair(unit, host)
    open_session(unit, host, begun["ukx"], 10.0)
    return unit


def test_a_request_without_mac_is_refused_inside_an_open_session(session):
    fake: FakeUnit = session.fake
    for op, group, command, body in [CLOCK, (WRITE, 0, 5, {}), (READ, 81, 0, {}),
                                     (READ, 0, 4, {})]:
        reply, events = exchange(session, raw_request(op, group, command, body), 11.0, seal=False)
        assert reply.body == denied("session request without a MAC")
        assert events == [LinkError("link.no_mac", "session request without a MAC")]
    assert fake.clock_writes == []
    # the office's own sealed request still goes through
    reply, _ = exchange(session, raw_request(*CLOCK), 12.0)
    assert reply.body == {} and len(fake.clock_writes) == 1


def test_a_replayed_or_reordered_request_is_refused(session):
    doc = session.doc_session
    first = doc.seal(raw_request(*CLOCK))
    reply, _ = exchange(session, first, 11.0, seal=False)
    assert set(reply.body) == {"_n", "_mac"}  # sealed {} answer
    replayed, events = exchange(session, first, 12.0, seal=False)
    assert replayed.body == denied("counter 1 already used")
    assert events == [LinkError("link.replay", "counter 1 already used")]
    doc.counter = 5  # a gap is fine (a lost frame)...
    assert exchange(session, raw_request(READ, 81, 0, {}), 13.0)[0].body["serial"] == "TLA-42"
    late = doc.seal(raw_request(*CLOCK), counter=4)  # ...going back is not
    assert exchange(session, late, 14.0, seal=False)[0].body == denied("counter 4 already used")
    assert len(session.fake.clock_writes) == 1


def test_a_tampered_request_is_refused(session):
    sealed = session.doc_session.seal(raw_request(*CLOCK))
    body = cbor2.loads(sealed[8:])
    body["datetime"] = "2031-02-03T04:05:07"  # one second later, MAC left as it was
    payload = cbor2.dumps(body)
    tampered = sealed[:2] + len(payload).to_bytes(2, "big") + sealed[4:8] + payload
    reply, events = exchange(session, tampered, 11.0, seal=False)
    assert reply.body == denied("MAC does not verify under the session key")
    assert events == [LinkError("link.bad_mac", "MAC does not verify under the session key")]
    other_command = sealed[:7] + bytes([5]) + sealed[8:]  # same body, sent as a reset
    assert exchange(session, other_command, 11.0, seal=False)[0].body == denied(
        "MAC does not verify under the session key")
    assert session.fake.clock_writes == []


def test_a_mac_after_the_session_ended_is_refused(session):
    doc = session.doc_session
    session.link_reset(11.0)
    reply, _ = exchange(session, doc.seal(raw_request(*CLOCK)), 12.0, seal=False)
    assert reply.body == denied("no open session for this MAC (it ended)")


def test_replies_carry_the_units_mac_over_the_request_counter(session):
    doc = session.doc_session
    reply, _ = exchange(session, raw_request(READ, 81, 0, {}), 11.0)  # checked by hand
    assert reply.body["serial"] == "TLA-42" and doc.counter == 1
    # errors of an authenticated request are sealed too (bad datetime: EINVAL)
    reply, _ = exchange(session, raw_request(WRITE, 0, 4, {"datetime": "soon"}), 12.0)
    assert reply.body["rc"] == 3


def test_only_authenticated_requests_keep_a_session_alive(session):
    for t in (100.0, 200.0, 300.0):  # someone else on the line keeps sending echoes
        exchange(session, raw_request(WRITE, 0, 0, {"d": "x"}), t, seal=False)
    assert session.tick(310.0) == [SessionClosed("idle")]
