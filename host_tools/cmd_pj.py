"""``tla pj attach|missing|get|purge``: the supporting documents (PJ) the FSEs need, scanned
(PDF, JPEG, PNG) and kept in the office database until 90 days after transmission
(docs/pj.md)."""

from __future__ import annotations

import argparse
import csv
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from . import cli_common as cli
from .unit_link.keystore import HostKeys

LIST_COLUMNS = ("fse", "type", "file")


def register(sub: argparse._SubParsersAction) -> None:
    from .pj import MIN_DPI, PJ_TYPES, RETENTION_DAYS

    h = cli.OFFICE_HELP
    pj = sub.add_parser("pj", help="supporting documents (PJ) of the FSEs", **h)
    cli.add_db_argument(pj)
    pj.set_defaults(run=cmd_pj)
    pj_sub = pj.add_subparsers(dest="pj_command", required=True)
    att = pj_sub.add_parser(
        "attach", help="attach a scanned document (PDF, JPEG, PNG) to an FSE", **h,
        description=f"Each file must open, have 1..20 pages and at least {MIN_DPI} dpi. "
        "Every file is checked first; one bad file attaches nothing.")
    att.add_argument("fse", nargs="?", metavar="FSE", help="import id or FSE id (tla fse list)")
    att.add_argument("file", nargs="?", type=Path, metavar="FILE")
    att.add_argument("--type", choices=sorted(PJ_TYPES), help="ORDN: the prescription; "
                     "FSP: the paper sheet signed by the patient (degraded mode)")
    att.add_argument("--list", type=Path, metavar="CSV", help="many documents: a CSV with "
                     "the columns fse,type,file (file paths relative to the CSV)")
    att.add_argument("--replace", action="store_true", help="replace a document attached before")
    cli.add_progress_option(att)
    paper = pj_sub.add_parser("paper", help="record that an FSE's document went to the "
                              "organism on paper (it is no longer missing; no scan kept)", **h)
    paper.add_argument("fse", metavar="FSE", help="import id or FSE id (tla fse list)")
    paper.add_argument("--type", choices=sorted(PJ_TYPES), required=True)
    pj_sub.add_parser("missing", help="the FSEs still waiting for a document", **h)
    get = pj_sub.add_parser("get", help="write an FSE's stored document to a file", **h)
    get.add_argument("fse", metavar="FSE")
    get.add_argument("--type", choices=sorted(PJ_TYPES), required=True)
    get.add_argument("--output", "-o", type=Path, required=True)
    purge = pj_sub.add_parser("purge", help=f"drop the documents of FSEs transmitted more "
                              f"than {RETENTION_DAYS} days ago (dry run unless --apply)", **h)
    purge.add_argument("--apply", action="store_true", help="purge (default: list only)")


async def cmd_pj(args: argparse.Namespace, keys: HostKeys) -> int:
    with cli.open_db(args.db) as db:
        if args.pj_command == "attach":
            return _attach(db, args)
        if args.pj_command == "paper":
            from .pj import mark_on_paper

            fse_id = mark_on_paper(db, args.fse, args.type)
            print(f"FSE {fse_id}: {args.type} sent on paper")
            return 0
        if args.pj_command == "missing":
            return _missing(db)
        if args.pj_command == "get":
            return _get(db, args)
        return _purge(db, args.apply)


def _requests(args: argparse.Namespace) -> list[tuple[str, str, Path, str]]:
    """(fse, type, file, where) from the arguments or the --list CSV."""
    if args.list is None:
        if args.fse is None or args.file is None or args.type is None:
            raise cli.UsageError("tla pj attach: give FSE FILE --type T, or --list CSV")
        return [(args.fse, args.type, args.file, str(args.file))]
    if args.fse is not None or args.file is not None:
        raise cli.UsageError("tla pj attach: give FSE FILE --type T, or --list CSV, not both")
    from .pj import PJ_TYPES

    try:
        with open(args.list, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise cli.UsageError(f"{args.list}: cannot read: {exc}") from None
    if not rows or [c.strip() for c in rows[0]] != list(LIST_COLUMNS):
        raise cli.UsageError(f"{args.list}:1: header: expected {','.join(LIST_COLUMNS)}")
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(LIST_COLUMNS):
            raise cli.UsageError(f"{args.list}:{line}: expected {len(LIST_COLUMNS)} cells")
        fse, pj_type, name = (cell.strip() for cell in row)
        if pj_type not in PJ_TYPES:
            raise cli.UsageError(f"{args.list}:{line}: type: {pj_type!r} is not one of "
                                 f"{', '.join(sorted(PJ_TYPES))}")
        path = Path(name) if Path(name).is_absolute() else args.list.parent / name
        out.append((fse, pj_type, path, f"{args.list}:{line}"))
    if not out:
        raise cli.UsageError(f"{args.list}: no documents listed")
    return out


def _attach(db, args: argparse.Namespace) -> int:
    from .pj import Attach, PjFileError, attach, check_file

    requests = _requests(args)
    checked = []
    with cli.progress_bar(args, "documents checked") as step:
        for fse, pj_type, path, where in requests:
            try:
                checked.append(Attach(fse, pj_type, check_file(path)))
            except PjFileError as exc:
                if where != str(path):  # name the CSV row too
                    raise cli.UsageError(f"{where}: {exc}") from None
                raise
            step(len(checked), len(requests))
    stored = attach(db, checked, replace=args.replace)
    for item, fse_id in zip(checked, stored, strict=True):
        dpi = "vector" if item.file.dpi is None else f"{item.file.dpi} dpi"
        print(f"{fse_id}: {item.pj_type} attached ({item.file.media_type}, "
              f"{item.file.pages} page(s), {dpi})")
    print(f"{len(stored)} document(s) attached", file=sys.stderr)
    return 0


def _missing(db) -> int:
    from .pj import missing

    rows = missing(db)
    for fields, wanting in rows:
        print(f"{fields['fse_id']:14} {fields['billing_number']:>10} n{fields['fse_number']:<9} "
              f"{fields['mode']:12} {fields['patient_name']}  missing: {' '.join(wanting)}")
    print(f"{len(rows)} FSE(s) waiting for a document", file=sys.stderr)
    return 0


def _get(db, args: argparse.Namespace) -> int:
    from .pj import content

    name, data = content(db, args.fse, args.type)
    try:
        args.output.write_bytes(data)
    except OSError as exc:
        raise cli.UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"{args.output}: {args.type} of {args.fse} ({name}, {len(data)} bytes)")
    return 0


def _purge(db, apply: bool) -> int:
    from .pj import RETENTION_DAYS, purge, purgeable

    now = time.time()
    rows = purgeable(db, now)
    for r in rows:
        sent = datetime.fromtimestamp(r["arl_at"], UTC).strftime("%Y-%m-%d")
        print(f"{r['fse_id']:14} {r['pj_type']:5} {r['size_bytes']:>9} B  lot "
              f"{r['billing_number']}/{r['lot_number']} accepted {sent}")
    if apply:
        print(f"{purge(db, rows, now)} document(s) purged ({RETENTION_DAYS} days after "
              "transmission)", file=sys.stderr)
    else:
        print(f"{len(rows)} document(s) to purge; dry run: give --apply to purge",
              file=sys.stderr)
    return 0
