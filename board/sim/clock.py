"""The simulated RTC: an :class:`~firmware.unit.OffsetClock` over the PC's clock
whose offset survives a restart (kept in ``path``, as the real DS3231 keeps time
on its coin cell). The twin of ``board/pi/rtc.py``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from firmware.office_link.security import write_atomically
from firmware.unit import OffsetClock


class SavedClock(OffsetClock):
    """Never set (or unreadable file): :meth:`now` raises ClockNotSet until the
    office sets it."""

    def __init__(self, path: Path):
        self.path = path
        offset = None
        try:
            offset = float(json.loads(path.read_text(encoding="utf-8"))["offset"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # never set (or unreadable): the office sets it again
        super().__init__(offset=offset)

    def set(self, utc: datetime) -> None:
        super().set(utc)
        write_atomically(self.path, json.dumps({"offset": self._offset}).encode())
