"""``tla-card apdu``: send APDUs to a simulated card or a PC/SC reader and
print each exchange with its wire timing.

    $ tla-card apdu --card vitale2 00A4000002 2F20 00B0000010
    $ tla-card apdu --card cps4 --protocol 1 --fault parity:3 00B00000FF
    $ tla-card apdu --pcsc "ACS ACR39U" 00A4040007A0000000041010

On the simulated board the timing is exact emulated wire time: characters each
way, turnarounds, etu and microseconds. Until the Vitale/CPS card OS is
plugged in, simulated cards answer as the generic memory test card
(SELECT, READ/UPDATE BINARY, ECHO 80 EE, SIGN 00 2A 9E 9A) behind the chosen ATR.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from board.sim.card_emulator import CardEmulator, EmulatorConfig, Faults, MemoryTestCard
from board.sim.slot import REFERENCE_ATRS, SimCardSlot
from firmware.iso7816.apdu import ApduError, CommandAPDU
from firmware.iso7816.errors import CardError
from firmware.iso7816.link import CardLink
from firmware.iso7816.slot import SlotConfig

CARDS = ("memory", *REFERENCE_ATRS)
FAULT_HELP = (
    "parity:N, lost:N, corrupt:N, echo:N (protocol character N), remove:N, mute, "
    "slow:ETU, pps-refuse, pps-garble, pps-decline"
)
EPILOG = """exit codes:
  0  every APDU was exchanged (whatever its status word)
  1  the card or reader failed: no ATR, link error, reader unavailable
  2  bad usage: APDU not hex or shorter than its 4-byte header, bad --atr, --fault or --file"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "apdu", help="send APDUs to a simulated card or a PC/SC reader",
        description="Send command APDUs (hex) and print each response with its wire timing. "
                    "With no APDU, only power the card on and show the negotiated link.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("apdus", nargs="*", help="command APDUs in hex (spaces inside need quotes)")
    p.add_argument("--file", type=Path, help="read APDUs from FILE, one per line, # comments")
    p.add_argument("--card", choices=CARDS, default="vitale2", help="simulated card (ATR)")
    p.add_argument("--atr", help="simulate this ATR instead (hex)")
    p.add_argument("--protocol", choices=("auto", "0", "1"), default="auto",
                   help="protocol to prefer when the card offers several")
    p.add_argument("--no-pps", action="store_true", help="stay at the default speed")
    p.add_argument("--fault", action="append", default=[], metavar="KIND[:N]", help=FAULT_HELP)
    p.add_argument("--pcsc", metavar="READER", help="use this PC/SC reader instead")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _hex_bytes(text: str, what: str) -> bytes:
    """Bytes from hex (spaces allowed); ValueError naming ``what`` and the problem."""
    digits = "".join(text.split())
    bad = next((c for c in digits if c not in "0123456789abcdefABCDEF"), None)
    if bad is not None:
        raise ValueError(f"{what}: not hexadecimal (character {bad!r})")
    if len(digits) % 2:
        raise ValueError(f"{what}: odd number of hex digits ({len(digits)})")
    return bytes.fromhex(digits)


def parse_apdus(args) -> list[CommandAPDU]:
    """Command APDUs from the arguments, then ``--file``; ValueError names the argument
    or file line (ISO/IEC 7816-4 §5.1: at least CLA INS P1 P2)."""
    sources = [(f"APDU {line.strip()!r}", line) for line in args.apdus]
    if args.file:
        try:
            text = args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {args.file}: {getattr(exc, 'strerror', None) or exc}"
                             ) from None
        sources += [(f"{args.file}:{n}", ln.split("#", 1)[0])
                    for n, ln in enumerate(text.splitlines(), start=1)]
    out = []
    for what, line in sources:
        if not line.strip():
            continue
        data = _hex_bytes(line, what)
        if len(data) < 4:
            raise ValueError(f"{what}: {len(data)} byte(s), shorter than the 4-byte header "
                             "CLA INS P1 P2")
        try:
            out.append(CommandAPDU.from_bytes(data))
        except ApduError as exc:
            raise ValueError(f"{what}: {exc}") from None
    return out


def _fault_number(fault: str, value: str, cast=int):
    try:
        number = cast(value)
    except ValueError:
        raise ValueError(f"fault {fault!r}: expected a number after ':' "
                         f"(known: {FAULT_HELP})") from None
    if not 0 <= number < 1e9:  # also refuses nan and inf
        raise ValueError(f"fault {fault!r}: the number must be 0 or more")
    return number


def build_emulator(card: str, atr_hex: str | None, faults: list[str]) -> CardEmulator:
    atr = bytes.fromhex("3B00") if card == "memory" else REFERENCE_ATRS[card][0]
    if atr_hex:
        atr = _hex_bytes(atr_hex, "--atr")
        if not atr:
            raise ValueError("--atr: no bytes")
    config = EmulatorConfig()
    sets: dict[str, set[int]] = {"parity": set(), "lost": set(), "corrupt": set(), "echo": set()}
    remove_at = None
    for fault in faults:
        kind, _, value = fault.partition(":")
        if kind in sets:
            sets[kind].add(_fault_number(fault, value))
        elif kind == "remove":
            remove_at = _fault_number(fault, value)
        elif kind == "mute":
            config.atr_script = [None]
        elif kind == "slow":
            config.delay_etu = _fault_number(fault, value, float)
        elif kind in ("pps-refuse", "pps-garble", "pps-decline"):
            config.pps = kind[4:]
        else:
            raise ValueError(f"unknown fault {fault!r} (known: {FAULT_HELP})")
    faults_obj = Faults(
        parity_at=frozenset(sets["parity"]), lost_at=frozenset(sets["lost"]),
        corrupt_at=frozenset(sets["corrupt"]), echo_corrupt_at=frozenset(sets["echo"]),
        remove_at=remove_at,
    )
    return CardEmulator(MemoryTestCard(atr=atr), config, faults_obj)


def _hex(data: bytes) -> str:
    return data.hex(" ").upper()


def run(args) -> int:
    try:
        commands = parse_apdus(args)
    except ValueError as exc:
        print(f"error: bad APDU input: {exc}", file=sys.stderr)
        return 2
    if args.pcsc:
        return _run_pcsc(args, commands)
    try:
        emulator = build_emulator(args.card, args.atr, args.fault)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    prefer = None if args.protocol == "auto" else int(args.protocol)
    if prefer is None and args.card in REFERENCE_ATRS and not args.atr:
        prefer = REFERENCE_ATRS[args.card][1]
    link = CardLink(SimCardSlot(emulator), SlotConfig(prefer_protocol=prefer, pps=not args.no_pps))
    report: dict = {"exchanges": []}
    try:
        link.power_on()
    except CardError as exc:
        return _fail(args, report, exc)
    t = link.timing
    report.update(atr=link.atr.hex().upper(), protocol=link.protocol, fi=t.fi, di=t.di,
                  baud=round(t.baud, 1), notes=[f"{n.event} {n.detail}".strip() for n in link.notes])
    if not args.json:
        print(f"ATR {_hex(link.atr)}  T={link.protocol}  Fi/Di={t.fi}/{t.di}  {t.baud:.0f} baud")
    for cmd in commands:
        try:
            resp = link.transmit(cmd)
        except CardError as exc:
            return _fail(args, report, exc)
        w = link.stats.last
        if w is None:  # the link meters every exchange that moved characters
            raise RuntimeError("internal error: the card link recorded no wire figures")
        row = {"command": cmd.to_bytes().hex().upper(), "response": resp.to_bytes().hex().upper(),
               "sw": resp.describe(), "chars_out": w.chars_sent, "chars_in": w.chars_received,
               "turnarounds": w.turnarounds, "etu": round(w.etu, 1),
               "us": round(w.seconds * 1e6, 1)}
        report["exchanges"].append(row)
        if not args.json:
            print(f"> {_hex(cmd.to_bytes())}")
            print(f"< {_hex(resp.to_bytes())}  ({resp.describe()})")
            print(f"  wire: {w.chars_sent} chars out, {w.chars_received} in, "
                  f"{w.turnarounds} turnarounds, {w.etu:.1f} etu, {w.seconds * 1e6:.1f} us")
    if args.json:
        print(json.dumps(report))
    return 0


def _fail(args, report: dict, exc: CardError) -> int:
    if args.json:
        report["error"] = {"code": exc.code, "detail": exc.detail}
        print(json.dumps(report))
    else:
        print(f"error: {exc.code}: {exc.detail}", file=sys.stderr)
    return 1


def _run_pcsc(args, commands: list[CommandAPDU]) -> int:
    from board.pcsc import PcscConnection, PcscUnavailable  # lazy: pyscard only when asked

    protocol = {"auto": "any", "0": "T0", "1": "T1"}[args.protocol]
    try:
        conn = PcscConnection.open(args.pcsc, protocol)
    except PcscUnavailable as exc:  # no such reader, or pcscd is not running
        print(f"error: PC/SC reader {args.pcsc!r} unavailable: {exc.detail}", file=sys.stderr)
        return 1
    except CardError as exc:  # CardAbsent: no usable card in that reader
        return _fail(args, {"exchanges": []}, exc)
    report: dict = {"atr": conn.atr.hex().upper(), "exchanges": []}
    if not args.json:
        print(f"ATR {_hex(conn.atr)}  (PC/SC reader {conn.reader}: no wire timing)")
    try:
        for cmd in commands:
            resp = conn.transmit(cmd)
            report["exchanges"].append({"command": cmd.to_bytes().hex().upper(),
                                        "response": resp.to_bytes().hex().upper()})
            if not args.json:
                print(f"> {_hex(cmd.to_bytes())}\n< {_hex(resp.to_bytes())}  ({resp.describe()})")
    except CardError as exc:
        return _fail(args, report, exc)
    finally:
        conn.close()
    if args.json:
        print(json.dumps(report))
    return 0
