"""The keypad-and-screen interface (sans-I/O; docs/ui.md).

    ui = Ui(terminal)                 # firmware.visit.Terminal of the unit
    effects = ui.handle(event)        # KeyEvent, CardInserted, Tick, JobDone...
    image = ui.render()               # 128x64 mode "1" PIL image for the display

Effects: RunJob (run it off the UI path, post ``run_job(effect)`` back), Sound,
AnswerPairing. The screen map: firmware/ui/screen_map.py. On the unit, the main
loop (firmware/app.py) hosts it with firmware/ui/host.py.
"""

# firmware.parts imports firmware.unit, which imports firmware.parts: loading
# firmware.unit first breaks the cycle for whoever imports the UI first.
import firmware.unit  # noqa: F401

from .machine import Ui

__all__ = ["Ui"]
