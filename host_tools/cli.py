"""``tla``: the office-PC command line for OpenTLA units.

    tla units [--probe PATH ...]        serial ports where a unit answers SMP
    tla pair --port P [--name NAME]     pair this PC with the unit (press Valider on it)
    tla info --port P [--json]          serial, firmware, seal, clock, battery, storage, lock
    tla clock set --port P [--time T]   set the unit's clock (UTC; default: this PC's clock)
    tla load --port P FILE...           send invoices, patients, tariffs, ranges, opposition list
    tla unload --port P --trust PEM     fetch, verify, import (office database), acknowledge
    tla fse list|show ID|export --format json|csv   the office database's imported FSEs
    tla traces --port P [--db] [--json] fetch the unit's timing traces (resumable, once each)
    tla traces report [--db] [--unit U] [--json]   per operation: count, errors, p50/p90/p99

Global options: ``--keys PATH`` (host key file), ``--timeout S`` (per request).
Exit codes: 0 done, 1 the unit refused, did not answer or rejected an FSE, 2 bad usage
(options, files, port, database), 130 interrupted (Ctrl-C). Every error is one line on
stderr naming what is wrong; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smpclient import SMPClient
from smpclient.exceptions import SMPClientException

from firmware.link.groups import parse_datetime
from firmware.link.header import MgmtError

from .link import client as link
from .link.keystore import HostKeys, KeyFileError

EPILOG = """exit codes:
  0    done
  1    the unit refused, did not answer, or an FSE was rejected (left on the unit)
  2    bad usage: options, input files, port, host key file, office database
  130  interrupted (Ctrl-C): what was imported is whole and kept; run the command again"""


class UsageError(Exception):
    """Bad options, port or paths (exit code 2); the message is one English line."""


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _seal(text: str) -> bytes:
    """A reference firmware seal: 32 bytes (SHA-256) in hex, docs/fse.md."""
    try:
        value = bytes.fromhex("".join(text.split()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hexadecimal: {text!r}") from None
    if len(value) != 32:
        raise argparse.ArgumentTypeError(f"a seal is 32 bytes (64 hex digits), got {len(value)}")
    return value


def _parser() -> argparse.ArgumentParser:
    h = {"epilog": EPILOG, "formatter_class": argparse.RawDescriptionHelpFormatter}
    parser = argparse.ArgumentParser(prog="tla", description="OpenTLA office tools", **h)
    parser.add_argument("--keys", type=Path, help="host key file (default ~/.config/opentla)")
    parser.add_argument("--timeout", type=_positive, default=2.5,
                        help="seconds to wait for each answer (default 2.5)")
    sub = parser.add_subparsers(dest="command", required=True)

    units = sub.add_parser("units", help="list serial ports where a unit answers", **h)
    units.add_argument("--probe", action="append", default=[], help="also try this port path")
    units.add_argument("--all", action="store_true", help="try every serial port, not only USB")

    pair = sub.add_parser("pair", help="pair this PC with a unit", **h)
    pair.add_argument("--port", required=True, help="the unit's serial port (see: tla units)")
    pair.add_argument("--name", help="name shown on the unit (default: this PC's host name)")
    pair.add_argument("--wait", type=_positive, default=120.0,
                      help="seconds to wait for Valider (default 120)")

    info = sub.add_parser("info", help="show what the unit says about itself", **h)
    info.add_argument("--port", required=True, help="the unit's serial port (see: tla units)")
    info.add_argument("--json", action="store_true", help="print one JSON object")

    clock = sub.add_parser("clock", help="the unit's clock", **h)
    clock_sub = clock.add_subparsers(dest="clock_command", required=True)
    clock_set = clock_sub.add_parser("set", help="set the unit's clock", **h)
    clock_set.add_argument("--port", required=True, help="the unit's serial port")
    clock_set.add_argument("--time",
                           help="UTC time, e.g. 2026-01-31T14:05:00, or with an offset such as "
                                "+01:00 (default: this PC's clock)")
    load = sub.add_parser("load", help="send prepared data (JSON/CSV files) to the unit", **h,
                          description="Check every file first (errors name file, line and "
                          "field); nothing is sent unless all are valid. Formats: "
                          "docs/protocol.md section 6, examples in host_tools/samples/.")
    load.add_argument("--port", required=True, help="the unit's serial port")
    load.add_argument("files", nargs="+", type=Path, metavar="FILE",
                      help="JSON (.json) or CSV (.csv) file")

    unload = sub.add_parser("unload", help="fetch, verify and import signed FSEs", **h)
    unload.add_argument("--port", required=True, help="the unit's serial port")
    unload.add_argument("--db", type=Path, help="office database (default ~/.local/share/opentla)")
    unload.add_argument("--trust", action="append", required=True,
                        help="PEM/DER certificates: roots (self-signed) and intermediates")
    unload.add_argument("--seal", action="append", default=[], type=_seal,
                        help="reference firmware seal, 64 hex digits (repeatable)")

    fse = sub.add_parser("fse", help="imported FSEs in the office database", **h)
    fse.add_argument("--db", type=Path, help="office database (default ~/.local/share/opentla)")
    fse_sub = fse.add_subparsers(dest="fse_command", required=True)
    fse_sub.add_parser("list", help="one line per imported FSE", **h)
    show = fse_sub.add_parser("show", help="one FSE in full (its verified payload)", **h)
    show.add_argument("key", help="import id or FSE id")
    export = fse_sub.add_parser("export", help="all imported FSEs for the billing software", **h)
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("--output", type=Path, help="file to write (default: stdout)")
    traces = sub.add_parser("traces", help="fetch the unit's timing traces, or report on them")
    traces.add_argument("action", nargs="?", choices=("fetch", "report"), default="fetch",
                        help="fetch (default, needs --port) or report")
    traces.add_argument("--port", help="the unit's port (fetch)")
    traces.add_argument("--db", type=Path, help="office database")
    traces.add_argument("--unit", help="report on this unit only (default: all units)")
    traces.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


async def _authenticated(
    args: argparse.Namespace, keys: HostKeys, body: Callable[[SMPClient], Awaitable[int]]
) -> int:
    async with link.connect(args.port, args.timeout) as client:
        await link.open_session(client, keys)
        try:
            result = await body(client)
        except BaseException:
            # Ctrl-C or an error mid-request: the link may still carry that request's
            # answer, so closing can fail; the first error is the one to report (the
            # unit ends an abandoned session by itself).
            with contextlib.suppress(Exception):
                await link.close_session(client)
            raise
        await link.close_session(client)
        return result


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
    try:
        when = parse_datetime(args.time) if args.time else datetime.now(UTC)
    except MgmtError as exc:
        raise UsageError(f"--time: {exc.reason}, got {args.time!r}") from None

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
    seals = list(args.seal) or None
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

    path = args.db or default_path()
    if not Path(path).is_file():
        raise UsageError(f"no office database at {path} (tla unload creates it; or give --db)")
    with OfficeDb(path) as db:
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
        try:
            out = (open(args.output, "w", newline="", encoding="utf-8") if args.output
                   else sys.stdout)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
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


async def _cmd_traces(args: argparse.Namespace, keys: HostKeys) -> int:
    from . import traces
    from .office_db import OfficeDb, default_path

    path = args.db or default_path()
    if args.action == "report" and not Path(path).is_file():
        raise UsageError(f"no office database at {path} (tla traces creates it; or give --db)")
    if args.action == "fetch" and not args.port:
        raise UsageError("tla traces (fetch) needs --port")
    with OfficeDb(path) as db:
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

        return await _authenticated(args, keys, body)


_COMMANDS = {
    "units": _cmd_units,
    "pair": _cmd_pair,
    "info": _cmd_info,
    "clock": _cmd_clock_set,
    "load": _cmd_load,
    "unload": _cmd_unload,
    "fse": _cmd_fse,
    "traces": _cmd_traces,
}


def _usage_errors() -> tuple[type[Exception], ...]:
    """Bad files or options: exit code 2 with the message (files, lines and fields)."""
    from .importer import TrustFileError
    from .load_files import LoadFilesError
    from .office_db import OfficeDbError

    return (LoadFilesError, TrustFileError, OfficeDbError, KeyFileError, UsageError)


def _check_port(port: str | None) -> None:
    """A port given as a path must exist (COM3 and URLs are left to pyserial)."""
    if port and "/" in port and "://" not in port and not os.path.exists(port):
        raise UsageError(f"port {port} does not exist (find units with: tla units)")


def _no_answer(args: argparse.Namespace, exc: BaseException) -> str:
    port = getattr(args, "port", None)
    if str(exc).startswith("Failed to connect"):  # smpclient's serial open gave up
        return f"cannot open port {port}: not a serial port, or in use by another program"
    if isinstance(exc, TimeoutError):
        return (f"no answer from a unit on {port} within {args.timeout:g} s "
                "(is it an OpenTLA unit, switched on? try --timeout)")
    return f"port {port}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)


_INTERRUPTED = {
    "unload": "interrupted: the FSEs imported so far are whole and kept; run tla unload again "
              "to acknowledge them and fetch the rest",
    "load": "interrupted: the unit may hold part of the files; run tla load again (records "
            "are replaced, never duplicated)",
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("smpclient").setLevel(logging.CRITICAL)  # we report errors ourselves
    try:
        keys = HostKeys.load_or_create(args.keys)
        _check_port(getattr(args, "port", None))
        return asyncio.run(_COMMANDS[args.command](args, keys))
    except KeyboardInterrupt:
        print(f"\n{_INTERRUPTED.get(args.command, 'interrupted')}", file=sys.stderr)
        return 130
    except _usage_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MgmtError as exc:
        print(f"error: {exc.reason}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:  # --db is not a database, or cannot be written
        print(f"error: office database {getattr(args, 'db', None) or 'default'}: {exc}",
              file=sys.stderr)
        return 2
    except link.LinkRefused as exc:
        print(f"error: {exc} [{exc.code}]", file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as exc:
        print(f"error: {_no_answer(args, exc)}", file=sys.stderr)
        return 1
    except SMPClientException as exc:  # a peer that speaks something else than our SMP
        print(f"error: unexpected answer on {getattr(args, 'port', '?')}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
