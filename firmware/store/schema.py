"""The store's schema and its migrations.

Each migration is a list of SQL statements applied in ONE transaction together
with ``PRAGMA user_version = N`` (the version lives in the database header, page
1, which SQLite journals like any other page: SQLite file format §1.3.13). A
crash at any point of a migration therefore leaves either the old schema with
the old version or the new schema with the new version, never a mix.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .errors import StoreTooNew

Migration = Sequence[str]

V1: Migration = (
    """CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL)""",
    """CREATE TABLE card_wraps (
        wrap_id INTEGER PRIMARY KEY,
        label TEXT NOT NULL,
        wrapped BLOB NOT NULL,
        created_at REAL NOT NULL)""",
    # Loaded and visit records other than FSEs: invoice, patient, tariff,
    # opposition, vitale_read. ``blob`` is always an AEAD envelope (crypto.py).
    """CREATE TABLE records (
        kind TEXT NOT NULL,
        record_id TEXT NOT NULL,
        professional_id TEXT,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        size INTEGER NOT NULL,
        blob BLOB NOT NULL,
        PRIMARY KEY (kind, record_id))""",
    """CREATE TABLE fse_ranges (
        range_id TEXT PRIMARY KEY,
        professional_id TEXT NOT NULL,
        first INTEGER NOT NULL,
        last INTEGER NOT NULL,
        next INTEGER NOT NULL,
        loaded_at REAL NOT NULL,
        CHECK (first >= 1 AND first <= next AND next <= last + 1))""",
    """CREATE TABLE fse_numbers (
        professional_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        range_id TEXT NOT NULL REFERENCES fse_ranges(range_id),
        state TEXT NOT NULL CHECK (state IN ('reserved', 'used', 'skipped')),
        reason TEXT,
        fse_id TEXT,
        reserved_at REAL NOT NULL,
        settled_at REAL,
        PRIMARY KEY (professional_id, number))""",
    """CREATE TABLE fses (
        fse_id TEXT PRIMARY KEY,
        professional_id TEXT NOT NULL,
        fse_number INTEGER NOT NULL,
        invoice_id TEXT,
        status TEXT NOT NULL CHECK (status IN ('signed', 'offered', 'imported')),
        signed_at REAL NOT NULL,
        offered_at REAL,
        imported_at REAL,
        import_ack TEXT,
        size INTEGER NOT NULL,
        blob BLOB NOT NULL,
        UNIQUE (professional_id, fse_number))""",
    """CREATE TABLE traces (
        trace_id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        operation TEXT NOT NULL,
        duration_s REAL NOT NULL,
        outcome TEXT NOT NULL)""",
)

# V2: the office's Ed25519 signature of each loaded record and the signer's public
# key (firmware/store/office_sig.py). Rows loaded under V1 keep NULL there: they
# are refused at read (store_record_unsigned) until the office loads them again.
V2: Migration = (
    "ALTER TABLE records ADD COLUMN office_sig BLOB",
    "ALTER TABLE records ADD COLUMN office_key BLOB",
)

# V3: ids in clear carry no patient data (docs/store.md §Record ids). A loaded
# record's ``record_id`` becomes its key (HMAC of kind and office id under the
# meta ``id_key``) and ``sealed_id`` holds the office id sealed to the unit. Rows
# loaded before keep NULL until Store.open moves them (records.py _rekey_legacy,
# which needs Python for the HMAC and the seal).
V3: Migration = (
    "ALTER TABLE records ADD COLUMN sealed_id BLOB",
)

MIGRATIONS: tuple[Migration, ...] = (V1, V2, V3)
SCHEMA_VERSION = len(MIGRATIONS)
TABLES = ("meta", "card_wraps", "records", "fse_ranges", "fse_numbers", "fses", "traces")


def apply_migrations(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database to ``len(migrations)``, one transaction per step.
    Returns the resulting version. ``conn`` must be in autocommit mode
    (isolation_level=None) so the BEGIN/COMMIT here are the only ones."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > len(migrations):
        raise StoreTooNew(f"database schema {current} > supported {len(migrations)}")
    for version in range(current + 1, len(migrations) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in migrations[version - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {int(version)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(migrations)
