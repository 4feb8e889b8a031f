"""``tla traces [fetch] --port P`` and ``tla traces report``: the unit's timing traces,
fetched once each into the office database, and per-operation statistics (docs/protocol.md)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from smpclient import SMPClient

from . import cli_common as cli
from .unit_link import client as link
from .unit_link.keystore import HostKeys


def register(sub: argparse._SubParsersAction) -> None:
    """Add traces (fetch or report); it sets ``run(args, keys)``."""
    traces = sub.add_parser("traces", help="fetch the unit's timing traces, or report on them")
    traces.add_argument("action", nargs="?", choices=("fetch", "report"), default="fetch",
                        help="fetch (default, needs --port) or report")
    traces.add_argument("--port", help="the unit's port (fetch)")
    cli.add_db_argument(traces)
    traces.add_argument("--unit", help="report on this unit only (default: all units)")
    traces.add_argument("--json", action="store_true", help="print one JSON object")
    traces.set_defaults(run=cmd_traces)


async def cmd_traces(args: argparse.Namespace, keys: HostKeys) -> int:
    from . import traces

    if args.action == "fetch" and not args.port:
        raise cli.UsageError("tla traces (fetch) needs --port")
    with cli.open_db(args.db, create=args.action == "fetch", hint="tla traces creates it") as db:
        if args.action == "report":
            print(traces.report_text(db.traces(args.unit), args.unit, args.json))
            return 0

        async def body(client: SMPClient) -> int:
            unit_id = (await link.unit_info(client)).serial
            try:
                got = await traces.fetch(client, db, unit_id)
            except traces.TraceRowError as exc:
                print(f"error: {exc} [{exc.code}]", file=sys.stderr)
                return 1
            print(json.dumps(dataclasses.asdict(got), sort_keys=True) if args.json else
                  f"Unit {got.unit_id}: {got.received} traces received, "
                  f"{got.imported} new, last id {got.last_id}.")
            return 0

        return await cli.authenticated(args, keys, body)
