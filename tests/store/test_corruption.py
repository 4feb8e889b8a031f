"""A damaged database is detected at start, reported, and exported first."""

from __future__ import annotations

import os

import cbor2
import pytest

from firmware.store import Store, StoreCorrupted
from firmware.store.salvage import open_export

from .helpers import open_provisioned

PS = "10101010101"


def _unit(db_path, office, clock, wall, n_fse=30):
    store, proof = open_provisioned(db_path, office, clock=clock, wall_clock=wall)
    store.load_fse_range("R1", PS, 1, 999)
    store.unlock(proof)
    for k in range(n_fse):
        n = store.next_fse_number(PS)
        store.signed_fse(f"F{k}", PS, n, b"cose-%d" % k + os.urandom(600))
    store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def _page_of(path, needle_table):
    import sqlite3

    conn = sqlite3.connect(path)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (needle_table,)).fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    return root, page_size, pages


def test_garbled_pages_are_detected_and_the_rest_exported(db_path, office, clock, wall, tmp_path):
    _unit(db_path, office, clock, wall)
    root, page_size, pages = _page_of(db_path, "traces")
    with open(db_path, "r+b") as fh:  # smash the traces table's root page
        fh.seek((root - 1) * page_size)
        fh.write(b"\xa5" * page_size)
    export_dir = str(tmp_path / "export")
    with pytest.raises(StoreCorrupted) as err:
        Store.open(db_path, clock=clock, wall_clock=wall, export_dir=export_dir)
    assert err.value.code == "store_corrupted"
    assert err.value.message_fr == "Mémoire endommagée"
    assert os.path.dirname(err.value.export_path) == export_dir
    with open(err.value.export_path, "rb") as fh:
        data = cbor2.load(fh)
    assert data["format"] == "opentla-salvage/1"
    salvaged = open_export(data, office)
    assert sorted(salvaged.fses) == sorted(f"F{k}" for k in range(30))
    assert all(salvaged.fses[f"F{k}"].startswith(b"cose-%d" % k) for k in range(30))
    assert any("traces" in e for e in salvaged.errors)


def test_not_a_database_is_detected(db_path, office, clock, wall, tmp_path):
    _unit(db_path, office, clock, wall, n_fse=2)
    with open(db_path, "r+b") as fh:
        fh.write(b"GARBAGE" * 20)  # the 100-byte header is gone
    with pytest.raises(StoreCorrupted) as err:
        Store.open(db_path, clock=clock, wall_clock=wall, export_dir=str(tmp_path / "x"))
    assert os.path.exists(err.value.export_path)
    with open(err.value.export_path, "rb") as fh:
        assert cbor2.load(fh)["errors"]


def test_original_file_is_left_untouched_for_forensics(db_path, office, clock, wall, tmp_path):
    _unit(db_path, office, clock, wall, n_fse=5)
    root, page_size, _ = _page_of(db_path, "fses")
    with open(db_path, "r+b") as fh:
        fh.seek((root - 1) * page_size)  # the b-tree page header
        fh.write(b"\xff" * 12)
    before = open(db_path, "rb").read()
    with pytest.raises(StoreCorrupted):
        Store.open(db_path, clock=clock, wall_clock=wall, export_dir=str(tmp_path / "x"))
    assert open(db_path, "rb").read() == before
