"""The firmware on the simulated board: :class:`SimUnit` (``tla-unit sim``, the demo)
and its command language (:mod:`firmware.sim.commands`, docs/demo.md)."""

from .unit import SLOTS, SimUnit, SimUnitError

__all__ = ["SLOTS", "SimUnit", "SimUnitError"]
