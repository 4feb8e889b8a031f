"""``tla bundle build`` (a signed update bundle of this tree) and ``tla update`` (put
one on a unit, or ``--status``): docs/update-office.md."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from smpclient import SMPClient
from smpclient.transport import SMPTransportDisconnected

from . import cli_common as cli
from . import update_link as img
from .unit_link import client as link
from .unit_link.errors import LinkRefused
from .unit_link.keystore import HostKeys

UPDATE_INTERRUPTED = ("interrupted: the unit keeps what it received and still runs its "
                      "version; run tla update again, the upload resumes")

UPDATE_EPILOG = """exit codes:
  0    done: the unit runs the bundle's version, confirmed (or already did)
  1    the unit refused (its code in brackets), did not answer, the upload was cut
       (run again: it resumes), or the unit rolled back to its previous version
  2    bad usage or input: options, a bundle that is not valid (signature, board,
       version, truncated), host key file
  130  interrupted (Ctrl-C): run the command again, the upload resumes"""

BUNDLE_EPILOG = """exit codes:
  0    the bundle is written (and checked by the unit's own verifier)
  1    pip or imgtool failed (their last lines are shown)
  2    bad usage: version, key file, board, wheel file, output path"""


def register(sub: argparse._SubParsersAction) -> None:
    fmt_ = argparse.RawDescriptionHelpFormatter
    bundle = sub.add_parser("bundle", help="signed update bundles", epilog=BUNDLE_EPILOG,
                            formatter_class=fmt_)
    bundle_sub = bundle.add_subparsers(dest="bundle_command", required=True)
    build = bundle_sub.add_parser(
        "build", help="build, sign (imgtool) and check the update bundle of this tree",
        epilog=BUNDLE_EPILOG, formatter_class=fmt_,
        description="The bundle is an MCUboot image: the payload is a tar of this tree's "
        "wheel (built at VERSION) and a manifest naming the boards and their seals; the "
        "header carries VERSION; imgtool signs it. Dependencies are not built: add "
        "wheels for the unit's platform with --wheel (docs/update-office.md).")
    build.add_argument("--version", required=True, help="MAJOR.MINOR.REV[+BUILD], e.g. 0.2.0")
    build.add_argument("--key", type=Path, help="PEM private key, Ed25519 or ECDSA P-256 "
                       "(default: the development key update_keys/dev-ed25519.pem)")
    build.add_argument("--board", action="append", choices=("sim", "pi", "pc"),
                       help="a board kind the bundle is for (repeatable; default all three)")
    build.add_argument("--wheel", action="append", type=Path, default=[], metavar="FILE",
                       help="a dependency wheel to ship too (repeatable)")
    build.add_argument("-o", "--output", type=Path, required=True, help="the bundle file")
    build.set_defaults(run=cmd_bundle_build)

    update = sub.add_parser(
        "update", help="update a unit with a bundle (or --status)", epilog=UPDATE_EPILOG,
        formatter_class=fmt_,
        description="Checks the bundle (signature, board, newer version), uploads it to "
        "the unit's other slot (a cut cable: run again, it resumes), marks it for test, "
        "resets the unit and waits for it to come back: the unit confirms the new "
        "version itself once its health check passes, or rolls back.")
    update.add_argument("port", help="the unit's serial port (see: tla units)")
    update.add_argument("bundle", nargs="?", type=Path, help="the bundle (tla bundle build)")
    update.add_argument("--status", action="store_true",
                        help="show the unit's slots (versions, active/confirmed/pending)")
    update.add_argument("--json", action="store_true", help="with --status: one JSON object")
    update.add_argument("--downgrade", action="store_true",
                        help="install an older version (the unit refuses it unless a "
                             "technician allowed downgrades in its configuration)")
    update.add_argument("--wait", type=cli.positive_seconds, default=120.0,
                        help="seconds to wait for the unit to restart and confirm (default 120)")
    update.set_defaults(run=cmd_update, interrupted=UPDATE_INTERRUPTED)


# ---- tla bundle build -------------------------------------------------------------------
async def cmd_bundle_build(args: argparse.Namespace, keys: HostKeys) -> int:
    from firmware.update.bundle import BundleError

    from .bundle_build import BOARDS, DEV_KEY, BundleBuildError, ToolFailed, build_bundle

    boards = tuple(dict.fromkeys(args.board or BOARDS))
    key = args.key or DEV_KEY
    try:
        built = build_bundle(args.version, args.output, key=key, boards=boards,
                             extra_wheels=tuple(args.wheel))
    except BundleError as exc:
        raise cli.UsageError(f"--version: {exc}") from None
    except BundleBuildError as exc:
        raise cli.UsageError(str(exc)) from None
    except ToolFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    b = built.bundle
    print(f"Bundle {built.path}: version {b.version}, boards {', '.join(b.manifest.boards)}, "
          f"{built.size} bytes, image hash {b.hash.hex()}")
    for board, seal in sorted(b.manifest.seals.items()):
        print(f"  seal on {board}: {seal}")
    if not built.builtin_key:
        print(f"warning: {key} is not a key built into the units: they will refuse this "
              "bundle", file=sys.stderr)
    return 0


# ---- tla update -------------------------------------------------------------------------
def _read_bundle(path: Path):
    from firmware.update import bundle as fmt

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise cli.UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return data, fmt.verify_bundle(data, fmt.builtin_keys())
    except fmt.BundleError as exc:
        raise cli.UsageError(f"{path}: {exc} [{exc.code}]") from None


async def cmd_update(args: argparse.Namespace, keys: HostKeys) -> int:
    if args.status:
        if args.bundle is not None:
            raise cli.UsageError("--status takes the port only, not a bundle")
        return await _status(args)
    if args.bundle is None:
        raise cli.UsageError("give the bundle to install (tla update PORT BUNDLE) or --status")
    if args.json:
        raise cli.UsageError("--json goes with --status")
    data, bundle = _read_bundle(args.bundle)  # exit 2 before the port is opened
    return await _update(args, keys, data, bundle)


async def _update(args: argparse.Namespace, keys: HostKeys, data: bytes, bundle) -> int:
    from firmware.update import bundle as fmt

    async with link.connect(args.port, args.timeout) as client:
        await link.open_session(client, keys)
        info = await link.unit_info(client)
        running = fmt.ImageVersion.of_package(info.fw)
        states = await img.read_states(client)
        active = next((s for s in states if s.active), None)
        if active is not None and active.hash == bundle.hash and active.confirmed:
            print(f"Unit {info.serial} already runs {bundle.version} (confirmed).")
            await link.close_session(client)
            return 0
        try:
            fmt.verify_bundle(data, fmt.builtin_keys(), board=info.board, running=running,
                              upgrade=not args.downgrade, allow_downgrade=args.downgrade)
        except fmt.BundleError as exc:
            raise cli.UsageError(f"{args.bundle}: {exc} [{exc.code}]") from None
        print(f"Unit {info.serial} ({info.board or 'unknown board'}) runs {info.fw}; "
              f"installing {bundle.version}.")
        held = next((s for s in states if s.hash == bundle.hash and s.bootable), None)
        if held is None:
            await _upload(client, data, args)
        else:  # a run cut after the install: the unit has verified and installed it
            print(f"The unit already holds {bundle.version} in slot {held.slot}.")
        await img.mark_test(client, bundle.hash)
        print("Uploaded and verified; the unit restarts to test it.")
        sys.stdout.flush()
        with contextlib.suppress(TimeoutError, OSError, SMPTransportDisconnected):
            await img.reset(client)  # the answer may be lost as the unit restarts
        link._transport(client).end_session()  # the reset ended it; nothing to close

    def on_line(state: str) -> None:
        print("The unit restarted (line down)..." if state == "down"
              else "The unit is back; waiting for its health check...", flush=True)

    outcome = await img.wait_for_outcome(args.port, bundle.hash, wait_s=args.wait,
                                         answer_s=min(args.timeout, 2.0), on_line=on_line)
    now = outcome.active.version if outcome.active else "unknown"
    if not outcome.confirmed:
        raise LinkRefused("update.rolled_back", f"the unit rolled back to {now}: version "
                          f"{bundle.version} did not pass its health check (or did not start); "
                          "nothing is lost, the unit runs its previous version")
    print(f"Unit {info.serial} now runs {now}, confirmed.")
    return 0


async def _upload(client: SMPClient, data: bytes, args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    done = [0]
    with Progress(TextColumn("upload"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True)) as bar:
        task = bar.add_task("upload", total=len(data))

        def show(off: int, total: int) -> None:
            done[0] = off
            bar.update(task, completed=off)

        try:
            started = await img.upload(client, data, upgrade=not args.downgrade,
                                       answer_s=args.timeout,
                                       progress=show)
        except (TimeoutError, OSError, SMPTransportDisconnected) as exc:
            why = "no answer" if isinstance(exc, TimeoutError) else "the port went away"
            raise LinkRefused("update.interrupted", f"the upload stopped at byte {done[0]} of "
                              f"{len(data)} ({why}): run tla update again, it resumes") from None
    if started:
        print(f"Resumed the upload at byte {started} of {len(data)}.")


async def _status(args: argparse.Namespace) -> int:
    async with link.connect(args.port, args.timeout) as client:
        states = await img.read_states(client)
        try:
            slots = await img.slot_info(client)
        except LinkRefused:
            slots = []  # slot info is optional in the Zephyr spec
    if args.json:
        print(json.dumps({"images": [{**s.__dict__, "hash": s.hash.hex()} for s in states],
                          "slots": slots}, sort_keys=True))
        return 0
    print(f"{'image':5} {'slot':4} {'version':12} {'hash':16} state")
    for s in states:
        print(f"{s.image:<5} {s.slot:<4} {s.version:12} {s.hash.hex()[:16]:16} {s.flags}")
    for entry in slots:
        for slot in entry.get("slots", []):
            print(f"image {entry.get('image', 0)} slot {slot.get('slot')}: "
                  f"{slot.get('size', '?')} bytes")
    return 0
