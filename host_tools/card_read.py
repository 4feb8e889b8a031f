"""``tla-card read vitale|cps``: read a Carte Vitale or a CPS-family card with the
firmware's own readers, from a simulated sample card or a PC/SC reader.

    tla-card read vitale                       # sample card vitale_famille_essai
    tla-card read cps --card cps_kine --pin 2468 --json
    tla-card read vitale --pcsc "Virtual PCD 00 00"

The lead's ``host_tools/card_cli.py`` calls :func:`register`; each subcommand sets
``func`` (call ``args.func(args)``, which returns the exit code).
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import hashlib
import json
import sys
import warnings
from datetime import date

from board.pcsc import PcscUnavailable
from firmware.cardapps.model import PartialDate, ProfessionalCard, VitaleCard
from firmware.iso7816.errors import CardError

DEFAULT_SAMPLE = {"vitale": "vitale_famille_essai", "cps": "cps_medecin"}
EPILOG = """exit codes:
  0    the card was read
  1    PC/SC unavailable: no such reader, or the PC/SC service (pcscd) is not running
  2    the card refused (wrong PIN, wrong card type, no card) or bad usage (unknown sample
       card, no PIN given in a non-interactive run: use --pin)
  130  interrupted at the PIN prompt"""


class _NoPin(Exception):
    """No PIN could be asked for (stdin closed, no terminal)."""


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "read", help="read a Vitale or CPS card", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read a Carte Vitale or a CPS-family card with the firmware's readers, "
                    f"from a simulated sample card (default {DEFAULT_SAMPLE['vitale']} / "
                    f"{DEFAULT_SAMPLE['cps']}) or a PC/SC reader.")
    p.add_argument("kind", choices=("vitale", "cps"))
    src = p.add_mutually_exclusive_group()
    src.add_argument("--card", help="simulated sample card name (see --list)")
    src.add_argument("--pcsc", metavar="READER", help="PC/SC reader name (or its prefix)")
    src.add_argument("--list", action="store_true", help="list sample cards and PC/SC readers")
    p.add_argument("--pin", help="CPS PIN (prompted when absent; needed when not run "
                   "from a terminal)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
    return p


def _ask_pin() -> str:
    try:
        with warnings.catch_warnings():  # no terminal: read from stdin, without a warning
            warnings.simplefilter("ignore", getpass.GetPassWarning)
            return getpass.getpass("CPS PIN: ")
    except EOFError:
        raise _NoPin() from None


def _connection(args):
    if args.pcsc:
        from board.pcsc import PcscConnection

        return PcscConnection.open(args.pcsc)
    from board.sim.cardos.apdu_connection import ApduConnection
    from board.sim.cards.loader import load_card

    return ApduConnection(load_card(args.card or DEFAULT_SAMPLE[args.kind]))


def _plain(obj):
    if dataclasses.is_dataclass(obj):
        out: dict[str, object] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.name == "certificate" and value:
                out["certificate_sha256"] = hashlib.sha256(value).hexdigest()
                continue
            out[f.name] = _plain(value)
        if isinstance(obj, PartialDate) and obj.month:
            out["lunar"] = obj.lunar
        return out
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, bytes):
        return obj.hex().upper()
    return obj


def _print_vitale(card, out) -> None:
    print(f"Carte Vitale {card.variant[-1]}  serial {card.serial}  ATR {card.atr.hex(' ').upper()}", file=out)
    print(f"Valid until: {card.valid_until or '-'}   holder NIR: {card.holder_nir}", file=out)
    for b in card.beneficiaries:
        print(
            f" [{b.index}] {b.name} {b.first_name}  born {b.birth_date} rank {b.birth_rank}"
            f"  quality {b.quality}  NIR {b.nir} {b.nir_key}  {b.regime}/{b.caisse}/{b.centre}",
            file=out,
        )
        for r in b.rights:
            ald = " ALD" if r.ald else ""
            print(f"      rights {r.start} .. {r.end or 'open'} exo {r.exoneration}{ald}", file=out)
        if b.amc:
            print(f"      AMC {b.amc.organism} tiers payant {'yes' if b.amc.tiers_payant else 'no'}", file=out)


def _print_cps(card, out) -> None:
    print(f"{card.card_type} {card.first_name} {card.name}  id {card.id_type}/{card.national_id}"
          f"  serial {card.serial}  valid until {card.valid_until or '-'}", file=out)
    print(f"PIN tries left: {card.pin_tries_left}", file=out)
    for s in card.situations:
        rights = ",".join(n for n, ok in (("FSE", s.can_sign_fse), ("LOT", s.can_sign_lot)) if ok) or "none"
        print(
            f" [{s.index}] {s.billing_number}  profession {s.profession} specialty {s.specialty}"
            f"  sector {s.convention_sector} zone {s.tariff_zone}  {s.role}  signs: {rights}"
            f"  {s.practice_name}",
            file=out,
        )


def run(args, out=None) -> int:
    out = out or sys.stdout
    if args.list:
        from board.sim.cards.loader import list_samples

        print("sample cards: " + ", ".join(list_samples()), file=out)
        try:
            from board.pcsc import list_readers

            print("PC/SC readers: " + (", ".join(list_readers()) or "none"), file=out)
        except CardError as exc:
            print(f"PC/SC readers: unavailable ({exc})", file=out)
        return 0
    try:
        try:
            conn = _connection(args)
        except PcscUnavailable as exc:  # no such reader, or pcscd is not running
            print(f"error: PC/SC reader {args.pcsc!r} unavailable: {exc.detail}", file=sys.stderr)
            return 1
        card: VitaleCard | ProfessionalCard
        if args.kind == "vitale":
            from firmware.cardapps.vitale import VitaleReader

            card = VitaleReader(conn).read()
            show = _print_vitale
        else:
            from firmware.cardapps.cps import CpsReader

            reader = CpsReader(conn)
            pin = args.pin if args.pin is not None else _ask_pin()
            reader.verify_pin(pin)
            del pin
            card = reader.read()
            show = _print_cps
    except CardError as exc:
        print(f"error: {exc.code}: {exc.detail or exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # unknown sample name, bad personalisation
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except _NoPin:
        print("error: no PIN: stdin is not a terminal; give it with --pin", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(_plain(card), ensure_ascii=False, sort_keys=True), file=out)
    else:
        show(card, out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (the product CLI is host_tools/card_cli.py)."""
    parser = argparse.ArgumentParser(prog="tla-card")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
