"""Wire time of typical card exchanges against the ISO 7816-3 lower bound.

For each reference card (Vitale 2, Vitale 1, CPS3, CPS4 in T=0 and T=1) on the
simulated board, at the default speed and after PPS:

- READ BINARY of 255 bytes;
- a signature exchange: PSO:CDS with a 35-byte hash in, 256 bytes out.

The *measured* wire time is read from the emulator's line log (leading edge of
the reader's first character to the end of the card's last one). The *bound*
is computed here from the same characters with the ISO rules only: 12 etu per
character (11 in T=1 with N=255), plus N extra guard on the reader's side, and
the minimum turnaround where the direction changes (16 etu in T=0 §10.2, BGT
22 etu in T=1 §11.2), at the negotiated etu. Ratio = measured / bound.

    python bench/card_link.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from board.sim.card_emulator import CardEmulator, MemoryTestCard  # noqa: E402
from board.sim.slot import REFERENCE_ATRS, SimCardSlot  # noqa: E402
from firmware.iso7816.apdu import CommandAPDU  # noqa: E402
from firmware.iso7816.link import CardLink  # noqa: E402
from firmware.iso7816.slot import SlotConfig  # noqa: E402

TARGET = 1.05
OPERATIONS = {
    "read_binary_255": CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=255),
    "sign_35_in_256_out": CommandAPDU(0x00, 0x2A, 0x9E, 0x9A, data=bytes(range(35)), le=256),
}


def lower_bound_etu(chars, protocol: int, n: int) -> float:
    """ISO lower bound for a sequence of (from_card, ...) characters."""
    if not chars:
        return 0.0
    card_step = 11.0 if protocol == 1 and n == 255 else 12.0
    reader_step = card_step if n == 255 else 12.0 + n
    turnaround = 22.0 if protocol == 1 else 16.0
    total = 0.0
    for prev, cur in zip(chars, chars[1:], strict=False):
        if prev.from_card != cur.from_card:
            total += turnaround
        else:
            total += card_step if prev.from_card else reader_step
    return total + (card_step if chars[-1].from_card else reader_step)


def run_card(name: str, pps: bool) -> list[dict]:
    atr, prefer = REFERENCE_ATRS[name]
    emulator = CardEmulator(MemoryTestCard(atr=atr))
    link = CardLink(SimCardSlot(emulator), SlotConfig(pps=pps, prefer_protocol=prefer))
    link.power_on()
    t = link.timing
    rows = []
    for op, command in OPERATIONS.items():
        start = len(emulator.log)
        cpu0 = time.process_time()
        response = link.transmit(command)
        cpu = time.process_time() - cpu0
        chars = emulator.log[start:]
        measured = chars[-1].at + (11.0 if t.protocol == 1 and t.n == 255 else 12.0) * t.etu
        measured_etu = (measured - chars[0].at) / t.etu
        bound = lower_bound_etu(chars, t.protocol, t.n)
        rows.append({
            "card": name, "speed": "pps" if pps else "default", "operation": op,
            "protocol": t.protocol, "fi": t.fi, "di": t.di, "baud": round(t.baud, 1),
            "sw": f"{response.sw:04X}", "chars": len(chars),
            "wire_etu": round(measured_etu, 3), "bound_etu": bound,
            "wire_ms": round(measured_etu * t.etu * 1e3, 3),
            "bound_ms": round(bound * t.etu * 1e3, 3),
            "ratio": round(measured_etu / bound, 4), "cpu_ms": round(cpu * 1e3, 2),
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    rows = [r for name in REFERENCE_ATRS for pps in (False, True) for r in run_card(name, pps)]
    worst = max(r["ratio"] for r in rows)
    if args.json:
        print(json.dumps({"rows": rows, "worst_ratio": worst, "target": TARGET}))
        return 0
    print(f"{'card':8} {'speed':7} {'operation':19} T  Fi/Di    baud  chars  wire ms"
          f"  bound ms  ratio  cpu ms")
    for r in rows:
        print(f"{r['card']:8} {r['speed']:7} {r['operation']:19} {r['protocol']}  "
              f"{r['fi']}/{r['di']:<3} {r['baud']:7.0f} {r['chars']:6} {r['wire_ms']:8.2f} "
              f"{r['bound_ms']:9.2f} {r['ratio']:6.3f} {r['cpu_ms']:7.1f}")
    print(f"worst ratio {worst:.4f} (target {TARGET}x the ISO 7816-3 lower bound)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
