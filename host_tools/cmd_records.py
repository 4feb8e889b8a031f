"""``tla records``: what the office loaded onto the unit, and withdrawing it.

    tla records list --port P [--kind K] [--json]     kind, id, professional, status, size
    tla records withdraw --port P [--kind K] ID...    remove loaded records (a visit cancelled)

``list`` needs the unit unlocked (the office's ids are sealed at rest, docs/store.md);
``withdraw`` works locked (lookup by keyed hash). A withdrawal is checked whole before
anything is removed: an unknown id or an invoice a signed FSE already used (status
``used``: it leaves with that FSE's purge) refuses all of it. docs/protocol.md §8.
"""

from __future__ import annotations

import argparse
import json

from smpclient import SMPClient

from firmware.loaded.schema import KINDS

from . import cli_common as cli
from .unit_link.keystore import HostKeys


def register(sub: argparse._SubParsersAction) -> None:
    h = cli.HELP_FORMAT
    records = sub.add_parser("records", help="list or withdraw records loaded on the unit", **h)
    actions = records.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the records the unit holds from loads", **h)
    listing.add_argument("--port", required=True, help="the unit's serial port")
    listing.add_argument("--kind", choices=KINDS, help="only this kind")
    listing.add_argument("--json", action="store_true", help="one JSON object")
    listing.set_defaults(run=cmd_list)
    out = actions.add_parser("withdraw", help="remove loaded records from the unit", **h,
                             description="Remove loaded records (all or none). An invoice "
                             "already used by a signed FSE cannot be withdrawn.")
    out.add_argument("--port", required=True, help="the unit's serial port")
    out.add_argument("--kind", choices=KINDS, default="invoice",
                     help="kind of the records (default invoice)")
    out.add_argument("ids", nargs="+", metavar="ID", help="record id, as loaded")
    out.set_defaults(run=cmd_withdraw)


async def cmd_list(args: argparse.Namespace, keys: HostKeys) -> int:
    from .importer import list_loaded

    async def body(client: SMPClient) -> int:
        rows = [r for r in await list_loaded(client) if args.kind in (None, r[0])]
        if args.json:
            fields = ("kind", "id", "professional_id", "status", "size")
            print(json.dumps({"records": [dict(zip(fields, r, strict=True)) for r in rows]}))
            return 0
        for kind, rid, prof, status, size in rows:
            print(f"{kind:<11} {rid:<24} {prof or '-':<12} {status:<7} {size:>8} B")
        print(f"{len(rows)} records.")
        return 0

    return await cli.authenticated(args, keys, body)


async def cmd_withdraw(args: argparse.Namespace, keys: HostKeys) -> int:
    from .importer import withdraw

    async def body(client: SMPClient) -> int:
        n = await withdraw(client, [[args.kind, rid] for rid in args.ids])
        print(f"Withdrew {n} {args.kind} records.")
        return 0

    return await cli.authenticated(args, keys, body)
