"""The store's statuses and the transition tables of FSE numbers and FSEs.

Shaped after h11's ``_state.py``: each table maps (status, event) to the next
status and names the handler that writes the move's other columns; one function
per table applies a move (``move_fse``, ``settle_number``), so the status column
changes in one place. A pair that is not in a table is refused with
:class:`~.errors.BadTransition` (the caller's error, nothing written); an FSE's
end is ``REMOVED`` (purged, its row deleted) and a number's ends are ``USED`` and
``SKIPPED``: no event leaves them. docs/store.md §FSE lifecycle is the table in
prose.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from .errors import BadTransition, UnknownRecord


class FseStatus(StrEnum):
    SIGNED = "signed"
    OFFERED = "offered"
    IMPORTED = "imported"
    REMOVED = "removed"  # purged: the row is gone (never stored)


class NumberStatus(StrEnum):
    RESERVED = "reserved"
    USED = "used"
    SKIPPED = "skipped"


class RecordStatus(StrEnum):
    LOADED = "loaded"  # office data, may be reloaded or withdrawn
    USED = "used"  # an invoice a signed FSE consumed; goes with that FSE's purge
    NEW = "new"  # a Vitale read made in visit, until the office unloads it


class FseEvent(Enum):
    OFFER = "offer"
    CONFIRM_IMPORT = "confirm_import"
    PURGE = "purge"


class NumberEvent(Enum):
    SIGN = "sign"  # signed_fse: an FSE carries the number
    ABANDON = "abandon"  # abandon_fse_number: card pulled, patient refused...
    RECOVER = "recover"  # Store.open found the reservation of a crashed visit


# ---- FSEs ----------------------------------------------------------------------------
FseHandler = Callable[[sqlite3.Connection, str, float, dict[str, Any]], None]


def _offered(c: sqlite3.Connection, fse_id: str, now: float, args: dict[str, Any]) -> None:
    c.execute("UPDATE fses SET offered_at = ? WHERE fse_id = ?", (now, fse_id))


def _imported(c: sqlite3.Connection, fse_id: str, now: float, args: dict[str, Any]) -> None:
    c.execute("UPDATE fses SET imported_at = ?, import_ack = ? WHERE fse_id = ?",
              (now, args["ack"], fse_id))


def _purged(c: sqlite3.Connection, fse_id: str, now: float, args: dict[str, Any]) -> None:
    """The FSE goes with the invoice it consumed; its number stays recorded as used."""
    (invoice_key,) = c.execute("SELECT invoice_id FROM fses WHERE fse_id = ?", (fse_id,)).fetchone()
    c.execute("DELETE FROM fses WHERE fse_id = ?", (fse_id,))
    if invoice_key is not None:
        c.execute("DELETE FROM records WHERE kind = 'invoice' AND record_id = ? AND status = ?",
                  (invoice_key, RecordStatus.USED))


@dataclass(frozen=True)
class FseMove:
    to: FseStatus
    handler: FseHandler


F = FseStatus
FSE_TRANSITIONS: dict[tuple[FseStatus, FseEvent], FseMove] = {
    (F.SIGNED, FseEvent.OFFER): FseMove(F.OFFERED, _offered),
    (F.OFFERED, FseEvent.OFFER): FseMove(F.OFFERED, _offered),  # cable pulled mid-unload
    (F.OFFERED, FseEvent.CONFIRM_IMPORT): FseMove(F.IMPORTED, _imported),
    (F.IMPORTED, FseEvent.PURGE): FseMove(F.REMOVED, _purged),  # after the retention
}


def move_fse(c: sqlite3.Connection, fse_id: str, event: FseEvent, now: float,
             **args: Any) -> FseStatus:
    """Apply ``event`` to the FSE (inside the caller's transaction)."""
    row = c.execute("SELECT status FROM fses WHERE fse_id = ?", (fse_id,)).fetchone()
    if row is None:
        raise UnknownRecord(f"no FSE {fse_id}")
    move = FSE_TRANSITIONS.get((FseStatus(row[0]), event))
    if move is None:
        raise BadTransition(f"FSE {fse_id} is {row[0]}, cannot {event.value}")
    if move.to is not F.REMOVED:
        c.execute("UPDATE fses SET status = ? WHERE fse_id = ?", (move.to, fse_id))
    move.handler(c, fse_id, now, args)
    return move.to


# ---- FSE numbers ---------------------------------------------------------------------
N = NumberStatus
NUMBER_TRANSITIONS: dict[tuple[NumberStatus, NumberEvent], NumberStatus] = {
    (N.RESERVED, NumberEvent.SIGN): N.USED,  # with the FSE id
    (N.RESERVED, NumberEvent.ABANDON): N.SKIPPED,  # with the reason
    (N.RESERVED, NumberEvent.RECOVER): N.SKIPPED,  # reason interrupted_before_signature
}


def settle_number(c: sqlite3.Connection, professional_id: str, number: int, event: NumberEvent,
                  now: float, reason: str | None = None, fse_id: str | None = None) -> None:
    """Apply ``event`` to a reserved number (inside the caller's transaction)."""
    row = c.execute("SELECT state FROM fse_numbers WHERE professional_id = ? AND number = ?",
                    (professional_id, number)).fetchone()
    to = None if row is None else NUMBER_TRANSITIONS.get((NumberStatus(row[0]), event))
    if to is None:
        raise BadTransition(f"FSE number {number} is {row[0] if row else 'not reserved'}")
    c.execute("UPDATE fse_numbers SET state = ?, reason = ?, fse_id = ?, settled_at = ? "
              "WHERE professional_id = ? AND number = ?",
              (to, reason, fse_id, now, professional_id, number))
