"""The card slots' control lines (CMDVCCN, RSTIN, OFFN, IO_SELECT) on gpiozero,
in the small interface :class:`board.pi.card_slot.PiCardSlot` uses. gpiozero's
pin factory picks the backend: lgpio on the Pi, ``GPIOZERO_PIN_FACTORY=mock``
(gpiozero's MockFactory) without hardware."""

from __future__ import annotations

from typing import Any


class GpiozeroLines:
    """Raw levels (True = high) by BCM pin number; each pin set up once."""

    def __init__(self) -> None:
        self._outputs: dict[int, Any] = {}
        self._inputs: dict[int, Any] = {}

    def setup_output(self, pin: int, level: bool) -> None:
        from gpiozero import DigitalOutputDevice  # lazily: board/pi only

        if pin not in self._outputs:
            self._outputs[pin] = DigitalOutputDevice(pin, initial_value=level)
        self.write(pin, level)

    def setup_input(self, pin: int) -> None:
        from gpiozero import DigitalInputDevice

        if pin not in self._inputs:
            self._inputs[pin] = DigitalInputDevice(pin, pull_up=True)

    def write(self, pin: int, level: bool) -> None:
        self._outputs[pin].value = level

    def read(self, pin: int) -> bool:
        return bool(self._inputs[pin].pin.state)  # the raw level, not "active"

    def close(self) -> None:
        for device in (*self._outputs.values(), *self._inputs.values()):
            device.close()
        self._outputs.clear()
        self._inputs.clear()
