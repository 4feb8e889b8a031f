"""The two LinkPort drivers: the simulator's pty (board/sim/link_port.py) and the Pi's
pyserial port (board/pi/link_port.py, over loop:// and over a pty), and a host that
sends and never reads against the whole unit loop."""

from __future__ import annotations

import os
import tty

import serial

from board.pi.link_port import SerialLinkPort
from board.sim.link_port import PtyLinkPort
from firmware.office_link.framing import FrameDecoder, Packet, encode_packet
from firmware.office_link.security import Identity, MemoryPairedHosts
from firmware.office_link.server import SMPServer
from firmware.parts import LineDown, LineUp, Received

from .helpers import FakeUnit, raw_request
from .pty_unit import PtyUnit


def received(events) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Received))


def poll_until(port, wanted, rounds: int = 1000) -> list:
    """Poll until an event of type ``wanted`` shows (bounded number of rounds)."""
    seen: list = []
    for _ in range(rounds):
        seen += port.poll(0.01)
        if any(isinstance(e, wanted) for e in seen):
            return seen
    raise AssertionError(f"no {wanted.__name__} in {seen}")


# ---- the pty ------------------------------------------------------------------------
def test_pty_port_sees_the_host_open_write_and_close():
    with PtyLinkPort() as port:
        assert port.poll(0.01) == []  # nobody on the line yet
        host = os.open(port.path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(host)
        os.write(host, b"hello")
        events = poll_until(port, Received)
        assert events[0] == LineUp() and received(events) == b"hello"
        assert port.write(b"back") == 4 and os.read(host, 4) == b"back"
        os.close(host)
        assert poll_until(port, LineDown)[-1] == LineDown()
        again = os.open(port.path, os.O_RDWR | os.O_NOCTTY)  # a second host, same path
        os.write(again, b"x")
        assert poll_until(port, Received)[0] == LineUp()
        os.close(again)


def test_pty_port_takes_all_the_line_holds_in_one_poll():
    """A pty hands over 4 KiB a read: one poll still takes everything waiting (a 32 KiB
    upload frame in one or two link rounds, not eleven)."""
    with PtyLinkPort() as port:
        host = os.open(port.path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(host)
        try:
            data = os.urandom(11_000)  # what a pty holds unread, about
            assert os.write(host, data) == len(data)
            first = poll_until(port, Received)
            assert [e for e in first if isinstance(e, Received)] == [Received(data)]
        finally:
            os.close(host)


def test_pty_port_write_never_blocks_when_the_host_does_not_read():
    with PtyLinkPort() as port:
        host = os.open(port.path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(host)
        try:
            chunk, taken = b"z" * 4096, []
            for _ in range(1000):  # far more than any pty buffer
                taken.append(port.write(chunk))
                if taken[-1] == 0:
                    break
            # The kernel may still move bytes to the line discipline after a short
            # write, so a few more partial writes can succeed; but the buffer is
            # finite: writes come back with nothing taken instead of blocking.
            assert taken[-1] == 0  # the pty is full: the call returned, nothing taken
        finally:
            os.close(host)


def test_a_host_that_sends_and_never_reads_does_not_freeze_the_unit():
    """Issue 9 defect 4: with replies piling up unread, work handed to the unit's
    thread is still run (the link's writes no longer block that thread)."""
    server = SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit())
    with PtyUnit(server, stall_timeout_s=3600.0) as unit:
        host = os.open(unit.path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(host)
        try:
            echo = encode_packet(raw_request(2, 0, 0, {"d": "é" * 700}))
            for _ in range(200):  # ~300 KB of replies asked for, none read
                os.write(host, echo)
            pending = 0
            for _ in range(500):  # each call runs between two link rounds
                pending = unit.call(lambda: unit.runner.pending_output)
                if pending > 0:
                    break
            assert pending > 0  # replies are waiting for a host that does not read...
            assert unit.call(lambda: "keypad handled") == "keypad handled"  # ...and the unit works
        finally:
            os.close(host)


# ---- pyserial -------------------------------------------------------------------------
def test_serial_port_over_loop_url_reports_line_up_then_bytes():
    port = SerialLinkPort("loop://")
    try:
        assert port.poll(0.01) == [LineUp()]
        assert port.write(b"ping") == 4  # loop:// sends our bytes back to us
        assert received(poll_until(port, Received)) == b"ping"
    finally:
        port.close()


class Lines:
    """A pyserial loop:// port whose DSR line the test moves."""

    def __init__(self) -> None:
        self.inner = serial.serial_for_url("loop://", timeout=0)
        self.dsr = False

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_serial_port_follows_the_dsr_line():
    lines = Lines()
    port = SerialLinkPort(serial_port=lines, line_signal="dsr")
    assert port.poll(0.01) == []
    lines.dsr = True
    assert port.poll(0.01) == [LineUp()]
    lines.dsr = False
    assert port.poll(0.01) == [LineDown()]
    port.close()


def test_serial_port_over_a_pty_serves_an_echo_and_never_blocks():
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)
    keep = os.open(path, os.O_RDWR | os.O_NOCTTY)  # the slave stays open: no hang-up
    try:
        # the unit is the pyserial side (as on the Pi); the test is the host on the master
        port = SerialLinkPort(path)
        server = SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit())
        os.write(master, encode_packet(raw_request(2, 0, 0, {"d": "salut"})))
        events = poll_until(port, Received)
        assert events[0] == LineUp()
        [send] = server.receive_data(received(events), 0.0)
        assert port.write(send.data) == len(send.data)
        [reply] = FrameDecoder().feed(os.read(master, 4096))
        assert isinstance(reply, Packet) and reply.data.endswith(b"\xa1aresalut")
        written = [port.write(b"z" * 4096) for _ in range(1000)]
        assert 0 in written or min(written) < 4096  # the host never read: writes returned short
        port.close()
    finally:
        os.close(keep)
        os.close(master)


class Flaky:
    """A loop:// port whose reads fail once (the adapter pulled), then work again."""

    def __init__(self) -> None:
        self.inner = serial.serial_for_url("loop://", timeout=0)
        self.broken = False
        self.reopened = 0

    @property
    def in_waiting(self):
        if self.broken:
            raise serial.SerialException("device reports readiness to read but returned no data")
        return self.inner.in_waiting

    def open(self):
        self.inner.open()
        self.broken = False
        self.reopened += 1

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_serial_port_goes_down_on_an_io_error_and_comes_back():
    flaky = Flaky()
    port = SerialLinkPort(serial_port=flaky)
    assert port.poll(0.01) == [LineUp()]
    flaky.broken = True
    assert port.poll(0.01) == [LineDown()]
    assert port.write(b"x") == 0  # nothing goes out while the port is down
    assert port.poll(0.01) == [LineUp()] and flaky.reopened == 1
    assert port.write(b"back") == 4 and received(poll_until(port, Received)) == b"back"
