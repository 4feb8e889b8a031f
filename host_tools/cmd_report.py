"""``tla report --from DATE --to DATE [--html FILE] [--csv FILE]``: the pilot review
report (response times, error rates, secured/degraded FSEs, supporting documents per
unit and per professional) over whole UTC days (docs/report.md)."""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from . import cli_common as cli
from .office_db import shown
from .unit_link.keystore import HostKeys


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser(
        "report", help="the pilot review report (HTML with charts) and its raw table (CSV)",
        description="Response times (p50/p95/p99) and error rates per operation, the share "
        "of secured and degraded FSEs and of supporting documents scanned or on paper, per "
        "unit and per professional, over whole UTC days, --from and --to included. "
        "Columns and layout: docs/report.md.", **cli.OFFICE_HELP)
    cli.add_db_argument(report)
    report.add_argument("--from", dest="first", type=_day, required=True, metavar="DATE",
                        help="first day, YYYY-MM-DD (UTC)")
    report.add_argument("--to", dest="last", type=_day, required=True, metavar="DATE",
                        help="last day, YYYY-MM-DD (UTC), included")
    report.add_argument("--html", type=Path, metavar="FILE", help="write the report there")
    report.add_argument("--csv", type=Path, metavar="FILE",
                        help="write the raw table there: one row per trace of the period")
    report.set_defaults(run=cmd_report)


@dataclass(frozen=True)
class Written:
    traces: int
    fses: int
    pj: int
    html_bytes: int
    csv_rows: int


def generate(db, first: date, last: date, *, html: Path | None = None, csv_path: Path | None = None,
             now: datetime | None = None) -> Written:
    """Read the period from ``db`` and write the HTML report and/or the CSV table."""
    from firmware.office_link.security import write_atomically

    from . import report_data, report_html

    try:
        period = report_data.Period(first, last)
    except ValueError as exc:
        raise cli.UsageError(f"--from/--to: {exc}") from None
    data = report_data.read(db, period)
    html_bytes = 0
    rows = report_data.csv_rows(data.traces)
    try:
        if html is not None:
            page = report_html.render(data, generated_at=now or datetime.now(UTC),
                                      source=shown(db.url)).encode("utf-8")
            write_atomically(html, page, 0o644)
            html_bytes = len(page)
        if csv_path is not None:
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=report_data.CSV_FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            write_atomically(csv_path, out.getvalue().encode("utf-8"), 0o644)
    except OSError as exc:
        raise cli.UsageError(f"cannot write {exc.filename}: {exc.strerror or exc}") from None
    return Written(len(data.traces), len(data.fses), sum(p.count for p in data.pj),
                   html_bytes, len(rows) if csv_path is not None else 0)


def report_seconds(db, first: date, last: date, html: Path, csv_path: Path | None = None
                   ) -> tuple[float, Written]:
    """For bench/office.py (``report_s``): wall time of :func:`generate`, and what it wrote."""
    start = time.perf_counter()
    written = generate(db, first, last, html=html, csv_path=csv_path)
    return time.perf_counter() - start, written


async def cmd_report(args: argparse.Namespace, keys: HostKeys) -> int:
    if args.html is None and args.csv is None:
        raise cli.UsageError("tla report needs --html FILE and/or --csv FILE")
    with cli.open_db(args.db) as db:
        got = generate(db, args.first, args.last, html=args.html, csv_path=args.csv)
    for path, what in ((args.html, "report"), (args.csv, f"{got.csv_rows} trace rows")):
        if path is not None:
            print(f"{path}: {what}")
    print(f"{args.first} to {args.last}: {got.traces} traces, {got.fses} FSEs, {got.pj} "
          "supporting documents needed", file=sys.stderr)
    return 0
