"""Link-level traces with a fake sink and a hand-driven clock: each data-group request
is timed with its outcome; pairing and sessions from the server's events."""

from __future__ import annotations

import pytest

from firmware.office_link.dispatch import Route
from firmware.office_link.events import (
    LinkError,
    PairingEnded,
    PairingRequested,
    SessionClosed,
    SessionOpened,
)
from firmware.office_link.group_traces import LinkTracer, TracedGroup, traced_groups
from firmware.office_link.header import GroupError, MgmtErr, MgmtError, Op


class Sink:
    def __init__(self):
        self.now = 0.0
        self.traces: list[tuple[str, float, str]] = []

    def monotonic(self) -> float:
        return self.now

    def trace(self, operation: str, started: float, outcome: str) -> None:
        self.traces.append((operation, self.now - started, outcome))


class Group:
    group_id = 82

    def __init__(self, sink: Sink):
        self.sink = sink

    def routes(self):
        return [Route(0, Op.WRITE, self.batch), Route(1, Op.WRITE, self.chunk),
                Route(2, Op.WRITE, self.ranges)]

    def batch(self, request, ctx):
        self.sink.now += 0.25  # the handler takes 250 ms
        return {"n": 3}

    def chunk(self, request, ctx):
        self.sink.now += 0.5
        raise GroupError(82, 5, MgmtErr.EINVAL, "bad record")

    def ranges(self, request, ctx):
        raise MgmtError(MgmtErr.EINVAL, "ranges must be a list")


class Other:
    group_id = 85

    def routes(self):
        return []


def test_each_request_is_timed_with_its_outcome():
    sink = Sink()
    inner = Group(sink)
    [group, untouched] = traced_groups([inner, Other()], sink)
    assert isinstance(group, TracedGroup) and group.group_id == 82
    assert not isinstance(untouched, TracedGroup)  # group 85 is not traced
    batch, chunk, ranges = group.routes()
    assert batch.handler(None, None) == {"n": 3}  # the answer is passed through
    with pytest.raises(GroupError):
        chunk.handler(None, None)
    with pytest.raises(MgmtError):
        ranges.handler(None, None)
    assert sink.traces == [("link.load.batch", 0.25, "ok"),
                           ("link.load.chunk", 0.5, "group82.rc5"),
                           ("link.load.ranges", 0.0, "einval")]


def test_pairing_sessions_and_errors():
    sink = Sink()
    tracer = LinkTracer(sink)

    def at(t, action):
        sink.now = t
        tracer.observe(action)

    at(1.0, PairingRequested("123456", "Cabinet"))
    at(2.0, LinkError("smp.group80.rc1", "pairing pending"))  # the host polls: no error
    at(4.5, PairingEnded("paired", "Cabinet"))
    at(5.0, SessionOpened("Cabinet"))
    at(7.0, SessionClosed("ended"))
    at(10.0, SessionOpened("Cabinet"))
    at(70.0, SessionClosed("idle"))
    at(80.0, SessionOpened("Cabinet"))
    at(81.0, SessionOpened("Cabinet"))  # a new session replaces the open one
    at(82.0, LinkError("frame.bad_crc", "CRC mismatch"))
    at(90.0, PairingRequested("654321", "Autre PC"))
    at(150.0, PairingEnded("expired", "Autre PC"))
    assert sink.traces == [("link.pairing", 3.5, "ok"),
                           ("link.session", 2.0, "ok"),
                           ("link.session", 60.0, "idle"),
                           ("link.session", 1.0, "replaced"),
                           ("link.error", 0.0, "frame.bad_crc"),
                           ("link.pairing", 60.0, "expired")]
