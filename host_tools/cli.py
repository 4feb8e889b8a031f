"""``tla``: the office-PC command line for OpenTLA units.

    tla units [--probe PATH ...]        serial ports where a unit answers SMP
    tla pair --port P [--name NAME]     pair this PC with the unit (press Valider on it)
    tla info --port P [--json]          serial, firmware, seal, clock, battery, storage, lock
    tla clock set --port P [--time T]   set the unit's clock (UTC; default: this PC's clock)
    tla load --port P FILE...           send invoices, patients, tariffs, ranges, opposition list
    tla unload --port P --trust PEM     fetch, verify, import (office database), acknowledge
    tla fse list|show ID|export --format json|csv   the office database's imported FSEs

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
    load = sub.add_parser("load", help="send prepared data (JSON/CSV files) to the unit")
    load.add_argument("--port", required=True)
    load.add_argument("files", nargs="+", type=Path)

    unload = sub.add_parser("unload", help="fetch, verify and import signed FSEs")
    unload.add_argument("--port", required=True)
    unload.add_argument("--db", type=Path, help="office database (default ~/.local/share/opentla)")
    unload.add_argument("--trust", action="append", required=True,
                        help="PEM/DER certificates: roots (self-signed) and intermediates")
    unload.add_argument("--seal", action="append", default=[], help="reference seal (hex)")

    fse = sub.add_parser("fse", help="imported FSEs in the office database")
    fse.add_argument("--db", type=Path, help="office database")
    fse_sub = fse.add_subparsers(dest="fse_command", required=True)
    fse_sub.add_parser("list", help="one line per imported FSE")
    show = fse_sub.add_parser("show", help="one FSE in full (its verified payload)")
    show.add_argument("key", help="import id or FSE id")
    export = fse_sub.add_parser("export", help="all imported FSEs for the billing software")
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("--output", type=Path, help="file to write (default: stdout)")
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


async def _cmd_load(args: argparse.Namespace, keys: HostKeys) -> int:
    from .importer import send_load
    from .load_files import read_files

    files = read_files(args.files)  # LoadFilesError before anything is sent
    items = files.all_items()

    async def body(client: SMPClient) -> int:
        sent = await send_load(client, items, files.ranges)
        print(f"Loaded {sent} records ({len(items)} data records, {len(files.ranges)} FSE ranges).")
        return 0

    return await _authenticated(args, keys, body)


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} FSE")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def _cmd_unload(args: argparse.Namespace, keys: HostKeys) -> int:
    from .importer import load_trust, unload
    from .office_db import OfficeDb, default_path

    trust = load_trust(args.trust)
    seals = [bytes.fromhex(s) for s in args.seal] or None
    with OfficeDb(args.db or default_path()) as db:
        async def body(client: SMPClient) -> int:
            report = await unload(client, db, trust, reference_seals=seals, progress=_progress)
            print(f"Unit {report.unit_id}: {len(report.imported)} FSEs imported, "
                  f"{len(report.already)} already imported, {report.acked} acknowledged, "
                  f"{report.vitale_imported} Vitale reads imported.")
            for fse_id, code, message in report.rejected:
                print(f"REJECTED {fse_id}: {message} [{code}] (left on the unit)", file=sys.stderr)
            return 1 if report.rejected else 0

        return await _authenticated(args, keys, body)


EXPORT_FIELDS = ("import_id", "unit_id", "fse_id", "billing_number", "fse_number", "mode",
                 "signed_at", "date_of_care", "total_cents", "amo_cents", "patient_cents", "nir",
                 "patient_name", "imported_at", "acked_at")


async def _cmd_fse(args: argparse.Namespace, keys: HostKeys) -> int:
    import csv

    import cbor2

    from .office_db import OfficeDb, default_path

    with OfficeDb(args.db or default_path()) as db:
        if args.fse_command == "list":
            rows = db.fses()
            for r in rows:
                when = datetime.fromtimestamp(r["signed_at"], UTC).strftime("%Y-%m-%d %H:%M")
                print(f"{r['fse_id']:14} {r['billing_number']:>10} n{r['fse_number']:<9} "
                      f"{r['mode']:12} {when} {r['total_cents'] / 100:9.2f} EUR  "
                      f"{r['patient_name']}  {'acked' if r['acked_at'] else 'NOT ACKED'}")
            print(f"{len(rows)} FSEs", file=sys.stderr)
            return 0
        if args.fse_command == "show":
            fields, cose = db.fse(args.key)
            payload = cbor2.loads(cbor2.loads(cose).value[2])  # COSE_Sign: [prot, unprot, payload, sigs]
            print(json.dumps({**fields, "cose_bytes": len(cose), "payload": payload},
                             indent=1, sort_keys=True, default=_jsonable))
            return 0
        rows = [{k: r[k] for k in EXPORT_FIELDS} for r in db.fses()]
        out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout
        try:
            if args.format == "json":
                json.dump(rows, out, indent=1, sort_keys=True)
                out.write("\n")
            else:
                writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
        finally:
            if args.output:
                out.close()
        return 0


def _jsonable(value: object) -> object:
    return value.hex() if isinstance(value, bytes) else str(value)


_COMMANDS = {
    "units": _cmd_units,
    "pair": _cmd_pair,
    "info": _cmd_info,
    "clock": _cmd_clock_set,
    "load": _cmd_load,
    "unload": _cmd_unload,
    "fse": _cmd_fse,
}


def _usage_errors() -> tuple[type[Exception], ...]:
    """Bad files or options: exit code 2 with the message (files, lines and fields)."""
    from .importer import TrustFileError
    from .load_files import LoadFilesError
    from .office_db import OfficeDbError

    return (LoadFilesError, TrustFileError, OfficeDbError)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("smpclient").setLevel(logging.CRITICAL)  # we report errors ourselves
    try:
        keys = HostKeys.load_or_create(args.keys)
        return asyncio.run(_COMMANDS[args.command](args, keys))
    except _usage_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
