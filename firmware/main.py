"""``tla-unit``: the unit's entry point. Subcommands: ``demo`` (the card link
on the simulated board); ``sim`` and ``run`` come later."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tla-unit", description="OpenTLA portable terminal.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="card link demo on the simulated board")
    demo.set_defaults(func=_demo)
    return parser


def _demo(args) -> int:
    from firmware.demo import run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
