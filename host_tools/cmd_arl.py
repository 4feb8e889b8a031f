"""``tla arl import FILE...``: the organisms' returns (ARL) marking each lot and FSE
accepted or rejected with its reason (format: docs/lots.md §Returns)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import cli_common as cli
from .unit_link.keystore import HostKeys


def register(sub: argparse._SubParsersAction) -> None:
    h = cli.OFFICE_HELP
    arl = sub.add_parser("arl", help="returns (ARL) of the lots sent", **h)
    cli.add_db_argument(arl)
    arl.set_defaults(run=cmd_arl)
    arl_sub = arl.add_subparsers(dest="arl_command", required=True)
    imp = arl_sub.add_parser("import", help="mark lots and FSEs from ARL files (one JSON "
                             "per ARL); one bad file marks nothing", **h)
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    cli.add_progress_option(imp)


async def cmd_arl(args: argparse.Namespace, keys: HostKeys) -> int:
    from .arl import import_arls

    with cli.open_db(args.db) as db:
        with cli.progress_bar(args, "ARL files imported") as step:
            done = import_arls(db, args.files, progress=step)
        for arl, already in done:
            lot = f"lot {arl.billing_number}/{arl.lot_number}"
            if already:
                print(f"{arl.path}: {lot} already imported, unchanged")
                continue
            rejected = [n for n, status, _ in arl.fses if status == "rejected"]
            if arl.status == "rejected":
                code, text = arl.reason or ("", "")
                print(f"{arl.path}: {lot} REJECTED: {code} {text}")
            else:
                extra = f", FSE {', '.join(map(str, rejected))} rejected" if rejected else ""
                print(f"{arl.path}: {lot} accepted{extra}")
    print(f"{len(args.files)} ARL file(s) imported", file=sys.stderr)
    return 0
