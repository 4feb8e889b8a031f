"""``tla-card``: smartcard link tools for the office PC and the bench.

Each subcommand lives in its own module exposing ``register(subparsers)``,
which adds its parser and sets ``func(args) -> int`` as the default.

    $ tla-card atr 3B 75 13 00 00 47 09 EA 90 00
"""

from __future__ import annotations

import argparse
import sys

from . import card_apdu, card_atr, card_read

SUBCOMMANDS = (card_atr, card_apdu, card_read)


EPILOG = """exit codes:
  0    done
  1    the ATR is malformed, the card failed, or the reader is unavailable
  2    bad usage (hex, APDU, sample card name, PIN); read: also a card refusal
  130  interrupted (Ctrl-C)
Each command's --help details its own."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tla-card", description="Smartcard link tools (ISO 7816-3 ATR, PPS, APDUs).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
