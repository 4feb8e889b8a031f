"""``tla-card``: smartcard link tools for the office PC and the bench.

Each subcommand lives in its own module exposing ``register(subparsers)``,
which adds its parser and sets ``func(args) -> int`` as the default.

    $ tla-card atr 3B 75 13 00 00 47 09 EA 90 00
"""

from __future__ import annotations

import argparse

from . import card_apdu, card_atr, card_read

SUBCOMMANDS = (card_atr, card_apdu, card_read)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tla-card", description="Smartcard link tools (ISO 7816-3 ATR, PPS, APDUs)."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
