"""APDU count, bytes and wire time of the two card operations of a secured FSE:

- "read Vitale (all beneficiaries)": :meth:`VitaleReader.read` without certificate;
- "CPS verify PIN + sign": VERIFY, MSE SET, PSO:CDS (card already read at unlock).

APDU figures come from the in-memory connection (APDU level, any transport).
Wire figures come from the lead's direct link (``firmware/iso7816/link.py`` over
``board/sim/slot.py``): the emulator's line log gives the measured time, from the
leading edge of the first character to the end of the last one. The bound is
the ISO 7816-3 lower bound (rules of ``bench/card_link.py``: 12 etu a character,
16 etu (T=0 §10.2) or BGT 22 etu (T=1 §11.2) at each change of direction) for
the characters *strictly needed* at the negotiated speed: one SELECT of the
application, then only the data bytes (READ BINARY in 256-byte pieces with exact
Le) or only the three security commands; each with its T=0 procedure byte and
GET RESPONSE, or its T=1 prologue/epilogue and chaining at IFSC/IFSD.
Ratio = measured / bound (target 1.2).

    python bench/card_reads.py [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.card_link import lower_bound_etu  # noqa: E402
from board.sim.card_emulator import CardEmulator  # noqa: E402
from board.sim.cardos.apdu_connection import ApduConnection  # noqa: E402
from board.sim.cards.loader import load_card, personalisation  # noqa: E402
from board.sim.slot import SimCardSlot  # noqa: E402
from firmware.cardapps import vitale_profile as vp  # noqa: E402
from firmware.cardapps.cps import CpsReader  # noqa: E402
from firmware.cardapps.vitale import VitaleReader  # noqa: E402
from firmware.iso7816.link import CardLink  # noqa: E402
from firmware.iso7816.slot import SlotConfig  # noqa: E402

TARGET = 1.2
CASES = [  # (operation, sample card, protocol to prefer)
    ("vitale_read", "vitale_famille_essai", None),
    ("vitale_read", "vitale1_lunaire", None),
    ("cps_pin_sign", "cps_medecin", 0),
    ("cps_pin_sign", "cps_medecin", 1),
    ("cps_pin_sign", "cps_infirmier", None),
]


class _C:
    __slots__ = ("from_card",)

    def __init__(self, from_card: bool):
        self.from_card = from_card


def needed_chars(exchanges: list[tuple[int, int]], protocol: int, ifsc: int, ifsd: int) -> list[_C]:
    """Synthetic character directions for (command length without Le, response
    data length) pairs: the minimum each protocol puts on the line."""
    out: list[_C] = []

    def put(n: int, card: bool) -> None:
        out.extend(_C(card) for _ in range(n))

    for lc_part, resp in exchanges:
        if protocol == 0:
            data_in = lc_part - 5
            put(5, False)
            if data_in:
                put(1, True)  # procedure byte (INS)
                put(data_in, False)
                if resp:
                    put(2, True)  # 61xx, then GET RESPONSE (ISO 7816-4 Annex A)
                    put(5, False)
            if resp:
                put(1 + resp + 2, True)
            else:
                put(2, True)
        else:
            apdu = lc_part + (1 if resp else 0)
            chunks = [min(ifsc, apdu - i) for i in range(0, apdu, ifsc)]
            for i, n in enumerate(chunks):
                put(3 + n + 1, False)
                if i < len(chunks) - 1:
                    put(4, True)  # R-block
            answer = resp + 2
            chunks = [min(ifsd, answer - i) for i in range(0, answer, ifsd)]
            for i, n in enumerate(chunks):
                put(3 + n + 1, True)
                if i < len(chunks) - 1:
                    put(4, False)
    return out


def vitale_needed(name: str) -> list[tuple[int, int]]:
    card = load_card(name)
    app = card.applications[0]
    ex = [(5 + len(vp.AID), 0)]
    for fid in (vp.EF_CARD, vp.EF_BENEFICIARIES):
        size = len(app.files[fid].data)
        ex += [(5, min(256, size - off)) for off in range(0, size, 256)]
    return ex


CPS_NEEDED = [(5 + 8, 0), (5 + 6, 0), (5 + 51, 256)]


def run_case(op: str, name: str, prefer: int | None) -> dict:
    spec = personalisation(name)
    # APDU level
    apdu_conn = ApduConnection(load_card(name))
    # direct link
    card = load_card(name)
    emulator = CardEmulator(card)
    link = CardLink(SimCardSlot(emulator), SlotConfig(prefer_protocol=prefer))
    link.power_on()
    t = link.timing
    digest = hashlib.sha256(b"bench FSE").digest()
    if op == "vitale_read":
        VitaleReader(apdu_conn).read(certificate=False)
        reader = VitaleReader(link)
        start, cpu0 = len(emulator.log), time.process_time()
        reader.read(certificate=False)
        needed = vitale_needed(name)
    else:
        r0 = CpsReader(apdu_conn)
        sit = r0.read().situations[0]
        apdu_conn.trace.__init__()
        r0.verify_pin(spec["pin"])
        r0.sign_digest(digest, sit)
        reader = CpsReader(link)
        sit = reader.read().situations[0]
        start, cpu0 = len(emulator.log), time.process_time()
        reader.verify_pin(spec["pin"])
        reader.sign_digest(digest, sit)
        needed = CPS_NEEDED
    cpu = time.process_time() - cpu0
    chars = emulator.log[start:]
    step = 11.0 if t.protocol == 1 and t.n == 255 else 12.0
    measured_etu = (chars[-1].at + step * t.etu - chars[0].at) / t.etu
    side = emulator.side
    ifsc = getattr(link.slot, "ifsc", None) or 32
    bound = lower_bound_etu(needed_chars(needed, t.protocol, ifsc, link.config.ifsd), t.protocol, t.n)
    return {
        "operation": op, "card": name, "protocol": t.protocol, "fi": t.fi, "di": t.di,
        "apdus": apdu_conn.trace.commands, "bytes_out": apdu_conn.trace.bytes_out,
        "bytes_in": apdu_conn.trace.bytes_in, "wire_chars": len(chars),
        "wire_ms": round(measured_etu * t.etu * 1e3, 2), "bound_ms": round(bound * t.etu * 1e3, 2),
        "ratio": round(measured_etu / bound, 4), "cpu_ms": round(cpu * 1e3, 2),
        "side": type(side).__name__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    rows = [run_case(*case) for case in CASES]
    worst = max(r["ratio"] for r in rows)
    if args.json:
        print(json.dumps({"rows": rows, "worst_ratio": worst, "target": TARGET}))
        return 0
    print(f"{'operation':13} {'card':21} T Fi/Di  APDUs  out/in bytes  chars  wire ms"
          f"  bound ms  ratio  cpu ms")
    for r in rows:
        print(f"{r['operation']:13} {r['card']:21} {r['protocol']} {r['fi']}/{r['di']:<3}"
              f" {r['apdus']:5} {r['bytes_out']:6}/{r['bytes_in']:<6} {r['wire_chars']:6}"
              f" {r['wire_ms']:8.2f} {r['bound_ms']:9.2f} {r['ratio']:6.3f} {r['cpu_ms']:7.1f}")
    print(f"worst ratio {worst:.4f} (target {TARGET}x the ISO 7816-3 lower bound"
          " for the bytes strictly needed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
