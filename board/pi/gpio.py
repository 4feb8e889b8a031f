"""The card slots' control lines (CMDVCCN, RSTIN, OFFN, IO_SELECT) on gpiozero,
in the small interface :class:`board.pi.card_slot.PiCardSlot` uses. gpiozero's
pin factory picks the backend: lgpio on the Pi, ``GPIOZERO_PIN_FACTORY=mock``
(gpiozero's MockFactory) without hardware."""

from __future__ import annotations

import threading
from typing import Any


class GpiozeroLines:
    """Raw levels (True = high) by BCM pin number; each pin set up once. Each input
    also counts its edges from its interrupt (gpiozero's edge callbacks, run on the
    backend's thread), so a pulse shorter than the time between two reads is not
    lost: :meth:`edges`."""

    def __init__(self) -> None:
        self._outputs: dict[int, Any] = {}
        self._inputs: dict[int, Any] = {}
        self._edges: dict[int, int] = {}
        self._lock = threading.Lock()

    def setup_output(self, pin: int, level: bool) -> None:
        from gpiozero import DigitalOutputDevice  # lazily: board/pi only

        if pin not in self._outputs:
            self._outputs[pin] = DigitalOutputDevice(pin, initial_value=level)
        self.write(pin, level)

    def setup_input(self, pin: int) -> None:
        from gpiozero import DigitalInputDevice

        if pin not in self._inputs:
            device = DigitalInputDevice(pin, pull_up=True)
            self._edges[pin] = 0

            def edge() -> None:
                with self._lock:
                    self._edges[pin] += 1
            device.when_activated = edge
            device.when_deactivated = edge
            self._inputs[pin] = device

    def edges(self, pin: int) -> int:
        """Edges seen on input ``pin`` since the last call."""
        with self._lock:
            count, self._edges[pin] = self._edges[pin], 0
        return count

    def write(self, pin: int, level: bool) -> None:
        self._outputs[pin].value = level

    def read(self, pin: int) -> bool:
        return bool(self._inputs[pin].pin.state)  # the raw level, not "active"

    def close(self) -> None:
        for device in (*self._outputs.values(), *self._inputs.values()):
            device.close()
        self._outputs.clear()
        self._inputs.clear()
