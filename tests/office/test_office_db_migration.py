"""The office database's migrations (host_tools/office_schema.MIGRATIONS): a SQLite file
written by an earlier tla keeps its rows and gains the new tables; a database newer
than this tla is refused, not damaged; both backends get the same tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from host_tools import office_lots, office_schema
from host_tools.office_db import OfficeDb, OfficeDbError

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA_1_TABLES = {"meta", "units", "fses", "vitale_reads", "traces", "reference_seals",
                   "lot_counters", "lots", "lot_fses"}


def old_db(tmp_path, drop_lot_tables=False) -> Path:
    """office_v1.sql: a database written by tla before this port (schema 1)."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript((FIXTURES / "office_v1.sql").read_text())
    if drop_lot_tables:  # what tla wrote before migrations existed (schema 0)
        conn.executescript("DROP TABLE lot_fses; DROP TABLE lots; DROP TABLE lot_counters; "
                           "DROP TABLE reference_seals; PRAGMA user_version=0;")
    conn.close()
    return path


def version_of(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    try:
        return (conn.execute("SELECT version FROM schema_version").fetchone()[0],
                conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_a_schema_1_database_keeps_its_rows_and_gains_the_pj_table(tmp_path):
    path = old_db(tmp_path)
    with OfficeDb(path) as db:
        assert db.db_id == "ddde5605d23b578e"  # import ids stay what they were
        assert [(r["fse_id"], r["acked_at"]) for r in db.fses()] == [
            ("F699999025-1", 1773310000.31), ("F699999025-2", None)]
        assert db.unit_keys() == {"TLA-0001": b"\x00\x11"}
        assert [(r["lot_number"], r["status"]) for r in office_lots.lots(db)] == [(7, "ready")]
        assert office_lots.last_lot_numbers(db) == {"699999025": 7}
        assert office_lots.reference_seals(db) == {"0.1.0": b"\x00"}
        assert [f["fse_number"] for f in office_lots.lot_fses(db, 1)] == [1]
        assert db.last_trace_id("TLA-0001") == 5
        with db.read() as c:
            assert "pj_documents" in inspect(c).get_table_names()
    assert version_of(path) == (2, 2)
    with OfficeDb(path) as db:  # opening again applies nothing twice
        assert len(db.fses()) == 2
    assert version_of(path) == (2, 2)


def test_a_database_from_before_the_lots_gains_every_table(tmp_path):
    path = old_db(tmp_path, drop_lot_tables=True)
    with OfficeDb(path) as db:
        with db.read() as c:
            assert SCHEMA_1_TABLES | {"pj_documents"} <= set(inspect(c).get_table_names())
        assert len(db.fses()) == 2 and office_lots.lots(db) == []
    assert version_of(path) == (2, 2)


def test_both_backends_have_the_same_tables_and_columns(tmp_path, pg_url):
    shapes = []
    for where in (str(tmp_path / "new.db"), pg_url):
        with OfficeDb(where) as db, db.read() as c:
            insp = inspect(c)
            shapes.append({t: [col["name"] for col in insp.get_columns(t)]
                           for t in insp.get_table_names()})
            assert c.execute(select(office_schema.schema_version.c.version)).scalar_one() == len(
                office_schema.MIGRATIONS)
    assert shapes[0] == shapes[1]
    assert set(shapes[0]) == SCHEMA_1_TABLES | {"pj_documents", "schema_version"}


def test_lot_number_zero_cannot_be_stored(db):
    with pytest.raises(IntegrityError), db.begin() as c:
        c.execute(office_schema.lot_counters.insert().values(billing_number="699999025",
                                                             last_number=0))
    assert office_lots.last_lot_numbers(db) == {}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_newer_database_is_refused(request, tmp_path, backend):
    where = str(tmp_path / "o.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    with OfficeDb(where) as db, db.begin() as c:
        c.execute(office_schema.schema_version.update().values(
            version=len(office_schema.MIGRATIONS) + 1))
    with pytest.raises(OfficeDbError) as exc:
        OfficeDb(where)
    assert exc.value.code == "db_too_new"


def test_an_older_tla_refuses_the_migrated_sqlite_file(tmp_path):
    """user_version still counts the steps: tla before the port (1 step) says db_too_new."""
    path = old_db(tmp_path)
    OfficeDb(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] > 1
    conn.close()


def test_sqlite_durability_settings(tmp_path):
    with OfficeDb(tmp_path / "o.db") as db, db.read() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
