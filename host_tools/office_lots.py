"""Lots, reference seals and returns (ARL) in the office database (tables from
office_db.MIGRATIONS step 1; docs/lots.md §Office database).

Every change is one transaction, committed (fsync'd, office_db: synchronous=FULL)
before the command reports it; a refused input changes nothing.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cbor2

from firmware.billing.cose import H_FIRMWARE_VERSION, H_ROLE

from .office_db import OfficeDb, OfficeDbError

LOT_FIELDS = ("row_id", "billing_number", "lot_number", "regime", "caisse", "fse_count",
              "total_cents", "amo_cents", "amc_cents", "seal", "firmware_version",
              "claimed_versions", "status",
              "hold_reason", "signer", "made_at", "sha256", "arl_file", "arl_at",
              "reason_code", "reason")
HOLD_SEAL_UNKNOWN = "seal_unknown"  # no reference seal for this seal or its version
HOLD_SEAL_MISMATCH = "seal_mismatch"  # the version's reference seal is another one


@dataclass(frozen=True)
class StoredFse:
    """An FSE read back from the office database (verified when it was imported)."""

    row_id: int
    number: int
    billing_number: str
    payload: dict
    seal: bytes
    cose: bytes
    firmware_version: str  # what the unit signature claims ("" for older firmware)


@dataclass(frozen=True)
class NewLot:
    """A signed lot ready to be stored, with the FSE rows it holds."""

    billing_number: str
    lot_number: int
    regime: str
    caisse: str
    fse_rows: tuple[int, ...]
    total_cents: int
    amo_cents: int
    amc_cents: int
    seal: bytes
    firmware_version: str | None  # the version whose reference seal it carries
    claimed_versions: tuple[str, ...]  # the versions its FSEs' unit signatures name
    hold_reason: str
    signer: str
    made_at: float
    lot_file: bytes

    @property
    def status(self) -> str:
        return "on_hold" if self.hold_reason else "ready"


def seal_check(seal: bytes, claimed: set[str] | tuple[str, ...] | list[str],
               references: dict[str, bytes]) -> tuple[str | None, str]:
    """(version, hold reason) of a lot carrying ``seal`` whose FSEs claim the firmware
    versions ``claimed`` (docs/lots.md §Seal check). ``references``: version -> seal."""
    known = next((v for v, s in references.items() if s == seal), None)
    for version in set(claimed) - {""}:
        if version in references and references[version] != seal:
            return None, HOLD_SEAL_MISMATCH
        if known is not None and version != known:
            return None, HOLD_SEAL_MISMATCH
    if known is None:
        return None, HOLD_SEAL_UNKNOWN
    return known, ""


@contextmanager
def transaction(db: OfficeDb) -> Iterator[sqlite3.Connection]:
    c = db.conn
    c.execute("BEGIN IMMEDIATE")
    try:
        yield c
    except BaseException:
        c.execute("ROLLBACK")
        raise
    c.execute("COMMIT")


# ---- reference seals ---------------------------------------------------------------------
def add_seal(db: OfficeDb, version: str, seal: bytes) -> list[tuple[str, int]]:
    """Record the reference seal of a firmware version (immutable once recorded) and
    release the lots on hold that carry it. Returns the released (billing, lot) pairs."""
    with transaction(db) as c:
        row = c.execute("SELECT seal FROM reference_seals WHERE version=?", (version,)).fetchone()
        if row is not None and row[0] != seal:
            raise OfficeDbError("seal_conflict", f"firmware {version} already has reference "
                                f"seal {row[0].hex()}; a reference seal is never replaced")
        other = c.execute("SELECT version FROM reference_seals WHERE seal=? AND version<>?",
                          (seal, version)).fetchone()
        if other is not None:
            raise OfficeDbError("seal_conflict", f"seal {seal.hex()} is already the reference "
                                f"of firmware {other[0]}")
        c.execute("INSERT OR IGNORE INTO reference_seals VALUES (?, ?, ?)",
                  (version, seal, time.time()))
        references = {v: s for v, s in c.execute("SELECT version, seal FROM reference_seals")}
        held = c.execute("SELECT row_id, billing_number, lot_number, seal, claimed_versions "
                         "FROM lots WHERE status='on_hold' AND hold_reason=? "
                         "ORDER BY billing_number, lot_number", (HOLD_SEAL_UNKNOWN,)).fetchall()
        released = []
        for row_id, billing, number, lot_seal, claimed in held:
            known, reason = seal_check(lot_seal, claimed.split(), references)
            if reason == HOLD_SEAL_UNKNOWN:
                continue
            c.execute("UPDATE lots SET status=?, hold_reason=?, firmware_version=? WHERE "
                      "row_id=?", ("on_hold" if reason else "ready", reason, known, row_id))
            if not reason:
                released.append((billing, number))
    return [(b, n) for b, n in released]


def reference_seals(db: OfficeDb) -> dict[str, bytes]:
    """firmware version -> reference seal."""
    return {v: s for v, s in db.conn.execute("SELECT version, seal FROM reference_seals")}


def seal_rows(db: OfficeDb) -> list[tuple[str, bytes, float]]:
    return db.conn.execute("SELECT version, seal, added_at FROM reference_seals "
                           "ORDER BY added_at, version").fetchall()


# ---- lots --------------------------------------------------------------------------------
def unlotted(db: OfficeDb) -> list[StoredFse]:
    """Imported FSEs not yet in a lot, by billing number then FSE number."""
    rows = db.conn.execute(
        "SELECT f.row_id, f.fse_number, f.billing_number, f.seal, f.cose FROM fses f "
        "LEFT JOIN lot_fses l ON l.fse_row = f.row_id WHERE l.fse_row IS NULL "
        "ORDER BY f.billing_number, f.fse_number").fetchall()
    out = []
    for r, n, b, seal, cose in rows:
        msg = cbor2.loads(cose).value  # COSE_Sign: [protected, unprotected, payload, sigs]
        out.append(StoredFse(r, n, b, cbor2.loads(msg[2]), seal, cose, _claimed_version(msg)))
    return out


def _claimed_version(msg: list) -> str:
    """The firmware version the unit signature's protected header names ("" if none)."""
    for protected, _, _ in msg[3]:
        header = cbor2.loads(protected)
        if header.get(H_ROLE) == "unit":
            version = header.get(H_FIRMWARE_VERSION, "")
            return version if isinstance(version, str) else ""
    return ""


def payload_of(cose: bytes) -> dict:
    """The payload map of a stored FSE (COSE_Sign: [protected, unprotected, payload, sigs])."""
    return cbor2.loads(cbor2.loads(cose).value[2])


def last_lot_numbers(db: OfficeDb) -> dict[str, int]:
    return dict(db.conn.execute("SELECT billing_number, last_number FROM lot_counters"))


def store_lots(db: OfficeDb, lots: list[NewLot], expected_last: dict[str, int]) -> None:
    """Store signed lots and their FSEs in one transaction. ``expected_last``: the lot
    counters the lots were numbered from; if another office PC made lots meanwhile
    (counters moved, or an FSE got into a lot), nothing is stored."""
    with transaction(db) as c:
        now_last = dict(c.execute("SELECT billing_number, last_number FROM lot_counters"))
        for billing in {lot.billing_number for lot in lots}:
            if now_last.get(billing) != expected_last.get(billing):
                raise OfficeDbError("lots_changed", f"lots of {billing} were made meanwhile "
                                    "(another office PC?); nothing stored: run again")
        for lot in lots:
            cur = c.execute(
                "INSERT INTO lots (billing_number, lot_number, regime, caisse, fse_count, "
                "total_cents, amo_cents, amc_cents, seal, firmware_version, claimed_versions, "
                "status, hold_reason, signer, made_at, lot_file, sha256) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (lot.billing_number, lot.lot_number, lot.regime, lot.caisse, len(lot.fse_rows),
                 lot.total_cents, lot.amo_cents, lot.amc_cents, lot.seal, lot.firmware_version,
                 " ".join(lot.claimed_versions), lot.status, lot.hold_reason, lot.signer,
                 lot.made_at, lot.lot_file, hashlib.sha256(lot.lot_file).digest()))
            try:
                c.executemany("INSERT INTO lot_fses (fse_row, lot_row, status) VALUES (?, ?, "
                              "'in_lot')", [(r, cur.lastrowid) for r in lot.fse_rows])
            except sqlite3.IntegrityError:
                raise OfficeDbError("lots_changed", "an FSE of lot "
                                    f"{lot.billing_number}/{lot.lot_number} got into another "
                                    "lot meanwhile; nothing stored: run again") from None
            c.execute("INSERT INTO lot_counters VALUES (?, ?) ON CONFLICT (billing_number) "
                      "DO UPDATE SET last_number=max(last_number, excluded.last_number)",
                      (lot.billing_number, lot.lot_number))


def lots(db: OfficeDb) -> list[dict]:
    rows = db.conn.execute(f"SELECT {', '.join(LOT_FIELDS)} FROM lots "
                           "ORDER BY billing_number, lot_number")
    return [dict(zip(LOT_FIELDS, r, strict=True)) for r in rows]


def lot_by_number(db: OfficeDb, billing_number: str, lot_number: int) -> dict | None:
    row = db.conn.execute(f"SELECT {', '.join(LOT_FIELDS)} FROM lots WHERE billing_number=? "
                          "AND lot_number=?", (billing_number, lot_number)).fetchone()
    return None if row is None else dict(zip(LOT_FIELDS, row, strict=True))


def find_lot(db: OfficeDb, key: str) -> dict:
    """A lot by "BILLING/NUMBER", or by NUMBER when one billing number has it."""
    billing, _, number = key.rpartition("/")
    if not number.isdigit():
        raise OfficeDbError("lot_unknown", f"{key!r} is not a lot (BILLING/NUMBER or NUMBER)")
    where = "lot_number=?" + (" AND billing_number=?" if billing else "")
    args = (int(number), billing) if billing else (int(number),)
    rows = db.conn.execute(f"SELECT {', '.join(LOT_FIELDS)} FROM lots WHERE {where}",
                           args).fetchall()
    if not rows:
        raise OfficeDbError("lot_unknown", f"no lot {key} in the office database")
    if len(rows) > 1:
        raise OfficeDbError("lot_ambiguous", f"several billing numbers have a lot {number}: "
                            "give BILLING/NUMBER")
    return dict(zip(LOT_FIELDS, rows[0], strict=True))


def lot_file(db: OfficeDb, row_id: int) -> bytes:
    return db.conn.execute("SELECT lot_file FROM lots WHERE row_id=?", (row_id,)).fetchone()[0]


def lot_fses(db: OfficeDb, row_id: int) -> list[dict]:
    fields = ("fse_row", "fse_number", "fse_id", "unit_id", "total_cents", "status",
              "reason_code", "reason")
    rows = db.conn.execute(
        "SELECT f.row_id, f.fse_number, f.fse_id, f.unit_id, f.total_cents, l.status, "
        "l.reason_code, "
        "l.reason FROM lot_fses l JOIN fses f ON f.row_id = l.fse_row WHERE l.lot_row=? "
        "ORDER BY f.fse_number", (row_id,))
    return [dict(zip(fields, r, strict=True)) for r in rows]


def fse_lot_status(db: OfficeDb) -> dict[str, dict]:
    """import_id -> lot number, lot status, FSE status and reason (FSEs in a lot only)."""
    rows = db.conn.execute(
        "SELECT f.import_id, t.billing_number, t.lot_number, t.status, l.status, "
        "l.reason_code, l.reason FROM lot_fses l JOIN fses f ON f.row_id = l.fse_row "
        "JOIN lots t ON t.row_id = l.lot_row")
    return {imp: {"lot": f"{b}/{n}", "lot_number": n, "lot_status": ls, "fse_status": fs,
                  "reason_code": rc, "reason": rs}
            for imp, b, n, ls, fs, rc, rs in rows}
