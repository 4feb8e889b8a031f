"""What the link needs from the rest of the unit: a small interface, injected.

The SMP handlers never reach into the store, the clock driver or the billing core
directly; they call a :class:`UnitServices` object. The application wires the real
one; tests use a fake. Data groups (load, unload, FSE, traces) will add their own
small protocols the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class UnitInfo:
    """What the office sees of a unit (group 81, command 0)."""

    serial: str
    firmware: str
    seal: str  # hex fingerprint of the running firmware (scellement)
    battery_percent: int | None  # None: no gauge (PC build)
    storage_used: int  # bytes
    storage_total: int  # bytes
    locked: bool  # True until a CPS and its PIN unlock the unit
    board: str | None = None  # board kind the unit runs on (sim, pi, pc); None: not said


class UnitServices(Protocol):
    def unit_info(self) -> UnitInfo:
        """Current facts about the unit."""
        ...

    def clock_now(self) -> datetime:
        """The unit's clock, timezone-aware UTC; raise RuntimeError if it was never set."""
        ...

    def set_clock(self, utc: datetime) -> None:
        """Set the unit's clock (RTC); raise OSError if the clock cannot be written."""
        ...
