"""The Pi's office link: a :class:`firmware.parts.LinkPort` on pyserial.

By default the USB CDC-ACM gadget ``/dev/ttyGS0`` (the Pi Zero's USB port seen by the
office PC as ``/dev/ttyACM0`` or ``COM3``); the UART header (``/dev/serial0``) or any
pyserial URL (``loop://`` in tests) works the same.

Writes never block: on a port with a file descriptor (a tty) the bytes go through one
non-blocking ``os.write`` on pyserial's own descriptor, which pyserial opened with
``O_NONBLOCK`` (pyserial's ``write`` with ``write_timeout=0`` spins until everything is
written, so it is not used); a port without one (a URL handler such as ``loop://``)
is a memory queue that never blocks.

Line up and down: with ``line_signal="dsr"`` or ``"cd"`` the port follows that modem
line (a UART with DTR wired to DSR/DCD, or a USB-serial bridge that reports it). The
gadget's ``ttyGS0`` has no modem lines Linux exposes to the gadget side, so by default
(``line_signal=None``) the line is up once the port is open and goes down only on an
I/O error (gadget unbound, cable pulled on a bridge), after which each poll tries to
reopen the port; the link runner's idle timeout and the per-request session MAC cover
a host that leaves without a sign.
"""

from __future__ import annotations

import os
import select
import time
from typing import Any

from firmware.parts import LineDown, LineUp, LinkEvent, Received

DEFAULT_PORT = "/dev/ttyGS0"
READ_SIZE = 4096
SLICE_S = 0.005  # poll granularity on ports without a file descriptor


class SerialLinkPort:
    """``SerialLinkPort(url=DEFAULT_PORT, *, baudrate=115200, line_signal=None)``;
    ``serial_port`` gives an already made pyserial object instead (tests)."""

    def __init__(self, url: str = DEFAULT_PORT, *, baudrate: int = 115200,
                 line_signal: str | None = None, serial_port: Any = None) -> None:
        if line_signal not in (None, "dsr", "cd"):
            raise ValueError(f"line_signal must be None, 'dsr' or 'cd', not {line_signal!r}")
        if serial_port is None:
            import serial  # pyserial: board code only

            serial_port = serial.serial_for_url(url, baudrate=baudrate, timeout=0)
        self._serial = serial_port
        self.line_signal = line_signal
        self._fd = _fileno(serial_port)
        self._up = False
        self._failed = False

    # ---- LinkPort -------------------------------------------------------------------
    def poll(self, timeout: float) -> list[LinkEvent]:
        if (self._failed or not self._serial.is_open) and not self._reopen():
            time.sleep(timeout)
            return []
        events: list[LinkEvent] = []
        try:
            self._line_events(events)
            data = self._read(timeout)
        except OSError:  # serial.SerialException is an OSError: the port went away
            self._fail(events)
            return events
        if data:
            events.append(Received(data))
        return events

    def write(self, data: bytes) -> int:
        if self._failed or not data:
            return 0
        try:
            if self._fd is not None:
                return os.write(self._fd, data)
            written = self._serial.write(data)
            return len(data) if written is None else int(written)
        except BlockingIOError:
            return 0  # the host is not reading: the output buffer is full
        except OSError:
            self._failed = True  # poll reports LineDown next
            return 0

    def close(self) -> None:
        self._serial.close()

    # ---- inside -----------------------------------------------------------------------
    def _line_events(self, events: list[LinkEvent]) -> None:
        up = True if self.line_signal is None else bool(getattr(self._serial, self.line_signal))
        if up != self._up:
            self._up = up
            events.append(LineUp() if up else LineDown())

    def _read(self, timeout: float) -> bytes:
        if self._fd is not None:
            ready, _, _ = select.select([self._fd], [], [], max(timeout, 0.0))
            if not ready:
                return b""
            return bytes(self._serial.read(max(self._serial.in_waiting, 1)))
        deadline = time.monotonic() + timeout
        while not self._serial.in_waiting and time.monotonic() < deadline:
            time.sleep(min(SLICE_S, timeout))
        waiting = self._serial.in_waiting
        return bytes(self._serial.read(min(waiting, READ_SIZE))) if waiting else b""

    def _reopen(self) -> bool:
        """After an I/O error (gadget unbound, adapter pulled): try the port again."""
        try:
            self._serial.close()
            self._serial.open()
        except OSError:
            return False
        self._fd, self._failed = _fileno(self._serial), False
        return True

    def _fail(self, events: list[LinkEvent]) -> None:
        self._failed = True
        if self._up:
            self._up = False
            events.append(LineDown())


def _fileno(serial_port: Any) -> int | None:
    try:
        return int(serial_port.fileno())
    except (AttributeError, OSError, ValueError, TypeError):
        return None
