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


def test_schema_2_records_move_under_their_key_at_open(tmp_path, office, clock, wall):
    """docs/store.md §Record ids: a unit upgraded from schema 2 keeps its loads and
    the invoice a signed FSE consumed, now stored under keys, office ids sealed."""
    import sqlite3

    from firmware.store import Store

    from .helpers import open_provisioned, put_invoice, put_patient

    path = str(tmp_path / "v2.db")
    old, proof = open_provisioned(path, office, clock=clock, wall_clock=wall)
    put_invoice(old, "INV-PAUL", "111111111", b"invoice of Paul")
    put_patient(old, "PAT-PAUL", b"Paul")
    old.load_fse_range("R1", "111111111", 1, 9)
    old.unlock(proof)
    old.signed_fse("F1", "111111111", old.next_fse_number("111111111"), b"cose",
                   invoice_id="INV-PAUL")
    old.close()
    # back to what the schema-2 firmware wrote: office ids in clear, no id key
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("UPDATE records SET record_id = 'INV-PAUL' WHERE kind = 'invoice'")
        raw.execute("UPDATE records SET record_id = 'PAT-PAUL' WHERE kind = 'patient'")
        raw.execute("UPDATE fses SET invoice_id = 'INV-PAUL'")
        raw.execute("DELETE FROM meta WHERE key = 'id_key'")
    raw.execute("ALTER TABLE records DROP COLUMN sealed_id")
    raw.execute("PRAGMA user_version = 2")
    raw.close()

    store = Store.open(path, clock=clock, wall_clock=wall)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 3
    keys = sorted(r for (r,) in raw.execute("SELECT record_id FROM records"))
    raw.close()
    assert keys == sorted([store.record_key("invoice", "INV-PAUL"),
                           store.record_key("patient", "PAT-PAUL")])
    assert all(k.startswith("k") and len(k) == 33 for k in keys)
    assert store.record_info("invoice", "INV-PAUL").status == "used"
    assert store.fse_info("F1").invoice_key == store.record_key("invoice", "INV-PAUL")
    store.unlock(proof)
    assert store.get_record("patient", "PAT-PAUL") == b"Paul"  # payload still opens
    assert [r.record_id for r in store.list_records("patient")] == ["PAT-PAUL"]
    store.close()
