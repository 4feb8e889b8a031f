"""``tla``: the office-PC command line for OpenTLA units.

    tla units [--probe PATH ...]        serial ports where a unit answers SMP
    tla doctor [--port P]               what stops a connection, and what to do
    tla pair --port P [--name NAME]     pair this PC with the unit (press Valider on it)
    tla info --port P [--json]          serial, firmware, seal, clock, battery, storage, lock
    tla clock set --port P [--time T]   set the unit's clock (UTC; default: this PC's clock)
    tla load --port P FILE...           send invoices, patients, tariffs, ranges, opposition list
    tla records list|withdraw --port P  what the unit holds from loads; withdraw some
    tla unload --port P --trust PEM     fetch, verify, import (office database), acknowledge
    tla fse list|show ID|export --format json|csv   the office database's imported FSEs
    tla traces --port P [--db] [--json] fetch the unit's timing traces (resumable, once each)
    tla traces report [--db] [--unit U] [--json]   per operation: count, errors, p50/p90/p99
    tla lots make|list|show             lots of imported FSEs, signed with the CPS (PC/SC)
    tla seal add VERSION SEAL | list    the office's reference firmware seals
    tla seal add --bundle FILE          ... taken from an update bundle (its manifest)
    tla bundle build --version V -o F   a signed update bundle of this tree (imgtool)
    tla update PORT BUNDLE | --status   update a unit (resumable upload, test, confirm)
    tla arl import FILE...              returns of the lots: accepted / rejected, with reasons
    tla duplicata FSE --reason R [-o F] the duplicata of an FSE as a PDF
    tla udev install                    Linux: the unit's USB port without root (udev rule)
    tla report --from D --to D --html F the pilot review report (and --csv F: its raw table)
    tla pj attach|missing|get|purge     supporting documents (PDF, JPEG, PNG) of the FSEs

Global options: ``--keys PATH`` (host key file), ``--timeout S`` (per request).
Exit codes: 0 done, 1 the unit refused, did not answer (its port is missing or silent,
or garbled its answer) or rejected an FSE, 2 bad usage (options, files, database),
130 interrupted (Ctrl-C). Every error is one line on
stderr naming what is wrong; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sqlite3
import sys
from pathlib import Path

from smp.exceptions import SMPException
from smpclient.exceptions import SMPClientException
from smpclient.transport import SMPTransportDisconnected

from firmware.office_link.header import MgmtError

from . import (
    cmd_arl,
    cmd_doctor,
    cmd_duplicata,
    cmd_fse,
    cmd_link,
    cmd_lots,
    cmd_pj,
    cmd_records,
    cmd_report,
    cmd_traces,
    cmd_transfer,
    cmd_udev,
    cmd_update,
)
from .cli_common import HELP_FORMAT, UsageError, positive_seconds
from .unit_link import client as link
from .unit_link.keystore import HostKeys, KeyFileError

# each module adds its subcommands with register(subparsers), as in card_cli.py
COMMAND_MODULES = (cmd_link, cmd_transfer, cmd_records, cmd_fse, cmd_traces, cmd_lots, cmd_arl,
                   cmd_duplicata, cmd_udev, cmd_report, cmd_doctor, cmd_pj, cmd_update)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tla", description="OpenTLA office tools",
                                     **HELP_FORMAT)
    parser.add_argument("--keys", type=Path, help="host key file (default ~/.config/opentla)")
    parser.add_argument("--timeout", type=positive_seconds, default=2.5,
                        help="seconds to wait for each answer (default 2.5)")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def _usage_errors() -> tuple[type[Exception], ...]:
    """Bad files or options: exit code 2 with the message (files, lines and fields)."""
    from .importer import TrustFileError
    from .load_files import LoadFilesError
    from .office_db import OfficeDbError

    return (LoadFilesError, TrustFileError, OfficeDbError, KeyFileError, UsageError)


def _db_errors() -> tuple[type[Exception], ...]:
    """The office database's driver errors (sqlalchemy is imported only when one is up)."""
    from sqlalchemy.exc import SQLAlchemyError

    return (SQLAlchemyError, sqlite3.Error)


def _db_message(args: argparse.Namespace, exc: Exception) -> str:
    """One line: which database, and the driver's first line (no SQL, no password)."""
    from .office_db import OfficeDbError, database_url, shown

    try:
        where = shown(database_url(getattr(args, "db", None)))
    except OfficeDbError:
        where = "?"
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__]
    return f"office database {where}: {detail[0]}"


class PortMissing(OSError):
    """The port's device file is not there: the unit is unplugged or switched off
    (a USB port's node vanishes with the unit), so the unit did not answer: exit 1."""


def _check_port(port: str | None) -> None:
    """A port given as a path must exist (COM3 and URLs are left to pyserial)."""
    if port and "/" in port and "://" not in port and not os.path.exists(port):
        raise PortMissing(f"port {port} does not exist (is the unit plugged in? "
                          "find units with: tla units)")


def _no_answer(args: argparse.Namespace, exc: BaseException) -> str:
    port = getattr(args, "port", None)
    if str(exc).startswith("Failed to connect"):  # smpclient's serial open gave up
        return f"cannot open port {port}: not a serial port, or in use by another program"
    if isinstance(exc, TimeoutError):
        return (f"no answer from a unit on {port} within {args.timeout:g} s "
                "(is it an OpenTLA unit, switched on? try --timeout)")
    return f"port {port}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("smpclient").setLevel(logging.CRITICAL)  # we report errors ourselves
    try:
        # a command that never talks to a unit (udev install, run under sudo) must not
        # create a host key in root's home
        keys = HostKeys.load_or_create(args.keys) if getattr(args, "host_key", True) else None
        _check_port(getattr(args, "port", None))
        return asyncio.run(args.run(args, keys))
    except KeyboardInterrupt:
        print(f"\n{getattr(args, 'interrupted', 'interrupted')}", file=sys.stderr)
        return 130
    except _usage_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MgmtError as exc:
        print(f"error: {exc.reason}", file=sys.stderr)
        return 2
    except _db_errors() as exc:  # --db is not a database, unreachable, or cannot be written
        print(f"error: {_db_message(args, exc)}", file=sys.stderr)
        return 2
    except link.LinkRefused as exc:
        print(f"error: {exc} [{exc.code}]", file=sys.stderr)
        return 1
    except PortMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as exc:
        print(f"error: {_no_answer(args, exc)}", file=sys.stderr)
        return 1
    except SMPTransportDisconnected:  # the port went away under us (cable pulled)
        print(f"error: port {getattr(args, 'port', '?')} went away (unit unplugged?)",
              file=sys.stderr)
        return 1
    except (SMPClientException, SMPException) as exc:  # garbled answer, foreign peer
        print(f"error: unexpected answer on {getattr(args, 'port', '?')}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
