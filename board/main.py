"""``tla-unit``: the unit's entry point.

    tla-unit run [--board sim|pi|pc] [--config FILE] [--state DIR] [--link PATH]
                                    the unit's main loop on the configured board
                                    (docs/board.md): what the Pi's service runs
    tla-unit demo [--state DIR]     a whole day on the simulated board (docs/demo.md)
    tla-unit sim [--link PATH] [--state DIR] [--script FILE]
                                    the unit on the simulated board, link on a pty
    tla-unit cards                  the card link alone: ATR, PPS, APDU timing
    tla-unit gpclk [--check|--stop] the card clock on the Pi (root; opentla-gpclk.service)

Exit codes: 0 done, 1 the demo or a sim script failed, 2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EPILOG = """exit codes:
  0    done (demo complete, sim or run stopped)
  1    the demo found a problem, a sim --script line failed, or the unit could not start
  2    bad usage (options, --state, --script, --link, the board configuration)
  130  interrupted (Ctrl-C)"""


HELP: dict[str, Any] = {"epilog": EPILOG, "formatter_class": argparse.RawDescriptionHelpFormatter}


def build_parser() -> argparse.ArgumentParser:
    from board.pi.gpclk import add_parser as add_gpclk
    from board.run import add_parser as add_run
    from board.sim.commands import add_parser as add_sim
    from board.sim.commands import state_dir

    h = HELP
    parser = argparse.ArgumentParser(prog="tla-unit", description="OpenTLA portable terminal.",
                                     **h)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_run(sub, h)
    demo = sub.add_parser("demo", help="a whole day on the simulated board", **h,
                          description="A home nurse's day on the simulated unit: pair, load, "
                          "visits, unload, import (docs/demo.md).")
    demo.add_argument("--state", type=state_dir,
                      help="keep the unit and office files in this directory "
                           "(default: a temporary one, removed after)")
    demo.set_defaults(func=_demo)
    add_sim(sub)
    cards = sub.add_parser("cards", help="card link demo on the simulated board", **h)
    cards.set_defaults(func=_cards)
    add_gpclk(sub, h)
    return parser


def _demo(args) -> int:
    from host_tools.demo import run_demo

    return run_demo(state=args.state)


def _cards(args) -> int:
    from board.sim.card_demo import run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["gpclk"]:  # a boot oneshot, its own options (board/pi/gpclk.py)
        from board.pi import gpclk

        return gpclk.main(argv[1:])
    if argv[:1] == ["run"]:  # the unit's service: no simulator code imported on a Pi
        from board import run

        args = run.parser(HELP).parse_args(argv[1:])
    else:
        args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
