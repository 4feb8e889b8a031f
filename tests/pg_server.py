"""A throwaway PostgreSQL server for the tests: ``initdb`` in a temporary directory,
``pg_ctl start`` listening on a Unix socket only (no TCP port), stopped at the end.

The binaries come from the Debian ``postgresql`` package (/usr/lib/postgresql/N/bin,
scripts/test-deps.sh installs it). PostgreSQL refuses to run as root: as root the
server runs as the ``postgres`` user (``runuser``). fsync is off: these databases are
thrown away, and durability is PostgreSQL's own business, not what the tests check
(exactly-once under concurrency, the schema, the queries).
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path


class PgUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PgUnavailable("no PostgreSQL server binaries (initdb, pg_ctl): install the "
                        "Debian package postgresql (scripts/test-deps.sh does)")


class PgServer:
    """``durable=False`` (the tests): fsync off. bench/office.py keeps PostgreSQL's
    defaults (fsync on, synchronous_commit on), as an office server runs."""

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable
        self.bin = bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="opentla-pg-"))
        self.port = random.randint(20000, 60000)
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else os.environ.get("USER", "postgres")
        self.started = False

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr[-2000:]}")

    def start(self) -> PgServer:
        if self.as_root:
            shutil.chown(self.dir, "postgres")
        data = self.dir / "data"
        self._run("initdb", "-D", str(data), "-U", self.user, "--auth=trust",
                  *(() if self.durable else ("-N",)), "-E", "UTF8", "--locale=C")
        options = f"-k {self.dir} -p {self.port} -c listen_addresses='' -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.dir / "log"),
                  "-w", "start")
        self.started = True
        return self

    def stop(self) -> None:
        if self.started:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def admin(self):
        import psycopg

        return psycopg.connect(host=str(self.dir), port=self.port, user=self.user,
                               dbname="postgres", autocommit=True)

    def empty(self, url: str) -> None:
        """Delete every row of an office database made here (not its schema version) and
        restart its row ids at 1: much faster than a new database for each test."""
        from sqlalchemy import create_engine

        from host_tools import office_schema
        from host_tools.office_db import database_url

        engine = create_engine(database_url(url))
        try:
            with engine.begin() as conn:
                for table in reversed(office_schema.metadata.sorted_tables):
                    if table is office_schema.schema_version:
                        continue
                    conn.execute(table.delete())
                    if "row_id" in table.c:
                        conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence("
                                             f"'{table.name}', 'row_id'), 1, false)")
        finally:
            engine.dispose()

    def new_database(self) -> str:
        """A fresh empty database; returns its URL (``postgresql://``, the tla form)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://{self.user}@/{name}?host={self.dir}&port={self.port}"
