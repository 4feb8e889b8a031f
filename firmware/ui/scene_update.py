"""The "Mise à jour" screen: a person at the unit opens the update mode (docs/update.md
§Access), in which any host on the link may use the image group (SMP group 1) for
10 minutes; Annuler (or leaving the screen: the unit locked) closes it. The bundle's signature still decides what installs."""

from __future__ import annotations

from firmware.parts import Key

from .events import Tick
from .machine import STAY, Scene, Ui, key_of
from .view import View, view


class Update(Scene):
    name = "update"

    def enter(self, ui: Ui) -> str | None:
        mode = ui.update_mode
        if mode is None:  # no update service on this unit: nothing to open
            return "back"
        mode.open()
        return None

    def exit(self, ui: Ui) -> None:
        if ui.update_mode is not None:  # leaving the screen (Annuler, lock) ends the mode
            ui.update_mode.close()

    def event(self, ui: Ui, ev) -> str | None:
        mode = ui.update_mode
        if key_of(ev) == Key.ANNULER:
            if mode is not None:
                mode.close()
            return "back"
        if isinstance(ev, Tick) and (mode is None or not mode.active()):
            return "back"  # timed out, or the update was handed to the reset
        return STAY if key_of(ev) is not None else None

    def view(self, ui: Ui) -> View:
        mode = ui.update_mode
        left = int(mode.left_s()) if mode is not None else 0
        return view("Mise à jour", "Ouverte au PC :", "envoyez la mise à jour",
                    f"Reste {left // 60}:{left % 60:02d}", "Annuler : fermer")
