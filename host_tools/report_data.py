"""What ``tla report`` reads from the office database, and the figures it computes
(docs/report.md).

All the report's SQL is here, in plain portable SQL (named ``:parameters``, no SQLite
functions), and every statement goes through :func:`query`, the one function that
touches the database: moving the office database to SQLAlchemy Core changes that
function only (``conn.execute(text(sql), params)`` on the office database's read transaction).

The period is a range of whole UTC days, ``--from`` and ``--to`` both included:
a trace counts when it ended (``at``) in it, an FSE when it was signed (``signed_at``).

Percentiles are nearest-rank (Hyndman & Fan definition 1; ``traces.nearest_rank``, the
rule ``tla traces report`` uses too): the ``ceil(p/100 * n)``-th smallest duration, so
every figure is a duration that was measured; numpy calls it ``method="inverted_cdf"``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text

from .office_db import OfficeDb
from .traces import nearest_rank

PERCENTILES = (50, 95, 99)
MODES = ("secured", "degraded")  # docs/fse.md; any other mode is counted under its own name
PJ_STATUSES = ("scanned", "paper", "missing")

TRACES_SQL = ("SELECT unit_id, trace_id, at, operation, duration_s, outcome FROM traces "
              "WHERE at >= :start AND at < :end ORDER BY unit_id, trace_id")
FSES_SQL = ("SELECT import_id, unit_id, billing_number, fse_number, mode, signed_at, cose "
            "FROM fses WHERE signed_at >= :start AND signed_at < :end ORDER BY row_id")


def query(db: OfficeDb, sql: str, params: dict[str, Any]) -> list[tuple]:
    """The one place the report reads the database: ``sql`` with named parameters."""
    with db.read() as conn:
        return [tuple(row) for row in conn.execute(text(sql), params).all()]


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # included

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"the period ends ({self.last}) before it starts ({self.first})")

    @property
    def start(self) -> float:
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=UTC).timestamp()

    @property
    def end(self) -> float:
        """The first second after the period (midnight UTC after ``last``)."""
        after = self.last + timedelta(days=1)
        return datetime(after.year, after.month, after.day, tzinfo=UTC).timestamp()

    def params(self) -> dict[str, float]:
        return {"start": self.start, "end": self.end}


@dataclass(frozen=True)
class Trace:
    unit_id: str
    trace_id: int
    at: float
    operation: str
    duration_s: float
    outcome: str


@dataclass(frozen=True)
class Fse:
    import_id: str
    unit_id: str
    billing_number: str  # the professional
    fse_number: int
    mode: str
    signed_at: int
    pj: tuple[str, ...]  # the supporting documents it needs (docs/fse.md codes)


@dataclass(frozen=True)
class PjCount:
    unit_id: str
    billing_number: str
    pj_type: str
    status: str  # one of PJ_STATUSES
    count: int


@dataclass(frozen=True)
class OperationStats:
    operation: str
    count: int
    errors: int
    error_rate: float
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float
    outcomes: dict[str, int]  # outcome code -> count ("ok" included)


@dataclass
class ReportData:
    period: Period
    traces: list[Trace] = field(default_factory=list)
    fses: list[Fse] = field(default_factory=list)
    pj: list[PjCount] = field(default_factory=list)


def read_traces(db: OfficeDb, period: Period) -> list[Trace]:
    return [Trace(u, int(i), float(a), op, float(d), out)
            for u, i, a, op, d, out in query(db, TRACES_SQL, period.params())]


def read_fses(db: OfficeDb, period: Period) -> list[Fse]:
    from .office_lots import payload_of

    return [Fse(imp, unit, billing, int(number), mode, int(signed),
                tuple(payload_of(bytes(cose)).get("pj", ())))
            for imp, unit, billing, number, mode, signed, cose
            in query(db, FSES_SQL, period.params())]


def pj_counts(db: OfficeDb, fses: list[Fse]) -> list[PjCount]:
    """Supporting documents of ``fses`` per (unit, professional, type, status): what each
    FSE needs comes from its signed payload (``pj``: the prescription ``ORDN`` for
    prescribed care, the patient-signed paper sheet ``FSP`` in degraded mode); a needed
    document is ``scanned`` when a scan was attached (``tla pj attach``, kept or purged
    since), ``paper`` when recorded as sent on paper (``tla pj paper``), else ``missing``."""
    from .pj import documents

    status_of = {"attached": "scanned", "purged": "scanned", "paper": "paper"}
    have = documents(db)
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for fse in fses:
        for pj_type in fse.pj:
            doc = have.get(fse.import_id, {}).get(pj_type)
            status = status_of[doc["status"]] if doc else "missing"
            counts[(fse.unit_id, fse.billing_number, pj_type, status)] += 1
    return [PjCount(*key, n) for key, n in sorted(counts.items())]


def read(db: OfficeDb, period: Period) -> ReportData:
    """Everything the report shows for ``period``."""
    fses = read_fses(db, period)
    return ReportData(period, read_traces(db, period), fses, pj_counts(db, fses))


# ---- figures (pure: no database) ---------------------------------------------------------

def operation_stats(traces: Iterable[Trace]) -> list[OperationStats]:
    """Per operation, sorted by name: count, errors (outcome not ``ok``), percentiles."""
    by_op: dict[str, list[Trace]] = {}
    for t in traces:
        by_op.setdefault(t.operation, []).append(t)
    out = []
    for op in sorted(by_op):
        rows = by_op[op]
        durations = sorted(t.duration_s for t in rows)
        outcomes = Counter(t.outcome for t in rows)
        errors = len(rows) - outcomes.get("ok", 0)
        p50, p95, p99 = (nearest_rank(durations, p) for p in PERCENTILES)
        out.append(OperationStats(op, len(rows), errors, errors / len(rows), p50, p95, p99,
                                  durations[-1], dict(sorted(outcomes.items()))))
    return out


def stats_by(traces: Iterable[Trace], key: str) -> dict[str, list[OperationStats]]:
    """:func:`operation_stats` per value of the trace field ``key`` (``unit_id``)."""
    groups: dict[str, list[Trace]] = {}
    for t in traces:
        groups.setdefault(getattr(t, key), []).append(t)
    return {k: operation_stats(groups[k]) for k in sorted(groups)}


@dataclass(frozen=True)
class Shares:
    """How many of a total fall in each category (categories in display order)."""

    label: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def share(self, category: str) -> float:
        return self.counts.get(category, 0) / self.total if self.total else 0.0


def _ordered(counter: Counter[str], known: tuple[str, ...]) -> dict[str, int]:
    extra = sorted(set(counter) - set(known))
    return {c: counter.get(c, 0) for c in (*known, *extra)}


def mode_shares(fses: list[Fse], key: str | None = None) -> list[Shares]:
    """FSEs per mode: all of them (``key`` None), or per ``unit_id`` / ``billing_number``."""
    groups: dict[str, Counter[str]] = {}
    for f in fses:
        groups.setdefault("all" if key is None else getattr(f, key), Counter())[f.mode] += 1
    if key is None and not groups:
        groups["all"] = Counter()
    return [Shares(k, _ordered(groups[k], MODES)) for k in sorted(groups)]


def pj_shares(pj: list[PjCount], key: str | None = None) -> list[Shares]:
    """Needed supporting documents per status: all, or per ``unit_id`` / ``billing_number``."""
    groups: dict[str, Counter[str]] = {}
    for p in pj:
        groups.setdefault("all" if key is None else getattr(p, key), Counter())[p.status] += p.count
    if key is None and not groups:
        groups["all"] = Counter()
    return [Shares(k, _ordered(groups[k], PJ_STATUSES)) for k in sorted(groups)]


def pj_by_type(pj: list[PjCount]) -> list[Shares]:
    groups: dict[str, Counter[str]] = {}
    for p in pj:
        groups.setdefault(p.pj_type, Counter())[p.status] += p.count
    return [Shares(k, _ordered(groups[k], PJ_STATUSES)) for k in sorted(groups)]


CSV_FIELDS = ("unit_id", "trace_id", "at_utc", "at", "operation", "duration_ms", "outcome")


def csv_rows(traces: list[Trace]) -> list[dict[str, object]]:
    """The raw table of ``--csv``: one row per trace of the period (docs/report.md)."""
    return [{"unit_id": t.unit_id, "trace_id": t.trace_id,
             "at_utc": datetime.fromtimestamp(t.at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
             "at": f"{t.at:.3f}", "operation": t.operation,
             "duration_ms": f"{t.duration_s * 1e3:.3f}", "outcome": t.outcome}
            for t in traces]
