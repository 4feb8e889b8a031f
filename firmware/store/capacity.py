"""Capacity accounting: how full the store is against its byte budget.

The budget (default 256 MiB) is split in two: loads (invoices, patients,
tariffs, opposition list) may use ``budget - reserve``; the ``reserve`` is kept
for what the unit produces in visit (signed FSEs, Vitale reads, traces), so a
signature in progress is never refused because the office loaded too much.
SQLite's ``max_page_count`` enforces the whole budget as a hard ceiling.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

MIB = 1024 * 1024
DEFAULT_BUDGET = 256 * MIB
WARN_FRACTION = 0.80
# Room kept for visit data: 2,000 FSEs of 4 KiB sealed, a few weeks of work.
DEFAULT_RESERVE = 8 * MIB
# Per-row overhead counted beyond the payload when checking a load (row
# header, key, metadata, index entry, page slack); bench/store.py measures it.
ROW_OVERHEAD = 256


@dataclass(frozen=True)
class Usage:
    used_bytes: int
    budget_bytes: int
    reserve_bytes: int
    invoices: int
    fses: int
    fses_unconfirmed: int

    @property
    def fraction(self) -> float:
        return self.used_bytes / self.budget_bytes

    @property
    def warning(self) -> bool:
        """True from 80 % of the budget: the screen and the office say so."""
        return self.fraction >= WARN_FRACTION

    @property
    def load_room_bytes(self) -> int:
        return max(0, self.budget_bytes - self.reserve_bytes - self.used_bytes)


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of pages in use (page_count minus the free list)."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return (pages - free) * page_size


def measure(conn: sqlite3.Connection, budget: int, reserve: int) -> Usage:
    invoices = conn.execute("SELECT count(*) FROM records WHERE kind = 'invoice'").fetchone()[0]
    fses, pending = conn.execute(
        "SELECT count(*), coalesce(sum(status != 'imported'), 0) FROM fses"
    ).fetchone()
    return Usage(used_bytes(conn), budget, reserve, invoices, fses, pending)
