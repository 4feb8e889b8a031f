"""Schema versioning: each migration and its user_version commit together."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3

import pytest

from firmware.store import StoreTooNew
from firmware.store.schema import MIGRATIONS, SCHEMA_VERSION, apply_migrations

V2 = (
    "ALTER TABLE fses ADD COLUMN lot_number INTEGER",
    "CREATE TABLE lots (lot_id TEXT PRIMARY KEY)",
    "UPDATE fses SET lot_number = 0",
)


def _version(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def _tables(path):
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def _open(path):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def test_fresh_database_reaches_current_version(tmp_path):
    path = str(tmp_path / "m.db")
    conn = _open(path)
    assert apply_migrations(conn) == SCHEMA_VERSION
    conn.close()
    assert _version(path) == SCHEMA_VERSION
    assert {"fses", "fse_numbers", "records", "meta"} <= _tables(path)


def test_failing_step_leaves_old_schema_and_version(tmp_path):
    path = str(tmp_path / "m.db")
    conn = _open(path)
    apply_migrations(conn)
    broken = (*MIGRATIONS, ("CREATE TABLE lots (lot_id TEXT)", "THIS IS NOT SQL"))
    with pytest.raises(sqlite3.OperationalError):
        apply_migrations(conn, broken)
    conn.close()
    assert _version(path) == SCHEMA_VERSION
    assert "lots" not in _tables(path)
    conn = _open(path)
    assert apply_migrations(conn, (*MIGRATIONS, V2)) == SCHEMA_VERSION + 1
    conn.close()
    assert _version(path) == SCHEMA_VERSION + 1 and "lots" in _tables(path)


def _migrate_and_die(path, kill_after):
    conn = _open(path)
    count = [0]

    def handler():
        count[0] += 1
        if count[0] >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return 0

    conn.set_progress_handler(handler, 1)
    apply_migrations(conn, (*MIGRATIONS, V2))
    os._exit(0)


def test_sigkill_at_every_point_of_a_migration(tmp_path):
    """Kill the process after k SQLite VM steps, for every k until the
    migration completes: the file always holds v1 or v2, never a mix."""
    ctx = multiprocessing.get_context("fork")
    outcomes = set()
    for kill_after in range(1, 400, 3):
        path = str(tmp_path / f"m{kill_after}.db")
        conn = _open(path)
        apply_migrations(conn)
        conn.close()
        proc = ctx.Process(target=_migrate_and_die, args=(path, kill_after))
        proc.start()
        proc.join()
        version, tables = _version(path), _tables(path)
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        cols = {r[1] for r in conn.execute("PRAGMA table_info(fses)")}
        conn.close()
        old, new = SCHEMA_VERSION, SCHEMA_VERSION + 1
        assert (version, "lots" in tables, "lot_number" in cols) in {(old, False, False),
                                                                      (new, True, True)}
        outcomes.add(version)
        if proc.exitcode == 0:
            break
    assert outcomes == {SCHEMA_VERSION, SCHEMA_VERSION + 1}  # both sides of the commit were exercised


def test_newer_database_is_refused(tmp_path):
    path = str(tmp_path / "m.db")
    conn = _open(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreTooNew):
        apply_migrations(conn)
    conn.close()
