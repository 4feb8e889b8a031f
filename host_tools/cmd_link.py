"""``tla units``, ``tla pair``, ``tla info``, ``tla clock set``: finding, pairing and
asking the unit about itself over the SMP link (docs/protocol.md)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from smpclient import SMPClient

from firmware.office_link.groups import parse_datetime
from firmware.office_link.header import MgmtError

from . import cli_common as cli
from .unit_link import client as link
from .unit_link.keystore import HostKeys


def register(sub: argparse._SubParsersAction) -> None:
    """Add units, pair, info and clock set; each sets ``run(args, keys)`` (a coroutine)."""
    h = cli.HELP_FORMAT
    units = sub.add_parser("units", help="list serial ports where a unit answers", **h)
    units.add_argument("--probe", action="append", default=[], help="also try this port path")
    units.add_argument("--all", action="store_true", help="try every serial port, not only USB")
    units.set_defaults(run=cmd_units)

    pair = sub.add_parser("pair", help="pair this PC with a unit", **h)
    pair.add_argument("--port", required=True, help="the unit's serial port (see: tla units)")
    pair.add_argument("--name", help="name shown on the unit (default: this PC's host name)")
    pair.add_argument("--wait", type=cli.positive_seconds, default=120.0,
                      help="seconds to wait for Valider (default 120)")
    pair.set_defaults(run=cmd_pair)

    info = sub.add_parser("info", help="show what the unit says about itself", **h)
    info.add_argument("--port", required=True, help="the unit's serial port (see: tla units)")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(run=cmd_info)

    clock = sub.add_parser("clock", help="the unit's clock", **h)
    clock_sub = clock.add_subparsers(dest="clock_command", required=True)
    clock_set = clock_sub.add_parser("set", help="set the unit's clock", **h)
    clock_set.add_argument("--port", required=True, help="the unit's serial port")
    clock_set.add_argument("--time",
                           help="UTC time, e.g. 2026-01-31T14:05:00, or with an offset such as "
                                "+01:00 (default: this PC's clock)")
    clock_set.set_defaults(run=cmd_clock_set)


async def cmd_pair(args: argparse.Namespace, keys: HostKeys) -> int:
    if args.name:
        keys.name = args.name[:32]

    def show(code: str) -> None:
        print(f"Pairing code: {code}")
        print("Check that the unit shows the same code, then press Valider on the unit.")
        sys.stdout.flush()

    async with link.connect(args.port, args.timeout) as client:
        result = await link.pair(client, keys, show, wait_s=args.wait)
        await link.open_session(client, keys)
        try:
            info = await link.unit_info(client)
        finally:
            await link.close_session(client)
    result.unit.label = info.serial
    keys.remember(result.unit)
    print(f"Paired with unit {info.serial} (id {result.unit.uid.hex()[:16]}).")
    return 0


async def cmd_info(args: argparse.Namespace, keys: HostKeys) -> int:
    async def body(client: SMPClient) -> int:
        info = await link.unit_info(client)
        fields: dict[str, Any] = info.model_dump(
            exclude={"header", "version", "sequence", "smp_data"}
        )
        if args.json:
            print(json.dumps(fields, sort_keys=True))
        else:
            for name, value in fields.items():
                print(f"{name:12} {'' if value is None else value}")
        return 0

    return await cli.authenticated(args, keys, body)


async def cmd_clock_set(args: argparse.Namespace, keys: HostKeys) -> int:
    try:
        when = parse_datetime(args.time) if args.time else datetime.now(UTC)
    except MgmtError as exc:
        raise cli.UsageError(f"--time: {exc.reason}, got {args.time!r}") from None

    async def body(client: SMPClient) -> int:
        sent = await link.set_clock(client, when)
        print(f"Unit clock set to {sent} UTC (unit now reads {await link.read_clock(client)}).")
        return 0

    return await cli.authenticated(args, keys, body)


async def probe(port: str, keys: HostKeys, timeout_s: float) -> str | None:
    """A description of the unit on ``port``, or None when nothing answers SMP there."""
    try:
        async with link.connect(port, timeout_s) as client:
            await link.echo(client, "tla")
            try:
                await link.open_session(client, keys)
            except link.LinkRefused:
                return "unit (not paired with this PC)"
            try:
                info = await link.unit_info(client)
            finally:
                await link.close_session(client)
            return f"unit {info.serial} (paired, firmware {info.fw})"
    except (OSError, TimeoutError, link.LinkRefused, ValueError):
        return None
    except Exception:  # smpclient raises its own types on a non-SMP peer
        return None


async def cmd_units(args: argparse.Namespace, keys: HostKeys) -> int:
    from serial.tools import list_ports

    # a unit shows up as a USB CDC-ACM port; other ports are only tried with --all
    ports = [p.device for p in list_ports.comports() if args.all or p.vid is not None]
    ports += list(args.probe)
    found = 0
    for port in dict.fromkeys(ports):
        description = await probe(port, keys, min(args.timeout, 1.0))
        if description:
            found += 1
            print(f"{port}\t{description}")
    if not found:
        print("No unit found.", file=sys.stderr)
        return 1
    return 0
