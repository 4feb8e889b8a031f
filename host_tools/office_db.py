"""The office's database of imported FSEs, Vitale reads and traces: a SQLite file by
default, or a PostgreSQL database shared by several office PCs (SQLAlchemy Core;
schema and migrations: host_tools/office_schema.py; docs/lots.md §Office database).

Where: ``--db`` (a path, ``sqlite:///PATH`` or ``postgresql://USER@HOST/DB``), else
``$OPENTLA_DB``, else ``$OPENTLA_HOME/office.db`` or ``~/.local/share/opentla/office.db``.

Durability: on SQLite a WAL journal with ``synchronous=FULL`` (every commit is fsync'd
before it returns, https://sqlite.org/pragma.html#pragma_synchronous) and foreign keys
on; PostgreSQL commits durably by default (``synchronous_commit=on``). The office
acknowledges a record to the unit only after the transaction holding it committed.

Exactly once: an FSE's identity is (unit_id, fse_id), UNIQUE. Importing the same
bytes again returns the existing row (``duplicate``); other bytes under the same
identity, or another FSE with the same (billing_number, fse_number), are refused
(``conflict``) and never overwrite what is stored. Rows go in with ``INSERT ... ON
CONFLICT DO NOTHING`` and what did not go in is read back in the same transaction, so
two office PCs importing the same FSEs into one PostgreSQL database at the same time
store each once (the second waits on the unique index, then finds the first's row).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    event,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from . import office_schema as s

TRACE_FIELDS = ("unit_id", "trace_id", "at", "operation", "duration_s", "outcome")
FSE_FIELDS = ("import_id", "unit_id", "fse_id", "billing_number", "fse_number", "mode",
              "signed_at", "date_of_care", "total_cents", "amo_cents", "patient_cents", "nir",
              "patient_name", "imported_at", "acked_at")
MIGRATIONS = s.MIGRATIONS
RETRIES = 5  # PostgreSQL deadlock / serialization failure: the transaction is run again
_RETRY_STATES = {"40001", "40P01"}


class OfficeDbError(Exception):
    """A refusal of the office database; ``code`` is stable, the message English."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Imported:
    import_id: str
    duplicate: bool  # already there from an earlier run (same bytes)


@dataclass(frozen=True)
class NewFse:
    """A verified FSE to import: its record id on the unit, bytes, payload (the whole
    verified payload, or its :func:`stored_part`) and seal."""

    fse_id: str
    cose: bytes
    payload: dict
    seal: bytes


# what _fse_row reads of a payload (stored_part keeps these)
_STORED_TOP = ("billing_number", "fse_number", "mode", "signed_at", "date_of_care")
_STORED_AMOUNTS = ("total_cents", "amo_cents", "patient_cents")
_STORED_BENEFICIARY = ("nir", "nir_key", "name", "first_name")


def stored_part(payload: dict) -> dict:
    """What :meth:`OfficeDb.import_fses` reads of a verified payload, in the payload's
    own shape (the rest stays in the stored COSE bytes). A batch waiting for its
    transaction holds this rather than the whole payload: one map whose two inner maps
    hold plain values (untracked by Python's garbage collector), where a thousand
    payload trees (some thirty maps and lists each) make it rescan them again and
    again while the batch fills (this cuts the collector's time in an import by about
    a third)."""
    amounts, ben = payload["amounts"], payload["beneficiary"]
    return {key: payload[key] for key in _STORED_TOP} | {
        "amounts": {key: amounts[key] for key in _STORED_AMOUNTS},
        "beneficiary": {key: ben[key] for key in _STORED_BENEFICIARY}}


def default_path() -> Path:
    home = os.environ.get("OPENTLA_HOME")
    return (Path(home) if home else Path.home() / ".local" / "share" / "opentla") / "office.db"


def database_url(location: str | Path | None = None) -> URL:
    """The SQLAlchemy URL of ``location`` (path or URL), ``$OPENTLA_DB``, or the default
    path. ``postgresql://`` means the psycopg (3) driver."""
    where = str(location) if location else os.environ.get("OPENTLA_DB") or str(default_path())
    if "://" not in where:
        return URL.create("sqlite", database=str(Path(where).expanduser()))
    try:
        url = make_url(where)
    except ArgumentError:
        raise OfficeDbError("db_url", f"not a database URL: {where!r}") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise OfficeDbError("db_url", f"{url.get_backend_name()}: the office database is "
                            "SQLite (a path) or PostgreSQL (postgresql://...)")
    return url


def shown(url: URL) -> str:
    """The URL as messages show it: a path for SQLite, no password."""
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def _sqlite_engine(url: URL) -> Engine:
    if url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we send BEGIN ourselves (below)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # writers take the write lock at BEGIN, so two never interleave read-then-write
        read_only = conn.get_execution_options().get("office_read", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


class OfficeDb:
    def __init__(self, location: str | Path | None = None) -> None:
        self.url = database_url(location)
        self.dialect = self.url.get_backend_name()
        self.path = Path(self.url.database) if self.dialect == "sqlite" and self.url.database \
            else None
        self.location = str(self.path) if self.path else self.url.render_as_string(False)
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(self.url)
        else:
            self.engine = create_engine(self.url, isolation_level="READ COMMITTED",
                                        pool_size=2)
        self._reader = self.engine.execution_options(office_read=True)
        self._fse_insert: tuple[str, itemgetter | None] | None = None  # _insert_fses
        try:
            with self.begin() as c:
                s.migrate(c)
                c.execute(self.insert_ignore(s.meta).values(key="db_id",
                                                           value=os.urandom(8).hex()))
                self.db_id = c.execute(select(s.meta.c.value).where(
                    s.meta.c.key == "db_id")).scalar_one()
        except s.SchemaTooNew as exc:
            self.engine.dispose()
            raise OfficeDbError("db_too_new", f"office database schema {exc.version} is newer "
                                f"than this tla ({len(MIGRATIONS)}): update tla") from None
        except BaseException:
            self.engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> OfficeDb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transactions -------------------------------------------------------------------
    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One write transaction, committed (durably) when the block ends."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read-only transaction (a consistent snapshot on SQLite's WAL)."""
        with self._reader.begin() as conn:
            yield conn

    def retrying(self, work):
        """``work(conn)`` in a write transaction, run again when PostgreSQL aborted it
        for a deadlock or a serialization failure (two office PCs at once)."""
        attempt = 0
        while True:
            try:
                with self.begin() as conn:
                    return work(conn)
            except DBAPIError as exc:
                attempt += 1
                if getattr(exc.orig, "sqlstate", None) not in _RETRY_STATES \
                        or attempt >= RETRIES:
                    raise
                time.sleep(0.01 * attempt)

    def insert_ignore(self, table):
        """``INSERT ... ON CONFLICT DO NOTHING`` (both SQLite and PostgreSQL)."""
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table).on_conflict_do_nothing()

    def import_id(self, kind: str, unit_id: str, record_id: str) -> str:
        """Deterministic per database and record, 1-64 of [A-Za-z0-9._:-] (the unit's rule)."""
        digest = hashlib.sha256(f"{self.db_id}\0{kind}\0{unit_id}\0{record_id}".encode())
        return f"{kind[0]}-{digest.hexdigest()[:40]}"

    # ---- units ------------------------------------------------------------------------
    def remember_unit(self, unit_id: str, device_key: bytes) -> None:
        """Trust on first unload over an authenticated session; a changed key is refused."""
        with self.begin() as c:
            c.execute(self.insert_ignore(s.units).values(
                unit_id=unit_id, device_key=device_key, first_seen=time.time()))
            known = c.execute(select(s.units.c.device_key).where(
                s.units.c.unit_id == unit_id)).scalar_one()
        if known != device_key:
            raise OfficeDbError("unit_key_changed",
                                f"unit {unit_id} now signs with another device key; refusing")

    def unit_keys(self) -> dict[str, bytes]:
        with self.read() as c:
            return {u: k for u, k in c.execute(select(s.units.c.unit_id, s.units.c.device_key))}

    # ---- FSEs ---------------------------------------------------------------------------
    def known_fses(self, unit_id: str) -> dict[str, str]:
        """fse_id -> import_id of every FSE imported from ``unit_id``."""
        f = s.fses.c
        with self.read() as c:
            return {r: i for r, i in c.execute(select(f.fse_id, f.import_id).where(
                f.unit_id == unit_id))}

    def import_fse(self, unit_id: str, fse_id: str, cose: bytes, payload: dict,
                   seal: bytes) -> Imported:
        """Store one verified FSE (see the module docstring); refusals raise."""
        [result] = self.import_fses(unit_id, [NewFse(fse_id, cose, payload, seal)])
        if isinstance(result, OfficeDbError):
            raise result
        return result

    def import_fses(self, unit_id: str, items: Sequence[NewFse]) -> list[Imported | OfficeDbError]:
        """Store verified FSEs of one unit in one transaction (one fsync for the batch);
        returns, per item, its import (new or duplicate) or why it was refused."""
        rows = [self._fse_row(unit_id, item) for item in items]
        if not rows:
            return []
        ordered = sorted(rows, key=lambda r: r["fse_id"])  # same lock order on every PC
        return self.retrying(lambda c: self._import_rows(c, unit_id, rows, ordered))

    def _fse_row(self, unit_id: str, item: NewFse) -> dict:
        amounts, ben = item.payload["amounts"], item.payload["beneficiary"]
        return {"import_id": self.import_id("fse", unit_id, item.fse_id), "unit_id": unit_id,
                "fse_id": item.fse_id, "billing_number": item.payload["billing_number"],
                "fse_number": item.payload["fse_number"], "mode": item.payload["mode"],
                "signed_at": item.payload["signed_at"],
                "date_of_care": item.payload["date_of_care"],
                "total_cents": amounts["total_cents"], "amo_cents": amounts["amo_cents"],
                "patient_cents": amounts["patient_cents"], "nir": ben["nir"] + ben["nir_key"],
                "patient_name": f"{ben['name']} {ben['first_name']}".strip(), "seal": item.seal,
                "sha256": hashlib.sha256(item.cose).digest(), "cose": item.cose,
                "imported_at": time.time(), "acked_at": None}

    def _stored(self, c: Connection, unit_id: str, ids: list[str]) -> dict[str, tuple[str, bytes]]:
        """fse_id -> (import_id, sha256) of those of ``ids`` already stored for ``unit_id``."""
        out: dict[str, tuple[str, bytes]] = {}
        for start in range(0, len(ids), 500):
            out.update({fid: (imp, digest) for fid, imp, digest in c.execute(
                _STORED, {"unit": unit_id, "ids": ids[start:start + 500]})})
        return out

    def _insert_new(self, c: Connection, unit_id: str, ordered: list[dict]) -> set[str]:
        """Insert what is not stored yet; returns the import ids this transaction stored.
        When the driver counts as many rows inserted as were sent, all of them are this
        transaction's (a row skipped on a conflict is not counted: sqlite3 and psycopg
        sum the rows of an executemany); otherwise they are found as below."""
        if self.dialect == "postgresql":
            # other office PCs insert meanwhile: the rows this transaction wrote are those
            # whose xmin is its own transaction id (a plain executemany, pipelined by
            # psycopg, is several times cheaper than an INSERT ... RETURNING of a batch)
            if self._insert_fses(c, ordered) == len(ordered):
                return {r["import_id"] for r in ordered}
            return set(c.execute(_MINE, {"unit": unit_id,
                                         "ids": [r["fse_id"] for r in ordered]}).scalars())
        # SQLite: BEGIN IMMEDIATE holds the only write lock, so what is not there before
        # the insert and is there after it was stored by this transaction (and a plain
        # executemany is several times cheaper than an INSERT ... RETURNING of a batch)
        before = self._stored(c, unit_id, [r["fse_id"] for r in ordered])
        fresh = [r for r in ordered if r["fse_id"] not in before]
        if not fresh:
            return set()
        if self._insert_fses(c, fresh) == len(fresh):
            return {r["import_id"] for r in fresh}
        after = self._stored(c, unit_id, [r["fse_id"] for r in fresh])
        return {r["import_id"] for r in fresh if r["fse_id"] in after}

    def _insert_fses(self, c: Connection, rows: list[dict]) -> int:
        """``INSERT ... ON CONFLICT DO NOTHING`` of FSE rows as one executemany handed
        straight to the driver: SQLAlchemy compiles the statement once for this
        dialect; its per-row parameter processing (most of the CPU of storing a batch)
        is left out, the values being the driver's own types already (str, int,
        float, bytes, None: ``_fse_row``). Returns the rows the driver counts inserted."""
        if self._fse_insert is None:
            compiled = self.insert_ignore(s.fses).compile(dialect=self.engine.dialect,
                                                          column_keys=list(rows[0]))
            order = itemgetter(*compiled.positiontup) if compiled.positiontup else None
            self._fse_insert = (str(compiled), order)
        sql, order = self._fse_insert
        return c.exec_driver_sql(sql, list(map(order, rows)) if order else rows).rowcount

    def _import_rows(self, c: Connection, unit_id: str, rows: list[dict],
                     ordered: list[dict]) -> list[Imported | OfficeDbError]:
        f = s.fses.c
        new = self._insert_new(c, unit_id, ordered)
        # what did not go in: the same FSE before (or from another office PC), or a clash
        stored = self._stored(c, unit_id, [r["fse_id"] for r in rows
                                           if r["import_id"] not in new])
        out: list[Imported | OfficeDbError] = []
        for row in rows:
            fse_id = row["fse_id"]
            if row["import_id"] in new:
                out.append(Imported(row["import_id"], False))
                new.discard(row["import_id"])
                # the same FSE again later in this batch: compared with this row, as with
                # a row stored before
                stored[fse_id] = (row["import_id"], row["sha256"])
            elif fse_id in stored:
                imp, digest = stored[fse_id]
                out.append(Imported(imp, True) if digest == row["sha256"] else OfficeDbError(
                    "fse_conflict", f"FSE {fse_id} of {unit_id} was imported before with "
                    "other content; kept the first"))
            else:
                clash = c.execute(select(f.unit_id, f.fse_id).where(
                    f.billing_number == row["billing_number"],
                    f.fse_number == row["fse_number"])).first()
                where = f"as {clash[1]} from {clash[0]}" if clash else "meanwhile"
                out.append(OfficeDbError("fse_number_conflict", f"FSE number "
                           f"{row['fse_number']} of {row['billing_number']} already imported "
                           f"{where}"))
        return out

    def unacked(self, table: str, unit_id: str) -> dict[str, str]:
        """Record id -> import id of ``unit_id``'s rows not yet marked acknowledged."""
        t = _ack_table(table)
        rid = t.c.fse_id if t is s.fses else t.c.read_id
        with self.read() as c:
            return {r: i for r, i in c.execute(select(rid, t.c.import_id).where(
                t.c.unit_id == unit_id, t.c.acked_at.is_(None)))}

    def mark_acked(self, table: str, import_ids: list[str]) -> None:
        """The unit has these records acknowledged (one durable transaction)."""
        t = _ack_table(table)
        if not import_ids:
            return
        now = time.time()
        with self.begin() as c:
            for start in range(0, len(import_ids), 500):
                c.execute(update(t).where(t.c.import_id.in_(import_ids[start:start + 500]),
                                          t.c.acked_at.is_(None)).values(acked_at=now))

    def fses(self) -> list[dict]:
        cols = [s.fses.c[k] for k in FSE_FIELDS]
        with self.read() as c:
            return [dict(r._mapping) for r in c.execute(select(*cols).order_by(s.fses.c.row_id))]

    def fse(self, key: str) -> tuple[dict, bytes]:
        """One FSE by import id or FSE id; returns (fields, COSE bytes)."""
        f = s.fses.c
        cols = [s.fses.c[k] for k in FSE_FIELDS]
        with self.read() as c:
            rows = c.execute(select(*cols, f.cose).where(
                (f.import_id == key) | (f.fse_id == key))).all()
        if not rows:
            raise OfficeDbError("fse_unknown", f"no imported FSE {key}")
        if len(rows) > 1:
            raise OfficeDbError("fse_ambiguous", f"{key} names several FSEs; use the import id")
        fields = dict(rows[0]._mapping)
        return {k: fields[k] for k in FSE_FIELDS}, fields["cose"]

    # ---- Vitale reads -----------------------------------------------------------------------
    def import_vitale_read(self, unit_id: str, read_id: str, professional_id: str,
                           payload: bytes) -> Imported:
        digest = hashlib.sha256(payload).digest()
        import_id = self.import_id("vitale", unit_id, read_id)
        v = s.vitale_reads.c

        def work(c: Connection) -> tuple[str, bytes, bool]:
            added = c.execute(self.insert_ignore(s.vitale_reads).values(
                import_id=import_id, unit_id=unit_id, read_id=read_id,
                professional_id=professional_id, sha256=digest, payload=payload,
                imported_at=time.time()).returning(v.import_id)).scalar()
            imp, stored = c.execute(select(v.import_id, v.sha256).where(
                v.unit_id == unit_id, v.read_id == read_id)).one()
            return imp, stored, added is None

        imp, stored, duplicate = self.retrying(work)
        if stored != digest:
            raise OfficeDbError("vitale_conflict", f"Vitale read {read_id} differs from the "
                                "one imported before; kept the first")
        return Imported(imp, duplicate)

    def vitale_reads(self) -> list[dict]:
        fields = ("import_id", "unit_id", "read_id", "professional_id", "imported_at", "acked_at")
        v = s.vitale_reads.c
        with self.read() as c:
            return [dict(r._mapping) for r in c.execute(
                select(*(v[k] for k in fields)).order_by(v.row_id))]

    # ---- traces (DESIGN.md §4.7) ------------------------------------------------------------
    def last_trace_id(self, unit_id: str) -> int:
        """The highest trace id imported from ``unit_id`` (0: none): where a fetch resumes."""
        from sqlalchemy import func

        t = s.traces.c
        with self.read() as c:
            return int(c.execute(select(func.max(t.trace_id)).where(
                t.unit_id == unit_id)).scalar() or 0)

    def import_traces(self, unit_id: str, rows: list[tuple[int, float, str, float, str]]) -> int:
        """Store ``(trace_id, at, operation, duration_s, outcome)`` rows of one unit in one
        transaction; a (unit, trace id) already there is kept as it was. Returns how
        many rows were new."""
        if not rows:
            return 0
        now = time.time()
        values = [dict(zip(TRACE_FIELDS, (unit_id, *row), strict=True), imported_at=now)
                  for row in sorted(rows)]
        stmt = self.insert_ignore(s.traces).returning(s.traces.c.trace_id)
        return self.retrying(lambda c: len(c.execute(stmt, values).all()))

    def traces(self, unit_id: str | None = None) -> list[dict]:
        """Imported traces (of one unit, or all), by unit then trace id."""
        t = s.traces.c
        stmt = select(*(t[k] for k in TRACE_FIELDS)).order_by(t.unit_id, t.trace_id)
        if unit_id:
            stmt = stmt.where(t.unit_id == unit_id)
        with self.read() as c:
            return [dict(r._mapping) for r in c.execute(stmt)]


_STORED = select(s.fses.c.fse_id, s.fses.c.import_id, s.fses.c.sha256).where(
    s.fses.c.unit_id == bindparam("unit"), s.fses.c.fse_id.in_(bindparam("ids", expanding=True)))


_MINE = select(s.fses.c.import_id).where(
    s.fses.c.unit_id == bindparam("unit"), s.fses.c.fse_id.in_(bindparam("ids", expanding=True)),
    text("fses.xmin::text::bigint = pg_current_xact_id()::text::bigint % 4294967296"))


def _ack_table(table: str):
    """The table of records the unit acknowledges."""
    tables = {"fses": s.fses, "vitale_reads": s.vitale_reads}
    if table not in tables:
        raise ValueError(f"no acknowledged records in table {table!r}")
    return tables[table]
