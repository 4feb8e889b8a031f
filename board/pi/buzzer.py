"""The buzzer (an active buzzer on a GPIO through a transistor, docs/board.md
§Wiring) on gpiozero, as a :class:`firmware.parts.Buzzer`. Beeps run in
gpiozero's background thread: :meth:`GpioBuzzer.beep` never blocks the unit."""

from __future__ import annotations

from firmware.parts import Beep

from .config import BUZZER_PIN

# (on seconds, off seconds, count) of each beep
PATTERNS: dict[Beep, tuple[float, float, int]] = {
    Beep.KEY: (0.02, 0.0, 1),
    Beep.DONE: (0.08, 0.06, 2),
    Beep.ERROR: (0.25, 0.1, 3),
}


class GpioBuzzer:
    def __init__(self, pin: int = BUZZER_PIN):
        from gpiozero import Buzzer  # lazily: board/pi only

        self.device = Buzzer(pin)

    def beep(self, kind: Beep) -> None:
        on, off, count = PATTERNS[kind]
        self.device.beep(on_time=on, off_time=off, n=count, background=True)

    def close(self) -> None:
        self.device.close()
