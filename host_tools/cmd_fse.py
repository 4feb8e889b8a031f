"""``tla fse list|show|export``: the FSEs imported into the office database, for the
practitioner and for the billing software (docs/fse.md)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from . import cli_common as cli
from .unit_link.keystore import HostKeys


def register(sub: argparse._SubParsersAction) -> None:
    """Add fse list, show and export; ``run(args, keys)`` serves all three."""
    h = cli.HELP_FORMAT
    fse = sub.add_parser("fse", help="imported FSEs in the office database", **h)
    cli.add_db_argument(fse)
    fse.set_defaults(run=cmd_fse)
    fse_sub = fse.add_subparsers(dest="fse_command", required=True)
    fse_sub.add_parser("list", help="one line per imported FSE", **h)
    show = fse_sub.add_parser("show", help="one FSE in full (its verified payload)", **h)
    show.add_argument("key", help="import id or FSE id")
    export = fse_sub.add_parser("export", help="all imported FSEs for the billing software: "
                                "every field, the signed COSE (base64), AMC, PJ, warnings, "
                                "lot (docs/export.md)", **h)
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("--output", type=Path, help="file to write (default: stdout)")


async def cmd_fse(args: argparse.Namespace, keys: HostKeys) -> int:
    with cli.open_db(args.db) as db:
        if args.fse_command == "list":
            return _list(db)
        if args.fse_command == "show":
            return _show(db, args.key)
        return _export(db, args.format, args.output)


def _list(db) -> int:
    rows = db.fses()
    for r in rows:
        when = datetime.fromtimestamp(r["signed_at"], UTC).strftime("%Y-%m-%d %H:%M")
        print(f"{r['fse_id']:14} {r['billing_number']:>10} n{r['fse_number']:<9} "
              f"{r['mode']:12} {when} {r['total_cents'] / 100:9.2f} EUR  "
              f"{r['patient_name']}  {'acked' if r['acked_at'] else 'NOT ACKED'}")
    print(f"{len(rows)} FSEs", file=sys.stderr)
    return 0


def _show(db, key: str) -> int:
    import cbor2

    fields, cose = db.fse(key)
    payload = cbor2.loads(cbor2.loads(cose).value[2])  # COSE_Sign: [prot, unprot, payload, sigs]
    print(json.dumps({**fields, "cose_bytes": len(cose), "payload": payload},
                     indent=1, sort_keys=True, default=_jsonable))
    return 0


def _export(db, fmt: str, output: Path | None) -> int:
    """Every field for the billing software (host_tools/fse_export.py, docs/export.md)."""
    from .fse_export import write

    try:
        out = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout
    except OSError as exc:
        raise cli.UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    try:
        count = write(db, fmt, out)
    finally:
        if output:
            out.close()
    print(f"{count} FSEs exported", file=sys.stderr)
    return 0


def _jsonable(value: object) -> object:
    return value.hex() if isinstance(value, bytes) else str(value)
