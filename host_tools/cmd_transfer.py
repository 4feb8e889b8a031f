"""``tla load`` (prepared data to the unit) and ``tla unload`` (signed FSEs to the office
database, verified, then acknowledged): docs/protocol.md §8-9, docs/fse.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smpclient import SMPClient

from . import cli_common as cli
from .unit_link.keystore import HostKeys, write_atomically

LOAD_INTERRUPTED = ("interrupted: the unit may hold part of the files; run tla load again "
                    "(records are replaced, never duplicated)")
UNLOAD_INTERRUPTED = ("interrupted: the FSEs imported so far are whole and kept; run tla "
                      "unload again to acknowledge them and fetch the rest")


def seal(text: str) -> bytes:
    """A reference firmware seal: 32 bytes (SHA-256) in hex, docs/fse.md."""
    try:
        value = bytes.fromhex("".join(text.split()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hexadecimal: {text!r}") from None
    if len(value) != 32:
        raise argparse.ArgumentTypeError(f"a seal is 32 bytes (64 hex digits), got {len(value)}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add load and unload; each sets ``run(args, keys)`` and its Ctrl-C message."""
    h = cli.HELP_FORMAT
    load = sub.add_parser("load", help="send prepared data (JSON/CSV files) to the unit", **h,
                          description="Check every file first (errors name file, line and "
                          "field); nothing is sent unless all are valid, and the unit stores "
                          "the whole load or none of it. Act codes are checked against the "
                          "tariff table of the load, else the one tla load last sent (kept "
                          "beside the host key file as last_tariff.json). Formats: "
                          "docs/protocol.md §8 (Loading), examples in host_tools/samples/. "
                          "See also: tla records list|withdraw.")
    load.add_argument("--port", required=True, help="the unit's serial port")
    load.add_argument("files", nargs="+", type=Path, metavar="FILE",
                      help="JSON (.json) or CSV (.csv) file")
    load.set_defaults(run=cmd_load, interrupted=LOAD_INTERRUPTED)

    unload = sub.add_parser("unload", help="fetch, verify and import signed FSEs", **h)
    unload.add_argument("--port", required=True, help="the unit's serial port")
    cli.add_db_argument(unload)
    unload.add_argument("--trust", action="append", required=True,
                        help="PEM/DER certificates: roots (self-signed) and intermediates")
    unload.add_argument("--seal", action="append", default=[], type=seal,
                        help="reference firmware seal, 64 hex digits (repeatable)")
    cli.add_progress_option(unload)
    unload.set_defaults(run=cmd_unload, interrupted=UNLOAD_INTERRUPTED)


def tariff_copy_path(keys: HostKeys) -> Path:
    """Where tla load keeps the last tariff table it sent (beside the host key file)."""
    return keys.path.with_name("last_tariff.json")


async def cmd_load(args: argparse.Namespace, keys: HostKeys) -> int:
    import json

    from firmware.billing.tariffs import TariffTable

    from .importer import LoadTooLarge, send_load, unit_ranges
    from .load_files import LoadFilesError, read_files, tariff_copy

    copy = tariff_copy_path(keys)
    known = None
    if copy.exists():
        try:
            known = TariffTable.from_dict(json.loads(copy.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise cli.UsageError(f"{copy}: unreadable tariff copy ({exc}); delete it and "
                                 "load the tariff table again") from None
    files = read_files(args.files, known)  # LoadFilesError before anything is sent
    ranges = files.fse_ranges()

    async def body(client: SMPClient) -> int:
        problems = files.range_problems(await unit_ranges(client))
        if problems:
            raise LoadFilesError(problems)
        try:
            sent = await send_load(client, files.items(), ranges, keys.identity.sign_key)
        except LoadTooLarge as exc:
            raise cli.UsageError(str(exc)) from None
        if files.tariff is not None:
            write_atomically(copy, tariff_copy(files.tariff[0]).encode())
        data = sent - len(ranges)
        print(f"Loaded {sent} records ({data} data records, {len(ranges)} FSE ranges), "
              "all in one transaction.")
        return 0

    return await cli.authenticated(args, keys, body)


async def cmd_unload(args: argparse.Namespace, keys: HostKeys) -> int:
    from .importer import load_trust, unload

    trust = load_trust(args.trust)
    seals = list(args.seal) or None
    with cli.open_db(args.db, create=True) as db:
        async def body(client: SMPClient) -> int:
            # cli.progress is looked up at each call, so a test can replace it
            with cli.progress_bar(args, "FSE fetched, verified, imported",
                                  plain=lambda done, total: cli.progress(done, total)) as step:
                report = await unload(client, db, trust, reference_seals=seals, progress=step)
            print(f"Unit {report.unit_id}: {len(report.imported)} FSEs imported, "
                  f"{len(report.already)} already imported, {report.acked} acknowledged, "
                  f"{report.vitale_imported} Vitale reads imported.")
            for flag in report.flagged:
                print(f"FLAGGED {flag.fse_id}: {flag.message} [{flag.code}] (imported; its lot "
                      "will wait on hold)", file=sys.stderr)
            for fse_id, code, message in report.rejected:
                print(f"REJECTED {fse_id}: {message} [{code}] (left on the unit)", file=sys.stderr)
            return 1 if report.rejected else 0

        return await cli.authenticated(args, keys, body)
