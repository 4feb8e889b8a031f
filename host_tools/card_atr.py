"""``tla-card atr HEX [--json]``: decode an Answer-to-Reset (ISO 7816-3 §8).

``HEX`` may contain spaces or be split over several arguments. With ``-``
instead of HEX, one ATR per line is read from stdin (blank lines ignored) and
decoded in the same process; with ``--json`` each line gives one JSON object
(JSON Lines). Exit code: 0 when every ATR is well formed, 1 when at least one
is malformed, 2 when an input is not hexadecimal.
"""

from __future__ import annotations

import argparse
import json
import sys

from firmware.iso7816.atr import Atr, SpecificMode, parse_atr
from firmware.iso7816.timing import DI_TABLE, FI_TABLE

EXIT_OK, EXIT_MALFORMED, EXIT_USAGE = 0, 1, 2
EPILOG = """exit codes:
  0  every ATR is well formed
  1  at least one ATR is malformed (its errors are printed)
  2  bad usage: an input is not hexadecimal or has an odd number of digits"""

_CLOCK_STOP = {0: "not supported", 1: "state L", 2: "state H", 3: "no preference"}
_CLASSES = ((0x01, "A (5 V)"), (0x02, "B (3 V)"), (0x04, "C (1.8 V)"))


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "atr",
        help="decode an ATR (ISO 7816-3 section 8)",
        description="Decode an Answer-to-Reset. HEX may contain spaces; '-' reads one ATR per line from stdin.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("hex", nargs="+", help="ATR bytes in hex (spaces allowed), or - for stdin")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def _hz(f: int) -> str:
    return f"{f / 1e6:g} MHz"


def _ta1(atr: Atr, ta1: int) -> str:
    fi = "RFU" if FI_TABLE[ta1 >> 4] is None else f"{atr.fi}"
    di = "RFU" if DI_TABLE[ta1 & 0x0F] is None else f"{atr.di}"
    fmax = f", f max {_hz(atr.f_max)}" if atr.f_max else ""
    return f"Fi={fi} Di={di}{fmax}"


def describe(atr: Atr) -> list[str]:
    """Human lines: every byte with its meaning, then errors and warnings."""
    lines = [f"ATR: {atr.raw.hex(' ').upper()}"]
    if atr.from_raw_inverse:
        lines.append("  (read raw with TS=03: converted from the inverse convention)")
    if atr.convention is None:
        if atr.ts is not None:
            lines.append(f"TS={atr.ts:02X}: invalid initial character")
        return lines + [f"error: {e}" for e in atr.errors]
    lines.append(f"TS={atr.ts:02X}: {atr.convention} convention")
    if atr.t0 is not None:
        y, k = atr.t0 >> 4, atr.t0 & 0x0F
        lines.append(f"T0={atr.t0:02X}: Y1={y:X}, K={k} historical byte(s)")
    protocol = 0  # the protocol the bytes of level i belong to, announced by TD(i-1)
    for i, lv in enumerate(atr.levels, start=1):
        for name, value in (("TA", lv.ta), ("TB", lv.tb), ("TC", lv.tc), ("TD", lv.td)):
            if value is not None:
                lines.append(f"{name}{i}={value:02X}: {_meaning(atr, name, i, value, protocol)}")
        if lv.next_protocol is not None:
            protocol = lv.next_protocol
    prots = ", ".join(f"T={t}" for t in atr.protocols or [])
    implicit = " (implicit, no TD1)" if atr.td(1) is None else ""
    lines.append(f"Protocols: {prots or 'none'}{implicit}; first offered T={atr.first_protocol}")
    if atr.ta(1) is None:
        lines.append("Fi/Di: defaults Fi=372 Di=1, f max 5 MHz (no TA1)")
    mode = "specific (TA2)" if atr.specific else "negotiable (no TA2): PPS allowed"
    lines.append(f"Mode: {mode}")
    wi = f"; T=0 WI={atr.wi} (WWT = 960 x WI x Fi / f)" if 0 in (atr.protocols or []) else ""
    lines.append(f"Extra guard time N={atr.n}{wi}")
    if atr.checksum is not None:
        lines.append(
            f"T=1: IFSC={atr.ifsc} BWI={atr.bwi} CWI={atr.cwi} error detection {atr.checksum}"
        )
    hist = atr.historical.hex(" ").upper()
    lines.append(f"Historical bytes ({len(atr.historical)}): {hist or '-'}")
    if not atr.tck_required:
        lines.append("TCK: absent (only T=0 indicated)")
    elif atr.tck is None:
        lines.append("TCK: missing")
    else:
        lines.append(f"TCK={atr.tck:02X}: {'correct' if atr.tck_ok else 'WRONG'}")
    lines += [f"error: {e}" for e in atr.errors]
    lines += [f"warning: {w}" for w in atr.warnings]
    lines.append("verdict: " + ("well formed" if atr.ok else "MALFORMED"))
    return lines


def _meaning(atr: Atr, name: str, i: int, v: int, protocol: int) -> str:
    """Meaning of interface byte ``name`` of level ``i`` (value ``v``); ``protocol``: the T
    that level belongs to (used from level 3 on; levels 1 and 2 are global or T=0)."""
    if name == "TD":
        y = v >> 4
        present = " ".join(
            f"T{c}{i + 1}" for bit, c in ((1, "A"), (2, "B"), (4, "C"), (8, "D")) if y & bit
        )
        return f"T={v & 0x0F}, next: {present or 'none'}"
    if i == 1:
        return {
            "TA": lambda: _ta1(atr, v),
            "TB": lambda: "VPP (deprecated, ignored)",
            "TC": lambda: f"extra guard time N={v}" + (" (minimum)" if v == 255 else ""),
        }[name]()
    if i == 2:
        if name == "TA":
            s = SpecificMode.from_ta2(v)
            return (
                f"specific mode T={s.protocol}, "
                f"{'can' if s.can_change else 'cannot'} change mode, "
                f"{'implicit' if s.implicit else 'TA1'} Fi/Di"
            )
        if name == "TB":
            return "VPP (deprecated, ignored)"
        return f"T=0 work waiting integer WI={v}"
    if protocol == 1:
        if name == "TA":
            return f"T=1 IFSC={v}"
        if name == "TB":
            return f"T=1 BWI={v >> 4} CWI={v & 0x0F}"
        return f"T=1 error detection {'CRC' if v & 1 else 'LRC'}"
    if protocol == 15 and name == "TA":
        classes = ", ".join(c for bit, c in _CLASSES if v & bit) or "none"
        return f"clock stop: {_CLOCK_STOP[v >> 6]}; classes: {classes}"
    return f"T={protocol} specific byte"


def _decode_hex(text: str) -> bytes:
    """Bytes from hex with optional spaces; ValueError with a one-line English reason."""
    digits = "".join(text.split())
    bad = next((c for c in digits if c not in "0123456789abcdefABCDEF"), None)
    if bad is not None:
        raise ValueError(f"not hexadecimal: {text.strip()!r} (character {bad!r})")
    if len(digits) % 2:
        raise ValueError(f"odd number of hex digits ({len(digits)}) in {text.strip()!r}")
    if not digits:
        raise ValueError("no hex digits")
    return bytes.fromhex(digits)


def _one(text: str, as_json: bool, out) -> int:
    try:
        data = _decode_hex(text)
    except ValueError as exc:
        if as_json:
            out.write(json.dumps({"input": text.strip(), "error": f"not_hex: {exc}"}) + "\n")
        else:
            out.write(f"error: {exc}\n")
        return EXIT_USAGE
    atr = parse_atr(data)
    if as_json:
        out.write(json.dumps(atr.to_json_dict()) + "\n")
    else:
        out.write("\n".join(describe(atr)) + "\n")
    return EXIT_OK if atr.ok else EXIT_MALFORMED


def run(args) -> int:
    out = sys.stdout
    if args.hex == ["-"]:
        worst, first = EXIT_OK, True
        for line in sys.stdin:
            if not line.strip():
                continue
            if not args.json and not first:
                out.write("\n")
            first = False
            worst = max(worst, _one(line, args.json, out))
        return worst
    return _one(" ".join(args.hex), args.json, out)
