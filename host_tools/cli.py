"""``tla``: the office-PC command line for OpenTLA units.

    tla units [--probe PATH ...]        serial ports where a unit answers SMP
    tla pair --port P [--name NAME]     pair this PC with the unit (press Valider on it)
    tla info --port P [--json]          serial, firmware, seal, clock, battery, storage, lock
    tla clock set --port P [--time T]   set the unit's clock (UTC; default: this PC's clock)

Global options: ``--keys PATH`` (host key file), ``--timeout S`` (per request).
Exit codes: 0 done, 1 the unit refused or did not answer, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smpclient import SMPClient

from firmware.link.groups import parse_datetime
from firmware.link.header import MgmtError

from .link import client as link
from .link.keystore import HostKeys, KeyFileError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tla", description="OpenTLA office tools")
    parser.add_argument("--keys", type=Path, help="host key file (default ~/.config/opentla)")
    parser.add_argument("--timeout", type=float, default=2.5, help="seconds per request")
    sub = parser.add_subparsers(dest="command", required=True)

    units = sub.add_parser("units", help="list serial ports where a unit answers")
    units.add_argument("--probe", action="append", default=[], help="also try this port path")
    units.add_argument("--all", action="store_true", help="try every serial port, not only USB")

    pair = sub.add_parser("pair", help="pair this PC with a unit")
    pair.add_argument("--port", required=True)
    pair.add_argument("--name", help="name shown on the unit (default: this PC's host name)")
    pair.add_argument("--wait", type=float, default=120.0, help="seconds to wait for Valider")

    info = sub.add_parser("info", help="show what the unit says about itself")
    info.add_argument("--port", required=True)
    info.add_argument("--json", action="store_true", help="print one JSON object")

    clock = sub.add_parser("clock", help="the unit's clock")
    clock_sub = clock.add_subparsers(dest="clock_command", required=True)
    clock_set = clock_sub.add_parser("set", help="set the unit's clock")
    clock_set.add_argument("--port", required=True)
    clock_set.add_argument("--time", help="UTC time, e.g. 2026-01-31T14:05:00 (default: now)")
    return parser


async def _authenticated(
    args: argparse.Namespace, keys: HostKeys, body: Callable[[SMPClient], Awaitable[int]]
) -> int:
    async with link.connect(args.port, args.timeout) as client:
        await link.open_session(client, keys)
        try:
            return await body(client)
        finally:
            await link.close_session(client)


async def _cmd_pair(args: argparse.Namespace, keys: HostKeys) -> int:
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


async def _cmd_info(args: argparse.Namespace, keys: HostKeys) -> int:
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

    return await _authenticated(args, keys, body)


async def _cmd_clock_set(args: argparse.Namespace, keys: HostKeys) -> int:
    when = parse_datetime(args.time) if args.time else datetime.now(UTC)

    async def body(client: SMPClient) -> int:
        sent = await link.set_clock(client, when)
        print(f"Unit clock set to {sent} UTC (unit now reads {await link.read_clock(client)}).")
        return 0

    return await _authenticated(args, keys, body)


async def _probe(port: str, keys: HostKeys, timeout_s: float) -> str | None:
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


async def _cmd_units(args: argparse.Namespace, keys: HostKeys) -> int:
    from serial.tools import list_ports

    # a unit shows up as a USB CDC-ACM port; other ports are only tried with --all
    ports = [p.device for p in list_ports.comports() if args.all or p.vid is not None]
    ports += list(args.probe)
    found = 0
    for port in dict.fromkeys(ports):
        description = await _probe(port, keys, min(args.timeout, 1.0))
        if description:
            found += 1
            print(f"{port}\t{description}")
    if not found:
        print("No unit found.", file=sys.stderr)
        return 1
    return 0


_COMMANDS = {
    "units": _cmd_units,
    "pair": _cmd_pair,
    "info": _cmd_info,
    "clock": _cmd_clock_set,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("smpclient").setLevel(logging.CRITICAL)  # we report errors ourselves
    try:
        keys = HostKeys.load_or_create(args.keys)
        return asyncio.run(_COMMANDS[args.command](args, keys))
    except KeyFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MgmtError as exc:  # a bad --time value
        print(f"error: {exc.reason}", file=sys.stderr)
        return 2
    except link.LinkRefused as exc:
        print(f"error: {exc} [{exc.code}]", file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as exc:
        print(f"error: no answer from the unit: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
