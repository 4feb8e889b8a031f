"""The unit's wall clock (RTC), injected into :class:`~firmware.unit.unit.Unit`.

On the reference board a DS3231 driver implements :class:`UnitClock`; on the
simulated board and on a PC build :class:`OffsetClock` keeps an offset over a
base time source. The office sets the clock through the link (``set_clock``);
until then :meth:`UnitClock.now` raises :class:`ClockNotSet`, and the unit
refuses to sign (an FSE carries its signing time, docs/fse.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from firmware.errors import TlaError


class ClockNotSet(TlaError, RuntimeError):
    """The clock was never set by the office. A RuntimeError too: that is what
    the office link's UnitServices contract expects from ``clock_now``."""

    code = "clock_not_set"
    message_fr = "Heure non réglée"


class UnitClock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC. Raises ClockNotSet if never set."""
        ...

    def set(self, utc: datetime) -> None:
        """Set the clock; raises OSError if the RTC cannot be written."""
        ...


class OffsetClock:
    """A settable clock over ``base`` (seconds since 1970 UTC, default
    ``time.time``). ``offset=None`` means "never set".

    >>> c = OffsetClock(base=lambda: 0.0)
    >>> c.set(datetime(2026, 3, 10, 9, 30, tzinfo=UTC))
    >>> c.now().isoformat()
    '2026-03-10T09:30:00+00:00'
    """

    def __init__(self, base: Callable[[], float] = time.time, offset: float | None = None):
        self._base = base
        self._offset = offset

    @property
    def is_set(self) -> bool:
        return self._offset is not None

    def now(self) -> datetime:
        if self._offset is None:
            raise ClockNotSet("the unit's clock was never set")
        return datetime.fromtimestamp(self._base() + self._offset, UTC)

    def set(self, utc: datetime) -> None:
        if utc.tzinfo is None:
            raise ValueError("clock must be set with a timezone-aware time")
        self._offset = utc.timestamp() - self._base()
