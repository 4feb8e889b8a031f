"""The office database's schema and its migrations, one definition for SQLite and
PostgreSQL (SQLAlchemy Core, https://docs.sqlalchemy.org/en/20/core/).

The base tables (``BASE``) are created when missing, as the first versions of tla
did. Every change after them is a step of ``MIGRATIONS``, applied once each and in
order inside one transaction; ``schema_version`` holds how many were applied (on a
SQLite file written before that table existed, ``PRAGMA user_version`` held it and
still mirrors it, so an older tla refuses a database it does not know). A database
newer than this tla is refused (``db_too_new``), never changed. Never edit a released
step: add one. Tables and states: docs/lots.md §Office database, docs/pj.md.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    select,
    text,
)

metadata = MetaData()


def _pk() -> Column:
    return Column("row_id", Integer, primary_key=True, autoincrement=True)


# ---- base schema (before migrations existed) ---------------------------------------------
meta = Table("meta", metadata, Column("key", Text, primary_key=True),
             Column("value", Text, nullable=False))
units = Table("units", metadata, Column("unit_id", Text, primary_key=True),
              Column("device_key", LargeBinary, nullable=False),
              Column("first_seen", Double, nullable=False))
fses = Table(
    "fses", metadata, _pk(),
    Column("import_id", Text, nullable=False, unique=True),
    Column("unit_id", Text, nullable=False), Column("fse_id", Text, nullable=False),
    Column("billing_number", Text, nullable=False), Column("fse_number", Integer, nullable=False),
    Column("mode", Text, nullable=False), Column("signed_at", Integer, nullable=False),
    Column("date_of_care", Text, nullable=False),
    Column("total_cents", Integer, nullable=False), Column("amo_cents", Integer, nullable=False),
    Column("patient_cents", Integer, nullable=False),
    Column("nir", Text, nullable=False), Column("patient_name", Text, nullable=False),
    Column("seal", LargeBinary, nullable=False), Column("sha256", LargeBinary, nullable=False),
    Column("cose", LargeBinary, nullable=False),
    Column("imported_at", Double, nullable=False), Column("acked_at", Double),
    UniqueConstraint("unit_id", "fse_id"), UniqueConstraint("billing_number", "fse_number"))
vitale_reads = Table(
    "vitale_reads", metadata, _pk(),
    Column("import_id", Text, nullable=False, unique=True),
    Column("unit_id", Text, nullable=False), Column("read_id", Text, nullable=False),
    Column("professional_id", Text, nullable=False), Column("sha256", LargeBinary, nullable=False),
    Column("payload", LargeBinary, nullable=False), Column("imported_at", Double, nullable=False),
    Column("acked_at", Double), UniqueConstraint("unit_id", "read_id"))
traces = Table(
    "traces", metadata, Column("unit_id", Text, primary_key=True),
    Column("trace_id", Integer, primary_key=True, autoincrement=False),
    Column("at", Double, nullable=False), Column("operation", Text, nullable=False),
    Column("duration_s", Double, nullable=False), Column("outcome", Text, nullable=False),
    Column("imported_at", Double, nullable=False))
BASE = (meta, units, fses, vitale_reads, traces)

# ---- step 1: lots, their FSEs, lot numbers per billing number, reference seals -------------
reference_seals = Table(
    "reference_seals", metadata, Column("version", Text, primary_key=True),
    Column("seal", LargeBinary, nullable=False, unique=True),
    Column("added_at", Double, nullable=False))
lot_counters = Table(
    "lot_counters", metadata, Column("billing_number", Text, primary_key=True),
    Column("last_number", Integer, CheckConstraint("last_number BETWEEN 1 AND 999999"),
           nullable=False))
lots = Table(
    "lots", metadata, _pk(),
    Column("billing_number", Text, nullable=False),
    Column("lot_number", Integer, CheckConstraint("lot_number BETWEEN 1 AND 999999"),
           nullable=False),
    Column("regime", Text, nullable=False), Column("caisse", Text, nullable=False),
    Column("fse_count", Integer, nullable=False), Column("total_cents", Integer, nullable=False),
    Column("amo_cents", Integer, nullable=False), Column("amc_cents", Integer, nullable=False),
    Column("seal", LargeBinary, nullable=False), Column("firmware_version", Text),
    Column("claimed_versions", Text, nullable=False, server_default=""),
    Column("status", Text, CheckConstraint(
        "status IN ('ready', 'on_hold', 'accepted', 'rejected')"), nullable=False),
    Column("hold_reason", Text, nullable=False, server_default=""),
    Column("signer", Text, nullable=False), Column("made_at", Double, nullable=False),
    Column("lot_file", LargeBinary, nullable=False), Column("sha256", LargeBinary, nullable=False),
    Column("arl_file", Text), Column("arl_sha256", LargeBinary), Column("arl_at", Double),
    Column("reason_code", Text, nullable=False, server_default=""),
    Column("reason", Text, nullable=False, server_default=""),
    UniqueConstraint("billing_number", "lot_number"))
lot_fses = Table(
    "lot_fses", metadata,
    Column("fse_row", Integer, ForeignKey("fses.row_id"), primary_key=True, autoincrement=False),
    Column("lot_row", Integer, ForeignKey("lots.row_id"), nullable=False),
    Column("status", Text, CheckConstraint("status IN ('in_lot', 'accepted', 'rejected')"),
           nullable=False),
    Column("reason_code", Text, nullable=False, server_default=""),
    Column("reason", Text, nullable=False, server_default=""))
lot_fses_by_lot = Index("lot_fses_by_lot", lot_fses.c.lot_row)

# ---- step 2: supporting documents (PJ, docs/pj.md) ---------------------------------------
pj_documents = Table(
    "pj_documents", metadata, _pk(),
    Column("fse_row", Integer, ForeignKey("fses.row_id"), nullable=False),
    Column("pj_type", Text, nullable=False),
    Column("media_type", Text, nullable=False), Column("file_name", Text, nullable=False),
    Column("pages", Integer, nullable=False), Column("dpi", Integer),  # NULL: vector pages only
    Column("size_bytes", Integer, nullable=False), Column("sha256", LargeBinary, nullable=False),
    Column("content", LargeBinary),  # NULL once purged
    Column("attached_at", Double, nullable=False), Column("purged_at", Double),
    UniqueConstraint("fse_row", "pj_type"))

# bookkeeping, created with the base tables
schema_version = Table("schema_version", metadata,
                       Column("version", Integer, primary_key=True, autoincrement=False))


def _create(*items: Table | Index) -> Callable[[Connection], None]:
    def step(conn: Connection) -> None:
        for item in items:
            item.create(conn)
    return step


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (
    _create(reference_seals, lot_counters, lots, lot_fses),  # 1 (with lot_fses_by_lot)
    _create(pj_documents),  # 2
)


class SchemaTooNew(Exception):
    """The database was migrated by a newer tla (``version`` steps)."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


def migrate(conn: Connection) -> int:
    """Create the base tables if missing and apply the pending MIGRATIONS, inside the
    caller's transaction (which holds the database's write lock: BEGIN IMMEDIATE on
    SQLite, an advisory lock on PostgreSQL). Returns the schema version."""
    sqlite = conn.dialect.name == "sqlite"
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7106)"))  # one migrator at a time
    tables = set(inspect(conn).get_table_names())
    if schema_version.name in tables:
        version = conn.execute(select(schema_version.c.version)).scalar_one()
    elif sqlite:
        version = conn.exec_driver_sql("PRAGMA user_version").scalar_one()
    else:
        version = 0
    if version > len(MIGRATIONS):
        raise SchemaTooNew(version)
    for table in (*BASE, schema_version):
        if table.name not in tables:
            table.create(conn)
    for step in MIGRATIONS[version:]:
        step(conn)
    if schema_version.name not in tables:
        conn.execute(schema_version.insert().values(version=len(MIGRATIONS)))
    elif version != len(MIGRATIONS):
        conn.execute(schema_version.update().values(version=len(MIGRATIONS)))
    if sqlite and version != len(MIGRATIONS):
        conn.exec_driver_sql(f"PRAGMA user_version={len(MIGRATIONS)}")
    return len(MIGRATIONS)
