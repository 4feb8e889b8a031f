"""Lots, reference seals and returns (ARL) in the office database (tables from
office_schema.MIGRATIONS step 1; docs/lots.md §Office database).

Every change is one transaction, committed durably (office_db) before the command
reports it; a refused input changes nothing. Lot numbers advance by compare and set on
``lot_counters``, so two office PCs sharing a PostgreSQL database never store one twice.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import cbor2
from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from firmware.billing.cose import H_FIRMWARE_VERSION, H_ROLE

from . import office_schema as s
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


def transaction(db: OfficeDb):
    """One write transaction of ``db`` (a SQLAlchemy Connection inside)."""
    return db.begin()


# ---- reference seals ---------------------------------------------------------------------
def add_seal(db: OfficeDb, version: str, seal: bytes) -> list[tuple[str, int]]:
    """Record the reference seal of a firmware version (immutable once recorded) and
    release the lots on hold that carry it. Returns the released (billing, lot) pairs."""
    r, lt = s.reference_seals.c, s.lots.c
    with transaction(db) as c:
        c.execute(db.insert_ignore(s.reference_seals).values(
            version=version, seal=seal, added_at=time.time()))
        # read back after the insert: another office PC may have won the race for either key
        stored = c.execute(select(r.seal).where(r.version == version)).scalar()
        if stored is not None and stored != seal:
            raise OfficeDbError("seal_conflict", f"firmware {version} already has reference "
                                f"seal {stored.hex()}; a reference seal is never replaced")
        other = c.execute(select(r.version).where(r.seal == seal, r.version != version)).scalar()
        if other is not None:
            raise OfficeDbError("seal_conflict", f"seal {seal.hex()} is already the reference "
                                f"of firmware {other}")
        references = {v: x for v, x in c.execute(select(r.version, r.seal))}
        held = c.execute(select(lt.row_id, lt.billing_number, lt.lot_number, lt.seal,
                                lt.claimed_versions)
                         .where(lt.status == "on_hold", lt.hold_reason == HOLD_SEAL_UNKNOWN)
                         .order_by(lt.billing_number, lt.lot_number).with_for_update()).all()
        released = []
        for row_id, billing, number, lot_seal, claimed in held:
            known, reason = seal_check(lot_seal, claimed.split(), references)
            if reason == HOLD_SEAL_UNKNOWN:
                continue
            c.execute(update(s.lots).where(lt.row_id == row_id).values(
                status="on_hold" if reason else "ready", hold_reason=reason,
                firmware_version=known))
            if not reason:
                released.append((billing, number))
    return released


def reference_seals(db: OfficeDb) -> dict[str, bytes]:
    """firmware version -> reference seal."""
    r = s.reference_seals.c
    with db.read() as c:
        return {v: x for v, x in c.execute(select(r.version, r.seal))}


def seal_rows(db: OfficeDb) -> list[tuple[str, bytes, float]]:
    r = s.reference_seals.c
    with db.read() as c:
        return [(v, x, at) for v, x, at in c.execute(
            select(r.version, r.seal, r.added_at).order_by(r.added_at, r.version))]


# ---- lots --------------------------------------------------------------------------------
def unlotted(db: OfficeDb) -> list[StoredFse]:
    """Imported FSEs not yet in a lot, by billing number then FSE number."""
    f, lf = s.fses.c, s.lot_fses.c
    with db.read() as c:
        rows = c.execute(
            select(f.row_id, f.fse_number, f.billing_number, f.seal, f.cose)
            .select_from(s.fses.outerjoin(s.lot_fses, lf.fse_row == f.row_id))
            .where(lf.fse_row.is_(None)).order_by(f.billing_number, f.fse_number)).all()
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
    k = s.lot_counters.c
    with db.read() as c:
        return {b: n for b, n in c.execute(select(k.billing_number, k.last_number))}


def _advance_counter(db: OfficeDb, c: Connection, billing: str, expected: int | None,
                     last: int) -> None:
    """Move ``billing``'s counter from ``expected`` to ``last`` atomically (a compare and
    set: on PostgreSQL a second office PC waits on the row, then finds it moved)."""
    k = s.lot_counters.c
    if expected is None:
        moved = c.execute(db.insert_ignore(s.lot_counters).values(
            billing_number=billing, last_number=last).returning(k.billing_number)).scalar()
    else:
        moved = c.execute(update(s.lot_counters).where(
            k.billing_number == billing, k.last_number == expected).values(
            last_number=last).returning(k.billing_number)).scalar()
    if moved is None:
        raise OfficeDbError("lots_changed", f"lots of {billing} were made meanwhile "
                            "(another office PC?); nothing stored: run again")


def store_lots(db: OfficeDb, lots: list[NewLot], expected_last: dict[str, int]) -> None:
    """Store signed lots and their FSEs in one transaction. ``expected_last``: the lot
    counters the lots were numbered from; if another office PC made lots meanwhile
    (counters moved, or an FSE got into a lot), nothing is stored."""
    if not lots:
        return
    with transaction(db) as c:
        for billing in sorted({lot.billing_number for lot in lots}):
            numbers = [lot.lot_number for lot in lots if lot.billing_number == billing]
            _advance_counter(db, c, billing, expected_last.get(billing),
                             max(max(numbers), expected_last.get(billing, 0)))
        for lot in lots:
            row = c.execute(s.lots.insert().values(
                billing_number=lot.billing_number, lot_number=lot.lot_number,
                regime=lot.regime, caisse=lot.caisse, fse_count=len(lot.fse_rows),
                total_cents=lot.total_cents, amo_cents=lot.amo_cents, amc_cents=lot.amc_cents,
                seal=lot.seal, firmware_version=lot.firmware_version,
                claimed_versions=" ".join(lot.claimed_versions), status=lot.status,
                hold_reason=lot.hold_reason, signer=lot.signer, made_at=lot.made_at,
                lot_file=lot.lot_file, sha256=hashlib.sha256(lot.lot_file).digest())
                .returning(s.lots.c.row_id)).scalar_one()
            try:
                c.execute(s.lot_fses.insert(), [{"fse_row": r, "lot_row": row,
                                                 "status": "in_lot"} for r in lot.fse_rows])
            except IntegrityError:
                raise OfficeDbError("lots_changed", "an FSE of lot "
                                    f"{lot.billing_number}/{lot.lot_number} got into another "
                                    "lot meanwhile; nothing stored: run again") from None


def _lot_select():
    return select(*(s.lots.c[k] for k in LOT_FIELDS))


def lots(db: OfficeDb) -> list[dict]:
    lt = s.lots.c
    with db.read() as c:
        return [dict(r._mapping) for r in c.execute(
            _lot_select().order_by(lt.billing_number, lt.lot_number))]


def lot_by_number(db: OfficeDb, billing_number: str, lot_number: int,
                  conn: Connection | None = None) -> dict | None:
    lt = s.lots.c
    stmt = _lot_select().where(lt.billing_number == billing_number, lt.lot_number == lot_number)
    if conn is not None:
        row = conn.execute(stmt).first()
    else:
        with db.read() as c:
            row = c.execute(stmt).first()
    return None if row is None else dict(row._mapping)


def find_lot(db: OfficeDb, key: str) -> dict:
    """A lot by "BILLING/NUMBER", or by NUMBER when one billing number has it."""
    billing, _, number = key.rpartition("/")
    if not number.isdigit():
        raise OfficeDbError("lot_unknown", f"{key!r} is not a lot (BILLING/NUMBER or NUMBER)")
    lt = s.lots.c
    stmt = _lot_select().where(lt.lot_number == int(number))
    if billing:
        stmt = stmt.where(lt.billing_number == billing)
    with db.read() as c:
        rows = c.execute(stmt).all()
    if not rows:
        raise OfficeDbError("lot_unknown", f"no lot {key} in the office database")
    if len(rows) > 1:
        raise OfficeDbError("lot_ambiguous", f"several billing numbers have a lot {number}: "
                            "give BILLING/NUMBER")
    return dict(rows[0]._mapping)


def lot_file(db: OfficeDb, row_id: int) -> bytes:
    with db.read() as c:
        return c.execute(select(s.lots.c.lot_file).where(s.lots.c.row_id == row_id)).scalar_one()


def lot_fses(db: OfficeDb, row_id: int, conn: Connection | None = None) -> list[dict]:
    f, lf = s.fses.c, s.lot_fses.c
    stmt = (select(f.row_id.label("fse_row"), f.fse_number, f.fse_id, f.unit_id, f.total_cents,
                   lf.status, lf.reason_code, lf.reason)
            .select_from(s.lot_fses.join(s.fses, f.row_id == lf.fse_row))
            .where(lf.lot_row == row_id).order_by(f.fse_number))
    if conn is not None:
        return [dict(r._mapping) for r in conn.execute(stmt)]
    with db.read() as c:
        return [dict(r._mapping) for r in c.execute(stmt)]


def fse_lot_status(db: OfficeDb) -> dict[str, dict]:
    """import_id -> lot number, lot status, FSE status and reason (FSEs in a lot only)."""
    f, lf, lt = s.fses.c, s.lot_fses.c, s.lots.c
    with db.read() as c:
        rows = c.execute(
            select(f.import_id, lt.billing_number, lt.lot_number, lt.status, lf.status,
                   lf.reason_code, lf.reason)
            .select_from(s.lot_fses.join(s.fses, f.row_id == lf.fse_row)
                         .join(s.lots, lt.row_id == lf.lot_row))).all()
    return {imp: {"lot": f"{b}/{n}", "lot_number": n, "lot_status": ls, "fse_status": fs,
                  "reason_code": rc, "reason": rs}
            for imp, b, n, ls, fs, rc, rs in rows}
