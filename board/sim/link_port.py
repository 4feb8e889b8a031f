"""The simulated unit's link port: a pseudo-terminal the office tools open like a USB port.

:class:`PtyLinkPort` is a :class:`firmware.parts.LinkPort`. ``os.openpty()`` gives a
master/slave pair; the unit reads and writes the master, the office PC opens the slave
path (``/dev/pts/N``) with pyserial, smpclient or smpmgr exactly as it would open
``/dev/ttyACM0``.

Line up and down: the port does not keep the slave open itself, so Linux reports
``POLLHUP`` on the master whenever no program has the slave open, and stops reporting
it when one opens it (the pty lives as long as the master is open, and its path can be
reopened). The port turns those changes into :class:`~firmware.parts.LineUp` and
:class:`~firmware.parts.LineDown`, as DTR would on a real USB port. A host that closes
and reopens between two polls (a few ms) is not seen; the runner's idle timeout and the
per-request session MAC (``firmware/office_link/mac.py``) cover that case: a new host never
holds the old session's key.

Writes never block: the master is non-blocking and :meth:`PtyLinkPort.write` returns
how much the pty took (0 when the host does not read and the pty buffer is full).
"""

from __future__ import annotations

import errno
import os
import select
import time
import tty

from firmware.parts import LineDown, LineUp, LinkEvent, Received

READ_SIZE = 1 << 16  # bytes taken from the line in one poll, at most


class PtyLinkPort:
    """A :class:`firmware.parts.LinkPort` on a fresh pty; ``path`` is what hosts open.

    ``PtyLinkPort(device)`` opens an existing character device instead (under QEMU the
    virtio serial port ``/dev/virtio-ports/opentla.link``, docs/image.md): the host
    is on the other side of it, and the device reports ``POLLHUP`` while no host
    holds that side open, as the pty does."""

    def __init__(self, device: str | None = None) -> None:
        if device is None:
            self.master, slave = os.openpty()
            tty.setraw(slave)  # no echo, no newline translation: a plain byte pipe
            self.path = os.ttyname(slave)
            os.close(slave)  # see the module docstring: the host's open and close show
        else:
            self.master = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            self.path = device
            if os.isatty(self.master):
                tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self._poller = select.poll()
        self._poller.register(self.master, select.POLLIN | select.POLLHUP | select.POLLERR)
        self._up = False

    def poll(self, timeout: float) -> list[LinkEvent]:
        if self.master < 0:
            time.sleep(timeout)
            return []
        ready = self._poller.poll(max(timeout, 0.0) * 1000)
        flags = 0
        for _, mask in ready:
            flags |= mask
        if flags & (select.POLLHUP | select.POLLERR):
            if self._up:
                self._up = False
                return [LineDown()]
            time.sleep(timeout)  # no host: the hang-up stays reported, so wait here
            return []
        events: list[LinkEvent] = []
        if not self._up:
            self._up = True
            events.append(LineUp())
        if flags & select.POLLIN:
            try:
                data = self._read_all()
            except OSError as exc:  # EIO: the host closed the slave meanwhile
                if exc.errno != errno.EIO:
                    raise
                self._up = False
                return [*events, LineDown()] if events else [LineDown()]
            if data:
                events.append(Received(data))
        return events

    def _read_all(self) -> bytes:
        """What the line holds now, up to ``READ_SIZE`` bytes. A pty hands over at most
        4 KiB a read and refills as soon as it is read: reading on until it has
        nothing takes a 32 KiB frame in one or two polls instead of eleven."""
        pieces: list[bytes] = []
        total = 0
        while total < READ_SIZE:
            try:
                piece = os.read(self.master, READ_SIZE - total)
            except BlockingIOError:
                break
            if not piece:
                break
            pieces.append(piece)
            total += len(piece)
        return b"".join(pieces)

    def write(self, data: bytes) -> int:
        if self.master < 0 or not data:
            return 0
        try:
            return os.write(self.master, data)
        except BlockingIOError:
            return 0  # the host is not reading and the pty buffer is full
        except OSError as exc:
            if exc.errno == errno.EIO:  # nobody on the line: the runner hears LineDown
                return 0
            raise

    def close(self) -> None:
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def __enter__(self) -> PtyLinkPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

