"""The Pi's office link port: pyserial on the USB gadget's ``/dev/ttyGS0`` or the
UART header, as a :class:`firmware.parts.LinkPort`.

TEMP stand-in (replaced by the link branch at merge): the smallest working version.
"""

from __future__ import annotations

import select
import time
from typing import Any

from firmware.parts import LinkEvent, Received


class SerialLinkPort:
    """``url`` is anything ``serial.serial_for_url`` opens (a device path, ``loop://``)."""

    def __init__(self, url: str, *, baudrate: int = 115200):
        import serial  # lazy: pyserial only where a serial link is used

        self.url = url
        self._serial: Any = serial.serial_for_url(url, baudrate=baudrate, timeout=0,
                                                  write_timeout=1)

    def poll(self, timeout: float) -> list[LinkEvent]:
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            waiting = self._serial.in_waiting
            if waiting:
                return [Received(bytes(self._serial.read(waiting)))]
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            try:
                select.select([self._serial.fileno()], [], [], left)
            except (AttributeError, OSError, ValueError, TypeError):  # loop://: no fd
                time.sleep(min(left, 0.005))

    def write(self, data: bytes) -> int:
        return int(self._serial.write(data) or 0)

    def close(self) -> None:
        self._serial.close()
