"""``tla lots make|list|show`` and ``tla seal add|list``: lots of imported FSEs signed
with the CPS in a PC/SC reader, and the firmware reference seals they are checked
against (docs/lots.md)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
import warnings
from datetime import UTC, date, datetime
from pathlib import Path

from firmware.billing.errors import BillingError
from firmware.iso7816.apdu import CardConnection
from firmware.iso7816.errors import CardError

from . import cli_common as cli
from . import office_lots
from .office_db import OfficeDbError
from .unit_link.keystore import HostKeys

SEAL_BYTES = 32


def register(sub: argparse._SubParsersAction) -> None:
    h = cli.OFFICE_HELP
    lots = sub.add_parser("lots", help="lots of imported FSEs, signed by a CPS", **h)
    cli.add_db_argument(lots)
    lots.set_defaults(run=cmd_lots)
    lots_sub = lots.add_subparsers(dest="lots_command", required=True)
    make = lots_sub.add_parser(
        "make", help="group the FSEs not yet in a lot and sign the lots with the CPS", **h)
    make.add_argument("--reader", help="PC/SC reader holding the CPS (default: the only "
                      "reader with a card)")
    cli.add_progress_option(make)
    make.add_argument("--first-number", type=_lot_number, metavar="N",
                      help="first lot number (1..999999, above every number used for the "
                      "billing number), e.g. to follow on from another billing software")
    lots_sub.add_parser("list", help="one line per lot", **h)
    show = lots_sub.add_parser("show", help="one lot and its FSEs", **h)
    show.add_argument("lot", help="BILLING/NUMBER (or NUMBER when unambiguous)")
    show.add_argument("--output", "-o", type=Path, help="write the signed lot file there")
    seal = sub.add_parser("seal", help="reference firmware seals of the office", **h)
    cli.add_db_argument(seal)
    seal.set_defaults(run=cmd_seal)
    seal_sub = seal.add_subparsers(dest="seal_command", required=True)
    add = seal_sub.add_parser("add", help="record the reference seal of a firmware version "
                              "(releases the lots on hold that carry it)", **h)
    add.add_argument("version", nargs="?", help="firmware version, e.g. 0.1.0")
    add.add_argument("seal", nargs="?", type=_seal,
                     help="the seal, 64 hex digits (tla info shows it)")
    add.add_argument("--bundle", type=Path, metavar="FILE",
                     help="take version and seal from this update bundle instead")
    add.add_argument("--board", choices=("sim", "pi", "pc"),
                     help="with --bundle: the board whose seal to take (when it has several)")
    seal_sub.add_parser("list", help="the reference seals", **h)


def _lot_number(text: str) -> int:
    from firmware.billing.lots import MAX_LOT_NUMBER

    if not text.isdigit() or not 1 <= int(text) <= MAX_LOT_NUMBER:
        raise argparse.ArgumentTypeError(f"a lot number is 1..{MAX_LOT_NUMBER}, got {text!r}")
    return int(text)


def _seal(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hexadecimal: {text!r}") from None
    if len(raw) != SEAL_BYTES:
        raise argparse.ArgumentTypeError(f"a seal is {SEAL_BYTES} bytes "
                                         f"({2 * SEAL_BYTES} hex digits), got {len(raw)}")
    return raw


def _seal_source(args: argparse.Namespace) -> None:
    """VERSION SEAL, or --bundle FILE [--board B] (host_tools/seals.py): one of the two."""
    if args.bundle is None:
        if args.version is None or args.seal is None or args.board is not None:
            raise cli.UsageError("tla seal add: give VERSION SEAL, or --bundle FILE [--board B]")
        return
    if args.version is not None:
        raise cli.UsageError("tla seal add: give VERSION SEAL or --bundle FILE, not both")
    from .seals import SealSourceError, seal_from_bundle

    try:
        args.version, args.seal = seal_from_bundle(args.bundle, args.board)
    except SealSourceError as exc:
        raise cli.UsageError(str(exc)) from None


def open_reader(name: str | None) -> CardConnection:
    """The CPS in a PC/SC reader (pyscard is imported only here)."""
    from board.pcsc import PcscConnection, list_readers

    if name is None:
        readers = list_readers()
        with_card = []
        for reader in readers:
            try:
                with_card.append(PcscConnection.open(reader))
            except CardError:
                continue
        if len(with_card) != 1:
            for conn in with_card:
                conn.close()
            if not with_card:
                raise cli.UsageError(f"no card in any PC/SC reader ({', '.join(readers) or 'none'}"
                                     "): insert the CPS, or name its reader with --reader")
            raise cli.UsageError(f"{len(with_card)} PC/SC readers hold a card "
                                 f"({', '.join(readers)}): name the CPS reader with --reader")
        return with_card[0]
    return PcscConnection.open(name)


def ask_pin() -> str:
    """The CPS PIN from the terminal (not echoed), or one line of stdin when piped."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", getpass.GetPassWarning)
        return getpass.getpass("CPS PIN: ")


async def cmd_lots(args: argparse.Namespace, keys: HostKeys) -> int:
    with cli.open_db(args.db) as db:
        if args.lots_command == "make":
            return _make(db, args)
        if args.lots_command == "list":
            return _list(db)
        return _show(db, args.lot, args.output)


def _make(db, args: argparse.Namespace) -> int:
    from .lot_maker import LotNumberError, make_lots

    try:
        conn = open_reader(args.reader)
        try:
            with cli.progress_bar(args, "lots signed") as step:
                report = make_lots(db, conn, ask_pin, today=date.today(), now=time.time(),
                                   first_number=args.first_number, progress=step)
        finally:
            close = getattr(conn, "close", None)
            if close is not None:
                close()
    except CardError as exc:  # the card's answer: its code
        print(f"error: CPS: {exc.detail or exc} [{exc.code}]", file=sys.stderr)
        return 1
    except LotNumberError as exc:
        raise cli.UsageError(str(exc)) from None
    except OfficeDbError as exc:
        if exc.code != "lots_changed":
            raise
        print(f"error: {exc} [{exc.code}]", file=sys.stderr)  # another office PC: run again
        return 1
    except BillingError as exc:
        if exc.code == "lot_number_invalid":
            raise cli.UsageError(f"--first-number: {exc.detail}") from None
        print(f"error: {exc.detail} [{exc.code}]", file=sys.stderr)
        return 1
    print(f"signed by {report.card}", file=sys.stderr)
    for lot in report.made:
        print(_lot_line(lot.billing_number, lot.lot_number, lot.regime, lot.caisse,
                        len(lot.fse_rows), lot.total_cents, lot.status, lot.hold_reason))
    for billing, why in {**report.waiting, **report.refused}.items():
        print(f"FSEs of {billing} wait: {why}", file=sys.stderr)
    held = [lot for lot in report.made if lot.status == "on_hold"]
    if held:
        print(f"{len(held)} lot(s) on hold: seal_unknown (no reference seal for it: tla seal "
              "add VERSION SEAL) or seal_mismatch (not its version's reference seal: check "
              "the unit's firmware; tla seal list)", file=sys.stderr)
    print(f"{len(report.made)} lot(s) made, {report.fses_waiting} FSE(s) waiting", file=sys.stderr)
    if report.refused or held:
        return 1
    if not report.made and report.waiting:
        print("error: this CPS signs lots for none of the waiting FSEs", file=sys.stderr)
        return 1
    return 0


def _lot_line(billing: str, number: int, regime: str, caisse: str, count: int, total: int,
              status: str, why: str) -> str:
    return (f"{billing}/{number:<6} {regime}/{caisse}  {count:4} FSE {total / 100:10.2f} EUR  "
            f"{status}{' (' + why + ')' if why else ''}")


def _list(db) -> int:
    rows = office_lots.lots(db)
    for r in rows:
        print(_lot_line(r["billing_number"], r["lot_number"], r["regime"], r["caisse"],
                        r["fse_count"], r["total_cents"], r["status"],
                        r["hold_reason"] or r["reason_code"]))
    print(f"{len(rows)} lots", file=sys.stderr)
    return 0


def _show(db, key: str, output: Path | None) -> int:
    lot = office_lots.find_lot(db, key)
    if output is not None:
        try:
            output.write_bytes(office_lots.lot_file(db, lot["row_id"]))
        except OSError as exc:
            raise cli.UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    shown = {k: v for k, v in lot.items() if k != "row_id"}
    shown["made_at"] = _iso(lot["made_at"])
    shown["arl_at"] = _iso(lot["arl_at"]) if lot["arl_at"] else None
    shown["fses"] = [{k: v for k, v in f.items() if k != "fse_row"}
                     for f in office_lots.lot_fses(db, lot["row_id"])]
    print(json.dumps(shown, indent=1, sort_keys=True,
                     default=lambda b: b.hex() if isinstance(b, bytes) else str(b)))
    return 0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def cmd_seal(args: argparse.Namespace, keys: HostKeys) -> int:
    if args.seal_command == "add":
        _seal_source(args)  # bad arguments or bundle: nothing opened
    with cli.open_db(args.db) as db:
        if args.seal_command == "add":
            released = office_lots.add_seal(db, args.version, args.seal)
            print(f"firmware {args.version}: reference seal {args.seal.hex()}")
            for billing, number in released:
                print(f"lot {billing}/{number} released from hold (ready)")
            return 0
        for version, seal, added in office_lots.seal_rows(db):
            print(f"{version:16} {seal.hex()}  added {_iso(added)}")
        return 0
