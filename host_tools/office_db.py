"""The office's local database of imported FSEs, Vitale reads and traces (SQLite).

Durability: WAL journal with ``synchronous=FULL`` (every commit is fsync'd before
it returns, https://sqlite.org/pragma.html#pragma_synchronous), one transaction per
imported record. Only after that commit does the office acknowledge the record to
the unit, with the record's ``import_id``.

Exactly once: an FSE's identity is (unit_id, fse_id), UNIQUE. Importing the same
bytes again returns the existing row (``duplicate``); other bytes under the same
identity, or another FSE with the same (billing_number, fse_number), are refused
(``conflict``) and never overwrite what is stored.

Default path: ``$OPENTLA_HOME/office.db`` or ``~/.local/share/opentla/office.db``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
    unit_id TEXT PRIMARY KEY, device_key BLOB NOT NULL, first_seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS fses (
    row_id INTEGER PRIMARY KEY,
    import_id TEXT NOT NULL UNIQUE,
    unit_id TEXT NOT NULL, fse_id TEXT NOT NULL,
    billing_number TEXT NOT NULL, fse_number INTEGER NOT NULL,
    mode TEXT NOT NULL, signed_at INTEGER NOT NULL, date_of_care TEXT NOT NULL,
    total_cents INTEGER NOT NULL, amo_cents INTEGER NOT NULL, patient_cents INTEGER NOT NULL,
    nir TEXT NOT NULL, patient_name TEXT NOT NULL, seal BLOB NOT NULL,
    sha256 BLOB NOT NULL, cose BLOB NOT NULL,
    imported_at REAL NOT NULL, acked_at REAL,
    UNIQUE (unit_id, fse_id), UNIQUE (billing_number, fse_number));
CREATE TABLE IF NOT EXISTS vitale_reads (
    row_id INTEGER PRIMARY KEY, import_id TEXT NOT NULL UNIQUE,
    unit_id TEXT NOT NULL, read_id TEXT NOT NULL, professional_id TEXT NOT NULL,
    sha256 BLOB NOT NULL, payload BLOB NOT NULL, imported_at REAL NOT NULL, acked_at REAL,
    UNIQUE (unit_id, read_id));
CREATE TABLE IF NOT EXISTS traces (
    unit_id TEXT NOT NULL, trace_id INTEGER NOT NULL, at REAL NOT NULL,
    operation TEXT NOT NULL, duration_s REAL NOT NULL, outcome TEXT NOT NULL,
    imported_at REAL NOT NULL, PRIMARY KEY (unit_id, trace_id));
"""
# Changes after the first schema, applied once each and in order inside one transaction;
# PRAGMA user_version counts those applied (https://sqlite.org/pragma.html#pragma_user_version).
# Never edit a released step: add one. Tables and states: docs/lots.md §Office database.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: lots, their FSEs, lot numbers per billing number, reference seals
        """CREATE TABLE reference_seals (
            version TEXT PRIMARY KEY, seal BLOB NOT NULL UNIQUE, added_at REAL NOT NULL)""",
        """CREATE TABLE lot_counters (
            billing_number TEXT PRIMARY KEY,
            last_number INTEGER NOT NULL CHECK (last_number BETWEEN 1 AND 999999))""",
        """CREATE TABLE lots (
            row_id INTEGER PRIMARY KEY,
            billing_number TEXT NOT NULL,
            lot_number INTEGER NOT NULL CHECK (lot_number BETWEEN 1 AND 999999),
            regime TEXT NOT NULL, caisse TEXT NOT NULL, fse_count INTEGER NOT NULL,
            total_cents INTEGER NOT NULL, amo_cents INTEGER NOT NULL,
            amc_cents INTEGER NOT NULL, seal BLOB NOT NULL, firmware_version TEXT,
            claimed_versions TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL CHECK (status IN ('ready', 'on_hold', 'accepted', 'rejected')),
            hold_reason TEXT NOT NULL DEFAULT '', signer TEXT NOT NULL, made_at REAL NOT NULL,
            lot_file BLOB NOT NULL, sha256 BLOB NOT NULL,
            arl_file TEXT, arl_sha256 BLOB, arl_at REAL,
            reason_code TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',
            UNIQUE (billing_number, lot_number))""",
        """CREATE TABLE lot_fses (
            fse_row INTEGER PRIMARY KEY REFERENCES fses(row_id),
            lot_row INTEGER NOT NULL REFERENCES lots(row_id),
            status TEXT NOT NULL CHECK (status IN ('in_lot', 'accepted', 'rejected')),
            reason_code TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX lot_fses_by_lot ON lot_fses (lot_row)",
    ),
)


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the pending MIGRATIONS in one transaction; returns the schema version."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise OfficeDbError("db_too_new", f"office database schema {version} is newer "
                                f"than this tla ({len(MIGRATIONS)}): update tla")
        for step in MIGRATIONS[version:]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version={len(MIGRATIONS)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)


TRACE_FIELDS = ("unit_id", "trace_id", "at", "operation", "duration_s", "outcome")

FSE_FIELDS = ("import_id", "unit_id", "fse_id", "billing_number", "fse_number", "mode",
              "signed_at", "date_of_care", "total_cents", "amo_cents", "patient_cents", "nir",
              "patient_name", "imported_at", "acked_at")


class OfficeDbError(Exception):
    """A refusal of the office database; ``code`` is stable, the message English."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Imported:
    import_id: str
    duplicate: bool  # already there from an earlier run (same bytes)


def _ack_table(table: str) -> str:
    """The record-id column of a table whose rows the unit acknowledges."""
    columns = {"fses": "fse_id", "vitale_reads": "read_id"}
    if table not in columns:
        raise ValueError(f"no acknowledged records in table {table!r}")
    return columns[table]


def default_path() -> Path:
    home = os.environ.get("OPENTLA_HOME")
    return (Path(home) if home else Path.home() / ".local" / "share" / "opentla") / "office.db"


class OfficeDb:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=10)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(SCHEMA)
        try:
            migrate(self.conn)
        except BaseException:
            self.conn.close()
            raise
        self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('db_id', ?)", (os.urandom(8).hex(),))
        self.db_id = self.conn.execute("SELECT value FROM meta WHERE key='db_id'").fetchone()[0]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> OfficeDb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def import_id(self, kind: str, unit_id: str, record_id: str) -> str:
        """Deterministic per database and record, 1-64 of [A-Za-z0-9._:-] (the unit's rule)."""
        digest = hashlib.sha256(f"{self.db_id}\0{kind}\0{unit_id}\0{record_id}".encode())
        return f"{kind[0]}-{digest.hexdigest()[:40]}"

    # ---- units ------------------------------------------------------------------------
    def remember_unit(self, unit_id: str, device_key: bytes) -> None:
        """Trust on first unload over an authenticated session; a changed key is refused."""
        row = self.conn.execute("SELECT device_key FROM units WHERE unit_id=?", (unit_id,)).fetchone()
        if row is None:
            self.conn.execute("INSERT INTO units VALUES (?, ?, ?)", (unit_id, device_key, time.time()))
        elif row[0] != device_key:
            raise OfficeDbError("unit_key_changed",
                                f"unit {unit_id} now signs with another device key; refusing")

    def unit_keys(self) -> dict[str, bytes]:
        return dict(self.conn.execute("SELECT unit_id, device_key FROM units"))

    # ---- FSEs ---------------------------------------------------------------------------
    def known_fse(self, unit_id: str, fse_id: str) -> str | None:
        row = self.conn.execute("SELECT import_id FROM fses WHERE unit_id=? AND fse_id=?",
                                (unit_id, fse_id)).fetchone()
        return None if row is None else row[0]

    def import_fse(self, unit_id: str, fse_id: str, cose: bytes, payload: dict, seal: bytes) -> Imported:
        """Store one verified FSE in its own fsync'd transaction (see the module docstring)."""
        digest = hashlib.sha256(cose).digest()
        amounts = payload["amounts"]
        ben = payload["beneficiary"]
        import_id = self.import_id("fse", unit_id, fse_id)
        row = (import_id, unit_id, fse_id, payload["billing_number"], payload["fse_number"],
               payload["mode"], payload["signed_at"], payload["date_of_care"],
               amounts["total_cents"], amounts["amo_cents"], amounts["patient_cents"],
               ben["nir"] + ben["nir_key"], f"{ben['name']} {ben['first_name']}".strip(), seal,
               digest, cose, time.time())
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            same = c.execute("SELECT import_id, sha256 FROM fses WHERE unit_id=? AND fse_id=?",
                             (unit_id, fse_id)).fetchone()
            if same is not None:
                c.execute("ROLLBACK")
                if same[1] != digest:
                    raise OfficeDbError("fse_conflict", f"FSE {fse_id} of {unit_id} was imported "
                                        "before with other content; kept the first")
                return Imported(same[0], True)
            clash = c.execute("SELECT unit_id, fse_id FROM fses WHERE billing_number=? AND "
                              "fse_number=?", (row[3], row[4])).fetchone()
            if clash is not None:
                c.execute("ROLLBACK")
                raise OfficeDbError("fse_number_conflict", f"FSE number {row[4]} of {row[3]} "
                                    f"already imported as {clash[1]} from {clash[0]}")
            c.execute(f"INSERT INTO fses ({', '.join(FSE_FIELDS[:-2])}, seal, sha256, cose, "
                      "imported_at) VALUES (" + ", ".join("?" * 17) + ")", row)
            c.execute("COMMIT")
        except sqlite3.Error:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        return Imported(import_id, False)

    def unacked(self, table: str, unit_id: str) -> dict[str, str]:
        """Record id -> import id of ``unit_id``'s rows not yet marked acknowledged."""
        id_column = _ack_table(table)
        rows = self.conn.execute(f"SELECT {id_column}, import_id FROM {table} "
                                 "WHERE unit_id=? AND acked_at IS NULL", (unit_id,))
        return dict(rows.fetchall())

    def mark_acked(self, table: str, import_ids: list[str]) -> None:
        """The unit has these records acknowledged (one fsync'd transaction)."""
        _ack_table(table)
        if not import_ids:
            return
        now = time.time()
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(f"UPDATE {table} SET acked_at=? WHERE import_id=? AND acked_at IS NULL",
                                  [(now, i) for i in import_ids])

    def fses(self) -> list[dict]:
        rows = self.conn.execute(f"SELECT {', '.join(FSE_FIELDS)} FROM fses ORDER BY row_id")
        return [dict(zip(FSE_FIELDS, r, strict=True)) for r in rows]

    def fse(self, key: str) -> tuple[dict, bytes]:
        """One FSE by import id or FSE id; returns (fields, COSE bytes)."""
        rows = self.conn.execute(f"SELECT {', '.join(FSE_FIELDS)}, cose FROM fses WHERE "
                                 "import_id=? OR fse_id=?", (key, key)).fetchall()
        if not rows:
            raise OfficeDbError("fse_unknown", f"no imported FSE {key}")
        if len(rows) > 1:
            raise OfficeDbError("fse_ambiguous", f"{key} names several FSEs; use the import id")
        return dict(zip(FSE_FIELDS, rows[0][:-1], strict=True)), rows[0][-1]

    # ---- Vitale reads -----------------------------------------------------------------------
    def import_vitale_read(self, unit_id: str, read_id: str, professional_id: str,
                           payload: bytes) -> Imported:
        digest = hashlib.sha256(payload).digest()
        import_id = self.import_id("vitale", unit_id, read_id)
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        same = c.execute("SELECT import_id, sha256 FROM vitale_reads WHERE unit_id=? AND read_id=?",
                         (unit_id, read_id)).fetchone()
        if same is not None:
            c.execute("ROLLBACK")
            if same[1] != digest:
                raise OfficeDbError("vitale_conflict", f"Vitale read {read_id} differs from the "
                                    "one imported before; kept the first")
            return Imported(same[0], True)
        c.execute("INSERT INTO vitale_reads (import_id, unit_id, read_id, professional_id, sha256,"
                  " payload, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                  (import_id, unit_id, read_id, professional_id, digest, payload, time.time()))
        c.execute("COMMIT")
        return Imported(import_id, False)

    def vitale_reads(self) -> list[dict]:
        fields = ("import_id", "unit_id", "read_id", "professional_id", "imported_at", "acked_at")
        rows = self.conn.execute(f"SELECT {', '.join(fields)} FROM vitale_reads ORDER BY row_id")
        return [dict(zip(fields, r, strict=True)) for r in rows]

    # ---- traces (DESIGN.md §4.7) ------------------------------------------------------------
    def last_trace_id(self, unit_id: str) -> int:
        """The highest trace id imported from ``unit_id`` (0: none): where a fetch resumes."""
        row = self.conn.execute("SELECT max(trace_id) FROM traces WHERE unit_id=?",
                                (unit_id,)).fetchone()
        return int(row[0] or 0)

    def import_traces(self, unit_id: str, rows: list[tuple[int, float, str, float, str]]) -> int:
        """Store ``(trace_id, at, operation, duration_s, outcome)`` rows of one unit in one
        transaction; a (unit, trace id) already there is kept as it was. Returns how
        many rows were new."""
        c = self.conn
        now = time.time()
        c.execute("BEGIN IMMEDIATE")
        try:
            before = c.total_changes
            c.executemany("INSERT OR IGNORE INTO traces VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [(unit_id, *row, now) for row in rows])
            added = c.total_changes - before
            c.execute("COMMIT")
        except sqlite3.Error:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        return added

    def traces(self, unit_id: str | None = None) -> list[dict]:
        """Imported traces (of one unit, or all), by unit then trace id."""
        where, args = ("WHERE unit_id=?", (unit_id,)) if unit_id else ("", ())
        rows = self.conn.execute(f"SELECT {', '.join(TRACE_FIELDS)} FROM traces {where} "
                                 "ORDER BY unit_id, trace_id", args)
        return [dict(zip(TRACE_FIELDS, r, strict=True)) for r in rows]
