"""How amounts, times and names are written on the screen."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

try:
    PARIS: ZoneInfo | None = ZoneInfo("Europe/Paris")
except ZoneInfoNotFoundError:  # no tz database on this system: show UTC rather than nothing
    PARIS = None


def euros(cents: int | None) -> str:
    """4732 -> '47,32 €' (None: '--')."""
    if cents is None:
        return "--"
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100},{cents % 100:02d} €"


def local(dt: datetime) -> datetime:
    """The unit's clock is UTC; the screen shows French local time."""
    return dt.astimezone(PARIS) if PARIS is not None else dt


def local_time(dt: datetime) -> str:
    return f"{local(dt):%H:%M}"


def clip(text: str, width: int = 21) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
