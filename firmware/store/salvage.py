"""Salvage export of a damaged store, and the office's way to read it.

When the start-up integrity check fails, :func:`export_readable` runs before
anything else touches the file: it copies the database and its WAL aside,
reads every row it still can, table by table and, where a table scan breaks,
row by row, and writes them to one CBOR file (RFC 8949). Payloads stay sealed:
the export is as confidential as the store. The office opens it with its
X25519 private key (:func:`open_export`), through the key bundle the unit
sealed to it at pairing. Format: docs/store.md, "Salvage export".
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from . import crypto
from .database import sync_directory
from .schema import TABLES

FORMAT = "opentla-salvage/1"
MAX_PROBE_ROWID = 200_000


def _read_table(conn: sqlite3.Connection, table: str, errors: list[str]) -> list[dict]:
    try:
        cur = conn.execute(f"SELECT rowid AS _rowid, * FROM {table}")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]
    except sqlite3.Error as exc:
        errors.append(f"{table}: scan failed ({exc}); probing row by row")
    rows: list[dict] = []
    try:
        top = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.Error:
        top = MAX_PROBE_ROWID
    for rowid in range(1, min(top, MAX_PROBE_ROWID) + 1):
        try:
            cur = conn.execute(f"SELECT rowid AS _rowid, * FROM {table} WHERE rowid = ?", (rowid,))
            names = [d[0] for d in cur.description]
            row = cur.fetchone()
        except sqlite3.Error:
            continue
        if row is not None:
            rows.append(dict(zip(names, row, strict=True)))
    return rows


def read_everything(path: str) -> dict:
    """Everything readable from ``path`` (+ its WAL), as a plain dict."""
    errors: list[str] = []
    tables: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="opentla-salvage-") as tmp:
        copy = os.path.join(tmp, "copy.db")
        shutil.copyfile(path, copy)
        for suffix in ("-wal",):
            if os.path.exists(path + suffix):
                shutil.copyfile(path + suffix, copy + suffix)
        try:
            conn = sqlite3.connect(copy, isolation_level=None)
        except sqlite3.Error as exc:
            return {"format": FORMAT, "tables": {}, "errors": [f"open failed: {exc}"]}
        try:
            for table in TABLES:
                tables[table] = _read_table(conn, table, errors)
        finally:
            conn.close()
    return {"format": FORMAT, "tables": tables, "errors": errors}


def export_readable(path: str, export_dir: str, made_at: float) -> str:
    """Write the salvage export next to the store (or in ``export_dir``) and
    return its path. The export is synced before this returns."""
    data = read_everything(path)
    data["source"] = os.path.basename(path)
    data["made_at"] = made_at
    os.makedirs(export_dir, exist_ok=True)
    out = os.path.join(export_dir, f"salvage-{int(made_at)}-{os.getpid()}.cbor")
    with os.fdopen(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        cbor2.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    sync_directory(export_dir)
    return out


@dataclass
class Salvaged:
    """What the office recovered: opened payloads by kind and id, plus the
    plain metadata rows and the errors met on the way."""

    fses: dict[str, bytes] = field(default_factory=dict)
    records: dict[tuple[str, str], bytes] = field(default_factory=dict)
    fse_rows: list[dict] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def open_export(data: dict, office_private: X25519PrivateKey) -> Salvaged:
    """Open a salvage export (the dict from the CBOR file, or
    :func:`read_everything`) with the office's private key."""
    meta = {row["key"]: row["value"] for row in data["tables"].get("meta", [])}
    if "unit_id" not in meta or "office_wrap" not in meta:
        raise crypto.RecordUnreadable("export holds no key material for the office")
    bundle = crypto.open_for_office(meta["office_wrap"], office_private, meta["unit_id"])
    out = Salvaged(errors=list(data.get("errors", [])))
    for row in data["tables"].get("fses", []):
        out.fse_rows.append({k: v for k, v in row.items() if k != "blob"})
        try:
            out.fses[row["fse_id"]] = crypto.open_record(bundle, "fse", row["fse_id"], row["blob"])
        except (crypto.RecordUnreadable, KeyError, TypeError):
            out.unreadable.append(f"fse:{row.get('fse_id')}")
    for row in data["tables"].get("records", []):
        key = (row.get("kind"), row.get("record_id"))
        try:
            if row.get("sealed_id") is not None:  # schema 3: the office id is sealed (records.py)
                key = (key[0], crypto.open_record(bundle, f"{key[0]}.id", key[1],
                                                  row["sealed_id"]).decode())
            out.records[key] = crypto.open_record(bundle, key[0], key[1], row["blob"])
        except (crypto.RecordUnreadable, KeyError, TypeError, AttributeError):
            out.unreadable.append(f"{key[0]}:{key[1]}")
    return out
