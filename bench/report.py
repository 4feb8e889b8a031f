"""Bench: the pilot review report (tla report --html --csv), beside its floor.

Run:  .venv/bin/python bench/report.py [--traces 100000] [--fse 2000] [--json]
      [--keep DIR]   (keep office.db, report.html and report.csv there)

Setup (not timed): a fresh office database with ``--traces`` traces of two units over
seven days (a fixed random seed; durations log-normal around each operation's typical
time, a few errors) and ``--fse`` FSEs of three professionals (85 % secured; the nurse's
and the physiotherapist's need the prescription, degraded ones the paper sheet), stored
through OfficeDb.import_fse with a stand-in COSE carrying the payload (no signature:
the report never verifies). Timed (``report_s``): ``cmd_report.generate`` writing the
HTML (charts rendered by matplotlib) and the CSV. Floor (``read_floor_s``): reading the
same rows and decoding the FSE payloads (report_data.read), which any report must do.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import cbor2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from host_tools import report_data  # noqa: E402
from host_tools.cmd_report import report_seconds  # noqa: E402
from host_tools.office_db import OfficeDb  # noqa: E402

FIRST, LAST = date(2026, 3, 9), date(2026, 3, 15)
UNITS = ("TLA-0001", "TLA-0002")
# operation: (median seconds, log-normal sigma, [(error code, probability)])
OPERATIONS = {
    "card.cps.connect": (0.08, 0.15, []),
    "card.cps.read": (0.32, 0.12, []),
    "card.cps.verify_pin": (0.11, 0.10, [("pin_wrong", 0.03)]),
    "card.cps.sign": (0.46, 0.08, []),
    "card.vitale.connect": (0.07, 0.20, [("card_absent", 0.02)]),
    "card.vitale.read": (0.38, 0.18, [("card_absent", 0.015), ("card_mute", 0.005)]),
    "card.vitale.sign": (0.27, 0.10, []),
    "fse.build": (0.018, 0.25, []),
    "fse.commit": (0.012, 0.35, []),
    "visit.sign": (1.45, 0.22, [("cancelled", 0.02)]),
    "link.fse.pull": (0.035, 0.30, []),
    "link.session": (2.8, 0.6, [("idle", 0.04)]),
}
WEIGHTS = {"visit.sign": 4, "card.vitale.read": 5, "card.vitale.connect": 5,
           "card.vitale.sign": 4, "card.cps.sign": 5, "fse.build": 4, "fse.commit": 4,
           "link.fse.pull": 4}
PROS = (("699999025", "60", True), ("759999014", "10", False), ("139999031", "70", True))


def fill(db: OfficeDb, traces: int, fses: int, seed: int = 12) -> None:
    rng = random.Random(seed)
    start = datetime(FIRST.year, FIRST.month, FIRST.day, tzinfo=UTC).timestamp()
    span = 7 * 86400
    ops = list(OPERATIONS)
    weights = [WEIGHTS.get(op, 1) for op in ops]
    for unit_no, unit in enumerate(UNITS):
        rows = []
        count = traces // len(UNITS) + (unit_no < traces % len(UNITS))
        for i, op in enumerate(rng.choices(ops, weights, k=count)):
            median, sigma, errors = OPERATIONS[op]
            outcome = "ok"
            draw = rng.random()
            for code, p in errors:
                if draw < p:
                    outcome = code
                    break
                draw -= p
            slow = 1.0 + 0.25 * unit_no  # the second unit's reader is a little slower
            rows.append((i + 1, start + span * (i + 0.5) / count, op,
                         rng.lognormvariate(0, sigma) * median * slow, outcome))
        db.import_traces(unit, rows)
    for n in range(fses):
        billing, profession, prescribed = PROS[n % len(PROS)]
        mode = "degraded" if rng.random() < 0.15 else "secured"
        pj = (["ORDN"] if prescribed else []) + (["FSP"] if mode == "degraded" else [])
        payload = {"billing_number": billing, "fse_number": n + 1, "mode": mode,
                   "signed_at": int(start + span * (n + 0.5) / fses),
                   "date_of_care": "2026-03-10", "pj": pj,
                   "amounts": {"total_cents": 2500, "amo_cents": 1750, "patient_cents": 750},
                   "beneficiary": {"nir": "1800175123456", "nir_key": "60", "name": "PATIENT",
                                   "first_name": str(n)}}
        cose = cbor2.dumps(cbor2.CBORTag(98, [b"", {}, cbor2.dumps(payload), []]))
        db.import_fse(UNITS[n % 2], f"FSE-{n + 1:06d}", cose, payload, bytes(32))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=int, default=100_000)
    ap.add_argument("--fse", type=int, default=2000)
    ap.add_argument("--keep", type=Path, help="keep the database and the report there")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="opentla-report-") as tmp:
        where = args.keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        (where / "office.db").unlink(missing_ok=True)
        with OfficeDb(where / "office.db") as db:
            fill(db, args.traces, args.fse)
            t0 = time.perf_counter()
            data = report_data.read(db, report_data.Period(FIRST, LAST))
            floor = time.perf_counter() - t0
            cpu0 = time.process_time()
            seconds, written = report_seconds(db, FIRST, LAST, where / "report.html",
                                              where / "report.csv")
            cpu = time.process_time() - cpu0
    result = {"report_s": round(seconds, 3), "report_cpu_s": round(cpu, 3),
              "read_floor_s": round(floor, 3), "traces": len(data.traces),
              "fses": len(data.fses), "operations": len({t.operation for t in data.traces}),
              "html_bytes": written.html_bytes}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"report over {result['traces']} traces, {result['fses']} FSEs, "
              f"{result['operations']} operations: {seconds:.2f} s wall ({cpu:.2f} s CPU), "
              f"HTML {written.html_bytes / 1024:.0f} KiB")
        print(f"floor (read + decode the same rows): {floor:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
