"""SQLite connection set-up, transactions and start-up checks.

Durability settings (https://sqlite.org/pragma.html, https://sqlite.org/wal.html):
- ``journal_mode=WAL``: a commit appends frames to the write-ahead log; readers
  never see a half-written transaction; recovery replays only frames whose
  checksums chain up to a commit frame.
- ``synchronous=FULL``: the WAL is fsync'd at every commit, so a transaction
  is on the medium before ``COMMIT`` returns (NORMAL would only sync at
  checkpoints and could lose the last commits on power loss).
- ``secure_delete=ON``: deleted (purged) rows are overwritten with zeros.
- ``wal_autocheckpoint=0``: no checkpoint inside a commit; the store
  checkpoints off the signature path (store.py, ``checkpoint``), so a signed
  FSE's commit is one WAL append + one sync and nothing else.
- ``max_page_count``: the hard size budget; SQLite refuses to grow past it
  with SQLITE_FULL instead of filling the SD card.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import StoreError, StoreFull, StoreIOError


def connect(path: str, budget_bytes: int | None = None) -> sqlite3.Connection:
    """Open ``path`` in WAL/FULL mode. Creating a new file also syncs its
    directory so the file's existence itself is durable."""
    new = not os.path.exists(path)
    private_files(path)
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreIOError(f"cannot enable WAL (got {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute(f"PRAGMA journal_size_limit = {4 * 1024 * 1024}")
        if budget_bytes is not None:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {max(16, budget_bytes // page_size)}")
    except BaseException:
        conn.close()
        raise
    if new:
        sync_directory(os.path.dirname(os.path.abspath(path)))
    return conn


def private_files(path: str) -> None:
    """The database, its WAL and its shared-memory index are the owner's only
    (0600). SQLite creates ``-wal`` and ``-shm`` with the mode of the database
    file (os_unix.c, findCreateFileMode), so creating the database 0600 before
    SQLite opens it is enough; files left 0644 by an older firmware are fixed."""
    if not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for name in (path, path + "-wal", path + "-shm"):
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except FileNotFoundError:
            pass


def sync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_integrity(conn: sqlite3.Connection, full: bool = False) -> list[str]:
    """Run ``PRAGMA quick_check`` (or ``integrity_check`` if ``full``) and
    return the problems found (empty when the database is sound). quick_check
    skips index/table content cross-checks and is O(N) instead of O(N log N);
    bench/store.py measures both."""
    pragma = "integrity_check" if full else "quick_check"
    rows = [row[0] for row in conn.execute(f"PRAGMA {pragma}").fetchall()]
    return [] if rows == ["ok"] else rows


def translate(exc: sqlite3.Error) -> StoreError:
    """Map a SQLite failure to the store's error vocabulary."""
    text = str(exc).lower()
    if "full" in text:
        return StoreFull("database budget reached")
    if isinstance(exc, sqlite3.IntegrityError):
        return StoreError(f"constraint violated: {exc}", code="store_constraint")
    return StoreIOError(f"sqlite: {exc}")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: BEGIN IMMEDIATE takes the write lock up front;
    COMMIT returns only after the WAL is synced (synchronous=FULL)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise translate(exc) from exc
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        if isinstance(exc, sqlite3.Error):
            raise translate(exc) from exc
        raise
