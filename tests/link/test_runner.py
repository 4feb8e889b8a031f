"""LinkRunner (firmware/office_link/runner.py) with a fake port and a fake clock: line changes
reset the link, output never blocks and stays bounded, a host that stops reading or
goes silent is dropped, key presses reach the pairing."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from firmware.office_link.events import LinkError, PairingEnded, Send, SessionClosed
from firmware.office_link.framing import encode_packet
from firmware.office_link.runner import LinkRunner
from firmware.office_link.security import Identity, MemoryPairedHosts
from firmware.office_link.server import SMPServer
from firmware.parts import LineDown, LineUp, Received

from .helpers import FakeUnit, parse_reply, raw_request

ECHO = encode_packet(raw_request(2, 0, 0, {"d": "x" * 200}))


@dataclass
class FakePort:
    """Events to hand out, and a host that takes ``room`` bytes per write (None: all)."""

    incoming: list = field(default_factory=list)
    room: int | None = None
    taken: bytearray = field(default_factory=bytearray)
    polls: list[float] = field(default_factory=list)

    def poll(self, timeout: float) -> list:
        self.polls.append(timeout)
        events, self.incoming = self.incoming, []
        return events

    def write(self, data: bytes) -> int:
        n = len(data) if self.room is None else min(self.room, len(data))
        self.taken.extend(data[:n])
        return n

    def close(self) -> None:
        pass


class FakeServer:
    """Answers every chunk of bytes with a 100-byte Send; records link resets."""

    def __init__(self) -> None:
        self.resets: list[float] = []
        self.confirmed: list[float] = []

    def receive_data(self, data: bytes, now: float) -> list:
        return [Send(bytes([len(self.resets)]) * 100)]

    def tick(self, now: float) -> list:
        return []

    def confirm_pairing(self, now: float) -> list:
        self.confirmed.append(now)
        return [Send(b"ok"), PairingEnded("paired")]

    def reject_pairing(self, now: float) -> list:
        return []

    def link_reset(self, now: float) -> list:
        self.resets.append(now)
        return [SessionClosed("reset")]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(room=None, **options):
    port, server, clock, events = FakePort(room=room), FakeServer(), Clock(), []
    runner = LinkRunner(server, port, clock=clock, on_event=events.append, **options)
    return runner, port, server, clock, events


def test_output_is_written_in_order_across_partial_writes():
    runner, port, server, clock, _ = make(room=30)
    port.incoming = [Received(b"a"), Received(b"b")]
    runner.step(0.1)
    assert 0 < len(port.taken) < 200 and len(port.taken) + runner.pending_output == 200
    while runner.pending_output:
        runner.step(0.1)
    assert bytes(port.taken) == b"\x00" * 200
    assert max(port.polls[1:]) < 0.1  # with output waiting the runner does not sit in poll


@pytest.mark.parametrize("change", [LineUp(), LineDown()])
def test_a_line_change_resets_the_link_and_drops_unsent_output(change):
    runner, port, server, clock, events = make(room=0)
    port.incoming = [Received(b"a")]
    runner.step(0.1)
    assert runner.pending_output == 100
    clock.now = 1.0
    port.incoming = [change, Received(b"b")]  # the next host's first request
    runner.step(0.1)
    assert server.resets == [1.0] and events == [SessionClosed("reset")]
    assert runner.pending_output == 100  # only the new host's answer (reset count 1)
    port.room = None
    runner.step(0.1)
    assert bytes(port.taken) == b"\x01" * 100


def test_a_host_that_stops_reading_is_dropped_after_the_stall_timeout():
    runner, port, server, clock, events = make(room=0, stall_timeout_s=5.0)
    port.incoming = [Received(b"a")]
    runner.step(0.1)
    clock.now = 4.9
    runner.step(0.1)
    assert server.resets == [] and runner.pending_output == 100
    clock.now = 5.0
    runner.step(0.1)
    assert server.resets == [5.0] and runner.pending_output == 0
    assert events == [LinkError("link.stalled", "host took no output for 5 s"),
                      SessionClosed("reset")]


def test_a_slow_host_that_keeps_taking_bytes_is_not_dropped():
    runner, port, server, clock, _ = make(room=1, stall_timeout_s=5.0)
    port.incoming = [Received(b"a")]
    for t in range(1, 60):
        clock.now = float(t)
        runner.step(0.1)
    assert server.resets == [] and len(port.taken) == 60


def test_output_past_the_limit_drops_the_host():
    runner, port, server, clock, events = make(room=0, output_limit=250)
    port.incoming = [Received(b"a"), Received(b"b")]
    runner.step(0.1)
    assert server.resets == [] and runner.pending_output == 200
    port.incoming = [Received(b"c")]
    runner.step(0.1)
    assert server.resets == [0.0] and runner.pending_output == 0
    assert events[0] == LinkError("link.overflow", "more than 250 bytes unread")


def test_a_silent_host_is_reset_once_after_the_idle_timeout():
    runner, port, server, clock, _ = make(idle_timeout_s=30.0)
    port.incoming = [Received(b"a")]
    runner.step(0.1)
    clock.now = 29.9
    runner.step(0.1)
    assert server.resets == []
    for t in (30.0, 60.0, 90.0):
        clock.now = t
        runner.step(0.1)
    assert server.resets == [30.0]  # once, until the host speaks again
    port.incoming = [Received(b"b")]
    runner.step(0.1)
    clock.now = 120.0
    runner.step(0.1)
    assert server.resets == [30.0, 120.0]


def test_key_presses_go_to_the_pairing_and_their_output_out():
    runner, port, server, clock, events = make()
    clock.now = 3.0
    runner.press_valider()
    assert server.confirmed == [3.0] and bytes(port.taken) == b"ok"
    assert events == [PairingEnded("paired")]


def test_with_the_real_server_a_line_change_closes_the_session():
    """The server behind the runner is the real one: link_reset ends its session."""
    server = SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit())
    port, events = FakePort(), []
    runner = LinkRunner(server, port, clock=Clock(), on_event=events.append)
    port.incoming = [Received(ECHO)]
    runner.step(0.1)
    assert parse_reply(bytes(port.taken)).body == {"r": "x" * 200}
    port.incoming = [LineDown()]
    runner.step(0.1)  # no session was open: nothing to report, nothing breaks
    assert events == []
