"""Bench: lots made and signed from imported FSEs (tla lots make), beside its floor.

Run:  .venv/bin/python bench/lots.py [--fse 10000] [--json]

Setup (not timed): ``--fse`` distinct secured FSEs of one nurse to three organisms,
built with software keys (bench/fse.py's), verified and imported into a fresh office
database. Timed: ``make_lots`` with the emulated CPS (board/sim: its RSA signature is
computed in software, so a real card's ~0.3-1 s per lot signature is not included; the
number of lots is printed to add it), i.e. read every unlotted FSE, decode its payload,
group, build and sign each lot file, store all lots in one fsync'd transaction.
Floor (``read_decode_floor_s``): reading the same rows and decoding their payloads,
which any lot making must do. Times are wall clock and CPU of this process.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from board.sim.cardos.apdu_connection import ApduConnection  # noqa: E402
from board.sim.cards.loader import build_card, personalisation  # noqa: E402
from firmware.billing.fse import build_fse  # noqa: E402
from firmware.billing.invoice import Invoice  # noqa: E402
from firmware.billing.trust import CardAuthorities  # noqa: E402
from firmware.billing.verify import FseVerifier  # noqa: E402
from host_tools import office_lots  # noqa: E402
from host_tools.lot_maker import make_lots  # noqa: E402
from host_tools.office_db import NewFse, OfficeDb  # noqa: E402

BILLING = "699999025"  # board/sim/cards/cps_infirmier.yaml
PIN = "4321"
DESTS = (("01", "341"), ("01", "751"), ("02", "751"))


def _fse_bench():
    spec = importlib.util.spec_from_file_location("bench_fse", ROOT / "bench" / "fse.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def setup(count: int, path: Path) -> OfficeDb:
    ctx, signers, root, pub, seal = _fse_bench().setup()
    inv = Invoice.from_dict({**ctx.invoice.to_dict(), "billing_number": BILLING})
    sit = replace(ctx.situation, billing_number=BILLING)
    at = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
    verifier = FseVerifier(CardAuthorities([root]), {"TLA-0001": pub})
    db = OfficeDb(path)
    batch: list[NewFse] = []
    bens = [replace(ctx.beneficiary, regime=r, caisse=c) for r, c in DESTS]
    for n in range(1, count + 1):
        ben = bens[n % len(bens)]
        c = replace(ctx, invoice=inv, situation=sit, beneficiary=ben,
                    vitale=replace(ctx.vitale, beneficiaries=(ben,)),
                    ps_card=replace(ctx.ps_card, situations=(sit,)))
        fse = build_fse(c, number=n, unit_id="TLA-0001", signed_at=at, **signers)
        v = verifier.verify(fse.encoded)
        batch.append(NewFse(f"F-{n}", fse.encoded, v.payload, v.seal))
    for start in range(0, len(batch), 500):  # as tla unload stores them, in batches
        db.import_fses("TLA-0001", batch[start:start + 500])
    office_lots.add_seal(db, "bench", seal)
    return db


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fse", type=int, default=10_000, help="FSEs to lot (default 10000)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    spec = personalisation("cps_infirmier")
    spec["valid_until"] = "2040-12-31"
    card = build_card(spec)
    with tempfile.TemporaryDirectory() as tmp:
        db = setup(args.fse, Path(tmp) / "office.db")
        t0, c0 = time.perf_counter(), time.process_time()
        rows = office_lots.unlotted(db)
        floor_s = time.perf_counter() - t0
        floor_cpu = time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        report = make_lots(db, ApduConnection(card), lambda: PIN, today=date(2026, 3, 12),
                           now=time.time())
        make_s = time.perf_counter() - t0
        make_cpu = time.process_time() - c0
        lot_bytes = sum(len(lot.lot_file) for lot in report.made)
        db.close()
    result = {
        "fse": args.fse,
        "lots": len(report.made),
        "lots_make_s": round(make_s, 3),
        "lots_make_cpu_s": round(make_cpu, 3),
        "read_decode_floor_s": round(floor_s, 3),
        "read_decode_floor_cpu_s": round(floor_cpu, 3),
        "lot_file_bytes": lot_bytes,
        "fses_read": len(rows),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"lots make: {make_s:.2f} s wall ({make_cpu:.2f} s CPU) for {args.fse} FSEs -> "
              f"{result['lots']} lots, {lot_bytes / 1e6:.1f} MB of lot files; card signatures "
              "in software (add a real CPS's time per lot)")
        print(f"floor    : {floor_s:.2f} s wall ({floor_cpu:.2f} s CPU) to read and decode the "
              f"same {len(rows)} FSEs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
