"""FSE numbering and lifecycle, mixed into :class:`~firmware.store.store.Store`.

Lifecycle (docs/store.md has the table)::

    number:  reserved --signed_fse--> used
             reserved --abandon / crash recovery--> skipped (reason recorded)
    FSE:     signed --offer--> offered --confirm_import(ack)--> imported
             imported --purge(now >= imported_at + retention)--> removed

The statuses and these tables are in lifecycle.py (NUMBER_TRANSITIONS,
FSE_TRANSITIONS); every status change goes through its ``settle_number`` or
``move_fse``.

Nothing signed is removed before the office confirmed a durable import.
Numbers come from office-allocated ranges; reserving one (cursor move + a
'reserved' row) is one transaction, using it (FSE row + 'used') another; a crash
between the two is found at the next start and recorded as a skip with the
reason ``interrupted_before_signature``: never reused, never silently lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from firmware.billing.fse import MAX_FSE_NUMBER
from firmware.loaded.ranges import RangeBook
from firmware.loaded.schema import FseRange, RecordError

from . import crypto
from .errors import (
    BadTransition,
    DuplicateRecord,
    FseRangeRefused,
    NoFseNumber,
    StoreUsageError,
    UnknownRecord,
)
from .lifecycle import (
    FseEvent,
    FseStatus,
    NumberEvent,
    NumberStatus,
    RecordStatus,
    move_fse,
    settle_number,
)
from .parts import StoreCore

log = logging.getLogger("opentla.store")

# the last number handed out to a professional (0 if none), for ``next > (...)``
_LAST_HANDED = "SELECT coalesce(max(number), 0) FROM fse_numbers WHERE professional_id = ?"
DEFAULT_RETENTION_DAYS = 90
FSE_COLUMNS = ("fse_id, professional_id, fse_number, invoice_id, status, signed_at, offered_at, "
               "imported_at, import_ack, size")


@dataclass(frozen=True)
class FseInfo:
    fse_id: str
    professional_id: str
    fse_number: int
    invoice_key: str | None  # the store key of the invoice it consumed (record_key), or None
    status: FseStatus
    signed_at: float
    offered_at: float | None
    imported_at: float | None
    import_ack: str | None
    size: int


@dataclass(frozen=True)
class NumberState:
    number: int
    range_id: str
    state: NumberStatus
    reason: str | None
    fse_id: str | None


def _fse_info(row: tuple) -> FseInfo:
    fse_id, professional_id, number, invoice_key, status, signed, offered, imported, ack, size = row
    return FseInfo(fse_id, professional_id, number, invoice_key, FseStatus(status), signed,
                   offered, imported, ack, size)


class FseMixin(StoreCore):
    """FSE numbering and lifecycle; relies on Store's _tx, _keys, _wall, _conn."""

    if TYPE_CHECKING:  # provided by RecordsMixin (records.py)
        def record_key(self, kind: str, record_id: str) -> str: ...

    # ---- numbering -------------------------------------------------------------
    def load_fse_range(self, range_id: str, professional_id: str, first: int, last: int) -> None:
        """Office allocates numbers ``first..last`` (inclusive) to a professional.

        The one numbering rule (docs/store.md §FSE numbers): a new range must start
        after every number already covered for that professional, by any range ever
        loaded, used up or not; otherwise :class:`FseRangeRefused`. Reloading the
        identical range (same id and bounds) is a no-op; the same id with other
        bounds is :class:`DuplicateRecord`."""
        from .records import check_id

        check_id(range_id, "range id")
        check_id(professional_id, "professional id")
        if not (isinstance(first, int) and isinstance(last, int) and 1 <= first <= last <= MAX_FSE_NUMBER):
            raise StoreUsageError(f"range must satisfy 1 <= first <= last <= {MAX_FSE_NUMBER}",
                                  code="store_bad_range")
        with self._tx() as c:
            same = c.execute("SELECT professional_id, first, last FROM fse_ranges WHERE range_id = ?",
                             (range_id,)).fetchone()
            if same is not None:
                if same == (professional_id, first, last):
                    return
                raise DuplicateRecord(f"range {range_id} exists with other bounds")
            book = RangeBook(FseRange(*row) for row in c.execute(
                "SELECT range_id, professional_id, first, last FROM fse_ranges "
                "WHERE professional_id = ?", (professional_id,)))
            try:  # the one range rule (firmware/loaded/ranges.py), also run by tla load
                book.add(FseRange(range_id, professional_id, first, last))
            except RecordError as exc:
                covered = book.covered(professional_id)
                raise FseRangeRefused(
                    f"range {range_id} ({first}..{last}) for {professional_id} must start after "
                    f"{covered}, the last FSE number already covered; ask for a range from "
                    f"{covered + 1}") from exc
            c.execute("INSERT INTO fse_ranges VALUES (?, ?, ?, ?, ?, ?)",
                      (range_id, professional_id, first, last, first, self._wall()))

    def fse_numbers_left(self, professional_id: str) -> int:
        row = self._conn.execute(
            f"SELECT coalesce(sum(last + 1 - next), 0) FROM fse_ranges WHERE professional_id = ? "
            f"AND next > ({_LAST_HANDED})", (professional_id, professional_id)).fetchone()
        return row[0]

    def next_fse_number(self, professional_id: str) -> int:
        """Reserve the next number for this professional (one transaction). The
        number is above every number handed out before: ranges loaded before the
        rule (schema 1-2 allowed a range below one in use) are never gone back to."""
        with self._tx(critical=True) as c:
            row = c.execute(f"SELECT range_id, next FROM fse_ranges WHERE professional_id = ? "
                            f"AND next <= last AND next > ({_LAST_HANDED}) ORDER BY first LIMIT 1",
                            (professional_id, professional_id)).fetchone()
            if row is None:
                raise NoFseNumber(f"no FSE number left for {professional_id}")
            range_id, number = row
            c.execute("UPDATE fse_ranges SET next = next + 1 WHERE range_id = ?", (range_id,))
            c.execute("INSERT INTO fse_numbers (professional_id, number, range_id, state, reserved_at) "
                      "VALUES (?, ?, ?, ?, ?)", (professional_id, number, range_id,
                                                 NumberStatus.RESERVED, self._wall()))
        return number

    def abandon_fse_number(self, professional_id: str, number: int, reason: str) -> None:
        """The signature did not happen (card pulled, patient refused...)."""
        from .records import check_code

        check_code(reason, "reason")
        with self._tx() as c:
            settle_number(c, professional_id, number, NumberEvent.ABANDON, self._wall(),
                          reason=reason)

    def numbering(self, professional_id: str) -> list[NumberState]:
        rows = self._conn.execute("SELECT number, range_id, state, reason, fse_id FROM fse_numbers "
                                  "WHERE professional_id = ? ORDER BY number", (professional_id,))
        return [NumberState(number, range_id, NumberStatus(state), reason, fse_id)
                for number, range_id, state, reason, fse_id in rows]

    def _recover(self) -> None:
        """At start: reservations left by a crash become recorded skips."""
        with self._tx() as c:
            left = c.execute("SELECT professional_id, number FROM fse_numbers WHERE state = ?",
                             (NumberStatus.RESERVED,)).fetchall()
            for professional_id, number in left:
                settle_number(c, professional_id, number, NumberEvent.RECOVER, self._wall(),
                              reason="interrupted_before_signature")
            n = len(left)
        if n:
            log.warning("store_recovered_skips count=%d", n)

    # ---- lifecycle ---------------------------------------------------------------
    def signed_fse(self, fse_id: str, professional_id: str, fse_number: int, cose: bytes,
                   invoice_id: str | None = None) -> FseInfo:
        """Commit a signed FSE (opaque COSE bytes), its number and its invoice
        in one transaction. Uses the reserve: never refused for lack of room
        unless the whole budget is gone."""
        from .records import check_id

        bundle = self._keys()
        check_id(fse_id, "FSE id")
        envelope = crypto.seal_with_record_key(bundle.record_key, "fse", fse_id, cose)
        with self._tx(critical=True) as c:
            if c.execute("SELECT 1 FROM fses WHERE fse_id = ?", (fse_id,)).fetchone():
                raise DuplicateRecord(f"FSE {fse_id} exists")
            settle_number(c, professional_id, fse_number, NumberEvent.SIGN, self._wall(),
                          fse_id=fse_id)
            invoice_key = None if invoice_id is None else self.record_key("invoice", invoice_id)
            if invoice_key is not None:
                done = c.execute("UPDATE records SET status = ?, updated_at = ? WHERE kind = "
                                 "'invoice' AND record_id = ? AND status = ?",
                                 (RecordStatus.USED, self._wall(), invoice_key,
                                  RecordStatus.LOADED)).rowcount
                if done != 1:
                    raise BadTransition(f"invoice {invoice_id} is not a loaded invoice")
            c.execute("INSERT INTO fses (fse_id, professional_id, fse_number, invoice_id, status, "
                      "signed_at, size, blob) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (fse_id, professional_id, fse_number, invoice_key, FseStatus.SIGNED,
                       self._wall(),
                       len(envelope), envelope))
        log.info("fse_signed id=%s number=%d", fse_id, fse_number)
        return self.fse_info(fse_id)

    def offer(self, fse_id: str) -> FseInfo:
        """The FSE was sent to the office (it may be offered again)."""
        with self._tx() as c:
            move_fse(c, fse_id, FseEvent.OFFER, self._wall())
        return self.fse_info(fse_id)

    def confirm_import(self, fse_id: str, ack_id: str) -> FseInfo:
        """The office durably imported the FSE; ``ack_id`` is its receipt.
        Repeating the same confirmation is harmless; another ack is refused."""
        from .records import check_id

        check_id(ack_id, "ack id")
        with self._tx() as c:
            row = c.execute("SELECT status, import_ack FROM fses WHERE fse_id = ?", (fse_id,)).fetchone()
            if row == (FseStatus.IMPORTED, ack_id):
                return self.fse_info(fse_id)
            move_fse(c, fse_id, FseEvent.CONFIRM_IMPORT, self._wall(), ack=ack_id)
        log.info("fse_imported id=%s", fse_id)
        return self.fse_info(fse_id)

    def retention_days(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'retention_days'").fetchone()
        return DEFAULT_RETENTION_DAYS if row is None else int(row[0])

    def set_retention_days(self, days: int) -> None:
        if not isinstance(days, int) or not 0 <= days <= 3650:
            raise StoreUsageError("retention must be 0..3650 days", code="store_bad_retention")
        with self._tx() as c:
            c.execute("INSERT INTO meta VALUES ('retention_days', ?) ON CONFLICT (key) "
                      "DO UPDATE SET value = excluded.value", (days,))

    def purge(self, now: float) -> int:
        """Remove imported FSEs older than the retention (and their invoices).
        Returns how many FSEs went. Their numbers stay recorded as used."""
        cutoff = now - self.retention_days() * 86400.0
        with self._tx() as c:
            rows = c.execute("SELECT fse_id FROM fses WHERE status = ? AND imported_at <= ?",
                             (FseStatus.IMPORTED, cutoff)).fetchall()
            for (fse_id,) in rows:
                move_fse(c, fse_id, FseEvent.PURGE, self._wall())
        if rows:
            log.info("fse_purged count=%d", len(rows))
        return len(rows)

    # ---- reading -----------------------------------------------------------------
    def fse_info(self, fse_id: str) -> FseInfo:
        row = self._conn.execute(f"SELECT {FSE_COLUMNS} FROM fses WHERE fse_id = ?",
                                 (fse_id,)).fetchone()
        if row is None:
            raise UnknownRecord(f"no FSE {fse_id}")
        return _fse_info(row)

    def list_fses(self, status: str | None = None) -> list[FseInfo]:
        sql = f"SELECT {FSE_COLUMNS} FROM fses"
        args: tuple = ()
        if status is not None:
            sql += " WHERE status = ?"
            args = (status,)
        return [_fse_info(row) for row in self._conn.execute(sql + " ORDER BY signed_at, fse_id", args)]

    def get_fse(self, fse_id: str) -> bytes:
        """The COSE bytes (store must be unlocked)."""
        bundle = self._keys()
        return crypto.open_record(bundle, "fse", fse_id, self.sealed_fse(fse_id))

    def sealed_fse(self, fse_id: str) -> bytes:
        """The sealed envelope, for unloading to the office without the CPS
        (the office opens it with :meth:`office_wrap` and its private key)."""
        row = self._conn.execute("SELECT blob FROM fses WHERE fse_id = ?", (fse_id,)).fetchone()
        if row is None:
            raise UnknownRecord(f"no FSE {fse_id}")
        return row[0]

    def fse_ranges(self) -> list[tuple[str, str, int, int]]:
        """Every loaded range as (range_id, professional_id, first, last); metadata
        only, works while locked (the load group checks new ranges against them)."""
        rows = self._conn.execute("SELECT range_id, professional_id, first, last FROM fse_ranges "
                                  "ORDER BY professional_id, first")
        return [(r[0], r[1], r[2], r[3]) for r in rows]
