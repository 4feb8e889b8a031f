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
from pathlib import Path
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


def record_serial(state: Path, serial: str) -> None:
    """Keep the unit's serial in ``<state>/serial`` (what the USB gadget names itself
    at the next boot when unit.toml has none, board/os/opentla-gadget.sh)."""
    path = state / "serial"
    try:
        if path.read_text(encoding="ascii").strip() == serial:
            return
    except (OSError, UnicodeDecodeError):
        pass
    tmp = path.with_name("serial.tmp")
    tmp.write_text(serial + "\n", encoding="ascii")
    os.replace(tmp, path)


def main(args: argparse.Namespace) -> int:
    from board import build
    from board.config import ConfigError, load_config
    from board.systemd import Notifier
    from firmware.app import UnitApp
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

    try:
        parts = build(config)
    except ConfigError as exc:
        print(f"tla-unit run: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a device missing or not ours to open
        print(f"tla-unit run: the {config.board} board did not start: {exc}", file=sys.stderr)
        return 1
    try:
        app = UnitApp(parts, config.state_path(), on_event=show, serial=config.serial or None)
        record_serial(config.state_path(), app.unit.serial)
    except BaseException:
        log.exception("unit_not_started board=%s", config.board)
        parts.close()
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    notifier = Notifier.from_env()  # systemd's READY=1 and watchdog (board/systemd.py)
    log.info("running board=%s state=%s office=%r watchdog_s=%s", config.board,
             config.state_path(), config.office, notifier.watchdog_s)
    try:
        app.run(stop, after_step=notifier.after_step)
    except KeyboardInterrupt:
        log.info("stopped reason=interrupted")
        return 130
    except Exception:  # our bug: the traceback goes to the log, the service restarts us
        log.exception("unit_crashed board=%s", config.board)
        return 1
    finally:
        notifier.stopping()
        notifier.close()
    log.info("stopped reason=terminated")
    return 0
