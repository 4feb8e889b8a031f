"""``tla-unit run``: the unit's main loop on the configured board (docs/board.md).

This is what the Pi's service runs. The board comes from ``--board``,
``TLA_BOARD``, the config file (``--config``, ``TLA_CONFIG``, default
``/etc/opentla/unit.toml``), then ``sim``. Logs go to stderr in English; what the
unit's screen would show on a link event is logged as ``screen: ...``. SIGTERM
(``systemctl stop``) and Ctrl-C stop it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any

log = logging.getLogger("opentla.run")


DESCRIPTION = ("Run the unit on the configured board (docs/board.md): the office link, "
               "the card slots, the keypad. Stop with Ctrl-C or SIGTERM.")


def add_parser(sub: Any, h: dict[str, Any]) -> None:
    """``run`` in tla-unit's full parser (for --help)."""
    _arguments(sub.add_parser("run", help="the unit's main loop on the configured board", **h,
                              description=DESCRIPTION))


def parser(h: dict[str, Any]) -> argparse.ArgumentParser:
    """``tla-unit run`` alone: what the unit's service parses, without importing the
    simulator's command language the other subcommands need."""
    run = argparse.ArgumentParser(prog="tla-unit run", description=DESCRIPTION, **h)
    _arguments(run)
    return run


def _arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--board", choices=("sim", "pi", "pc"),
                     help="board kind (default: TLA_BOARD, the config file, then sim)")
    run.add_argument("--config", metavar="FILE",
                     help="config file (default: TLA_CONFIG, then /etc/opentla/unit.toml)")
    run.add_argument("--state", metavar="DIR", help="where the unit keeps its store and keys")
    run.add_argument("--link", metavar="PATH",
                     help="office link: sim/pc a symlink to create to the pty; pi the serial "
                          "device or pyserial URL (default /dev/ttyGS0)")
    run.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from board.config import ConfigError, load_config
    from firmware.office_link.events import Action

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = load_config(board=args.board, config_path=args.config,
                             state_dir=args.state, link=args.link)
    except (ConfigError, OSError) as exc:
        print(f"tla-unit run: {exc}", file=sys.stderr)
        return 2

    def show(action: Action) -> None:
        text = getattr(action, "message_fr", None)
        if text:
            log.info("screen: %s", " | ".join(str(text).splitlines()))
        else:
            log.info("link_event %s", action)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while True:  # one round per start of the unit: a reset starts it again (docs/update.md §Boot)
        code = _start_once(config, show, stop)
        if code is not None:
            return code
        log.info("restarting reason=reset")


BOOTED_ENV = "TLA_BOOTED_SLOT"  # set by the launcher for the slot's own process


def _exec_slot(site: Any, slot: str, parts: Any, exec_done: bool) -> None:
    """Run the slot's own code (docs/update.md §Boot): when the code this process runs
    is not the slot's, exec ``python -P -m board.main run`` with the slot's ``site``
    first on the path (the factory slot: the installed package, no slot path). ``-P``:
    the working directory's code must not shadow the slot's."""
    from pathlib import Path

    from firmware.unit.seal import default_base

    wanted = Path(site).resolve() if site is not None else None
    running = default_base()
    inside_slot = running.name == "site" and running.parent.name.startswith("slot-")
    if (wanted is None and not inside_slot) or wanted == running:
        return
    if exec_done:  # exec'd for this slot and still not running its code: never loop
        log.error("exec_slot_failed slot=%s site=%s running=%s", slot, wanted, running)
        return
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
             if p and not (Path(p).name == "site" and Path(p).parent.name.startswith("slot-"))]
    env = {**os.environ, BOOTED_ENV: slot,
           "PYTHONPATH": os.pathsep.join([str(wanted)] * (wanted is not None) + paths)}
    log.info("exec_slot slot=%s site=%s", slot, wanted)
    parts.close()
    os.execve(sys.executable, [sys.executable, "-P", "-m", "board.main", "run", *sys.argv[2:]],
              env)


def _start_once(config: Any, show: Any, stop: threading.Event) -> int | None:
    """Build the board and the unit, run until stopped (an exit code) or reset (None)."""
    from board import build
    from board.config import ConfigError
    from firmware.app import UnitApp
    from firmware.unit.seal import FIRMWARE_ROOTS
    from firmware.update.runtime import UnitUpdates, trusted_keys

    try:
        parts = build(config)
    except ConfigError as exc:
        print(f"tla-unit run: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a device missing or not ours to open
        print(f"tla-unit run: the {config.board} board did not start: {exc}", file=sys.stderr)
        return 1
    try:
        booted = os.environ.pop(BOOTED_ENV, None)
        updates = UnitUpdates.start(config.state_path(), FIRMWARE_ROOTS + tuple(parts.sealed),
                                    board=parts.kind, keys=trusted_keys(config.update_keys),
                                    allow_downgrade=config.allow_downgrade, booted=booted)
        if config.exec_slots:
            _exec_slot(updates.site, updates.slot, parts, exec_done=booted is not None)
        app = UnitApp(parts, config.state_path(), on_event=show, updates=updates)
    except BaseException:  # a trial that cannot start spends a boot attempt (the service restarts us)
        log.exception("unit_not_started board=%s", config.board)
        parts.close()
        return 1
    from firmware.unit.seal import default_base

    log.info("running board=%s state=%s slot=%s version=%s code=%s", config.board,
             config.state_path(), updates.slot, updates.version, default_base())
    try:
        app.run(stop)
    except KeyboardInterrupt:
        log.info("stopped reason=interrupted")
        return 130
    except Exception:  # our bug: the traceback goes to the log, the service restarts us
        log.exception("unit_crashed board=%s", config.board)
        return 1
    if app.reset_requested and not stop.is_set():
        return None
    log.info("stopped reason=terminated")
    return 0
