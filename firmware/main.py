"""``tla-unit``: the unit's entry point.

    tla-unit demo [--state DIR]     a whole day on the simulated board (docs/demo.md)
    tla-unit sim [--link PATH] [--state DIR] [--script FILE]
                                    the unit on the simulated board, link on a pty
    tla-unit cards                  the card link alone: ATR, PPS, APDU timing
"""

from __future__ import annotations

import argparse
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from firmware.sim.commands import add_parser as add_sim

    parser = argparse.ArgumentParser(prog="tla-unit", description="OpenTLA portable terminal.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="a whole day on the simulated board")
    demo.add_argument("--state", type=Path, help="keep the unit and office files here")
    demo.set_defaults(func=_demo)
    add_sim(sub)
    cards = sub.add_parser("cards", help="card link demo on the simulated board")
    cards.set_defaults(func=_cards)
    return parser


def _demo(args) -> int:
    from firmware.demo import run_demo

    return run_demo(state=args.state)


def _cards(args) -> int:
    from firmware.card_demo import run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
