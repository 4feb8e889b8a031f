"""The office database's migrations (host_tools/office_db.MIGRATIONS): an existing
database from before the lot tables keeps its FSEs and gains the tables; a database
newer than this tla is refused, not damaged."""

from __future__ import annotations

import sqlite3

import pytest

from host_tools import office_db
from host_tools.office_db import OfficeDb, OfficeDbError


def test_a_database_from_before_the_lots_gains_the_tables_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(office_db.SCHEMA)  # what tla wrote before migrations existed
    conn.execute("INSERT INTO units VALUES ('TLA-0001', x'00', 1.0)")
    conn.commit()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()
    with OfficeDb(path) as db:
        assert db.conn.execute("PRAGMA user_version").fetchone()[0] == len(office_db.MIGRATIONS)
        tables = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"lots", "lot_fses", "lot_counters", "reference_seals"} <= tables
        assert db.unit_keys() == {"TLA-0001": b"\x00"}
    with OfficeDb(path) as db:  # opening again applies nothing twice
        assert db.conn.execute("PRAGMA user_version").fetchone()[0] == len(office_db.MIGRATIONS)


def test_lot_number_zero_cannot_be_stored(tmp_path):
    with OfficeDb(tmp_path / "o.db") as db, pytest.raises(sqlite3.IntegrityError):
        db.conn.execute("INSERT INTO lot_counters VALUES ('699999025', 0)")


def test_a_newer_database_is_refused(tmp_path):
    path = tmp_path / "new.db"
    with OfficeDb(path) as db:
        db.conn.execute(f"PRAGMA user_version={len(office_db.MIGRATIONS) + 1}")
    with pytest.raises(OfficeDbError) as exc:
        OfficeDb(path)
    assert exc.value.code == "db_too_new"
