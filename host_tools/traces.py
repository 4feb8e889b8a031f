"""``tla traces``: fetch a unit's timing traces into the office database and report
per operation (DESIGN.md §4.7: "the office tools report percentiles and error rates
per operation"). Operation names: docs/protocol.md §10.

Fetch pages group 85 (``TracesRead``) from the last trace id the office database
holds for that unit, so an interrupted fetch resumes where it stopped and a trace
is imported exactly once per (unit, trace id). Each page is checked before it is
stored (one transaction per page): a malformed row refuses the page.

Percentiles are nearest-rank (the ``ceil(p/100 * n)``-th smallest duration; Hyndman
& Fan definition 1, as in NIST/SEMATECH e-Handbook §7.2.6.2), so every reported
figure is a duration that was actually measured.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from smpclient import SMPClient

from .office_db import OfficeDb
from .transfer_messages import TracesRead
from .unit_link.client import check

CODE = re.compile(r"[a-z0-9_.]{1,48}")
PERCENTILES = (50, 90, 99)


class TraceRowError(ValueError):
    """The unit sent a trace row that is not ``[id, at, operation, duration_s, outcome]``."""

    code = "trace_malformed"


@dataclass(frozen=True)
class FetchReport:
    unit_id: str
    received: int  # rows the unit sent in this fetch
    imported: int  # rows new to the office database
    last_id: int  # highest trace id now held for this unit


@dataclass(frozen=True)
class OperationStats:
    operation: str
    count: int
    errors: int  # outcome other than "ok"
    error_rate: float
    p50_s: float
    p90_s: float
    p99_s: float


def parse_row(row: object) -> tuple[int, float, str, float, str]:
    """One row from the unit, checked: trace id > 0, times as numbers, codes only."""
    if not isinstance(row, list | tuple) or len(row) != 5:
        raise TraceRowError(f"trace row {row!r}: expected 5 fields")
    trace_id, at, operation, duration, outcome = row
    if isinstance(trace_id, bool) or not isinstance(trace_id, int) or trace_id <= 0:
        raise TraceRowError(f"trace row {row!r}: bad trace id")
    for value in (at, duration):
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or value < 0:
            raise TraceRowError(f"trace row {row!r}: bad time or duration")
    for value in (operation, outcome):
        if not isinstance(value, str) or not CODE.fullmatch(value):
            raise TraceRowError(f"trace row {trace_id}: operation and outcome must be codes")
    return trace_id, float(at), operation, float(duration), outcome


async def fetch(client: SMPClient, db: OfficeDb, unit_id: str) -> FetchReport:
    """Page the unit's traces after the last one held for ``unit_id`` into ``db``."""
    after = db.last_trace_id(unit_id)
    received = imported = 0
    while True:
        answer = check(await client.request(TracesRead(after=after)))
        rows = [parse_row(r) for r in answer.traces]
        if rows and min(r[0] for r in rows) <= after:
            raise TraceRowError(f"the unit sent trace ids not after {after}")
        received += len(rows)
        imported += db.import_traces(unit_id, rows)
        if rows:
            after = max(r[0] for r in rows)
        if not answer.more or not rows:
            break
    return FetchReport(unit_id, received, imported, db.last_trace_id(unit_id))


def nearest_rank(sorted_values: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of ascending ``sorted_values``."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(p * len(sorted_values) / 100))  # not p/100*n: 7/100*100 > 7
    return sorted_values[rank - 1]


def report(traces: Iterable[dict]) -> list[OperationStats]:
    """Per operation (sorted by name): count, errors, error rate, p50/p90/p99."""
    by_op: dict[str, list[dict]] = {}
    for t in traces:
        by_op.setdefault(t["operation"], []).append(t)
    out = []
    for op in sorted(by_op):
        rows = by_op[op]
        durations = sorted(r["duration_s"] for r in rows)
        errors = sum(1 for r in rows if r["outcome"] != "ok")
        p50, p90, p99 = (nearest_rank(durations, p) for p in PERCENTILES)
        out.append(OperationStats(op, len(rows), errors, errors / len(rows), p50, p90, p99))
    return out


def report_json(stats: list[OperationStats], units: list[str]) -> dict:
    return {"units": units, "operations": {s.operation: {k: v for k, v in asdict(s).items()
                                                        if k != "operation"} for s in stats}}


def report_lines(stats: list[OperationStats]) -> list[str]:
    """A table: operation, count, errors (rate), p50/p90/p99 in milliseconds."""
    width = max([len(s.operation) for s in stats] + [9])
    out = [f"{'operation':<{width}} {'count':>6} {'errors':>12} {'p50 ms':>9} "
           f"{'p90 ms':>9} {'p99 ms':>9}"]
    for s in stats:
        out.append(f"{s.operation:<{width}} {s.count:>6} "
                   f"{f'{s.errors} ({s.error_rate:.0%})':>12} {s.p50_s * 1e3:>9.1f} "
                   f"{s.p90_s * 1e3:>9.1f} {s.p99_s * 1e3:>9.1f}")
    return out


def report_text(traces: list[dict], unit: str | None, as_json: bool) -> str:
    """What ``tla traces report`` prints: one JSON object, or a title and the table."""
    stats = report(traces)
    units = sorted({t["unit_id"] for t in traces})
    if as_json:
        return json.dumps(report_json(stats, units), sort_keys=True)
    if not stats:
        return "No traces in the office database" + (f" for unit {unit}." if unit else ".")
    return "\n".join([f"Traces of {', '.join(units)}:", *report_lines(stats)])
