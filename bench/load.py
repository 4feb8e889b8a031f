"""`tla load` check bench: rows checked per second and peak memory for invoice CSVs of
two sizes, to show the check is one streaming pass with memory flat in the file size.

    .venv/bin/python bench/load.py [--rows 100000 1000000] [--dir DIR] [--json]

Each size is checked in a fresh child process (so its peak RSS, ``ru_maxrss``, is its
own): a CSV of act lines, two rows per invoice, valid, against the sample tariff.
Rates are wall-clock; the CPU seconds are printed beside them (a busy machine lowers
the first, not the second).
Targets (issue 9, defect 5): peak RSS under 200 MB and flat from 1e5 to 1e6 rows (the
old check took 2.1 GB and 40 s for 1e6 rows). ``--json`` prints one JSON object:
``check_rows_per_s`` and ``peak_rss_mb`` (of the largest size), ``rss_growth`` (largest
over smallest peak) and the figures per size. ``--rows 2000 20000`` keeps it quick.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TARGET_RSS_MB = 200
HEADER = ("invoice_id,billing_number,profession,date_of_care,code,coefficient,"
          "patient_nir,patient_nir_key,patient_birth_date,patient_name\n")


def write_csv(path: str, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(rows):
            code, coef = ("AMI", "1.5") if i % 2 == 0 else ("IFD", "")
            f.write(f"INV-{i // 2:08d},699999025,60,2026-03-10,{code},{coef},"
                    "1800799999012,56,15/07/1980,ESSAI\n")


def child(path: str) -> None:
    """Check one file; print rows, seconds and this process's peak RSS."""
    import resource

    from firmware.billing.tariffs import TariffTable
    from host_tools.load_files import read_files

    tariff = TariffTable.load_sample()
    with open(path, encoding="utf-8") as f:
        rows = sum(1 for _ in f) - 1
    started, cpu = time.perf_counter(), time.process_time()
    checked = read_files([Path(path)], tariff)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if checked.counts.get("invoice") != (rows + 1) // 2:
        raise SystemExit(f"expected {(rows + 1) // 2} invoices, got {checked.counts}")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"rows": rows, "seconds": seconds, "cpu_s": cpu,
                      "peak_rss_mb": peak_kb / 1024}))


def measure(rows: int, directory: str) -> dict:
    path = os.path.join(directory, f"invoices-{rows}.csv")
    write_csv(path, rows)
    try:
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", path],
                              capture_output=True, text=True, cwd=ROOT, check=False)
    finally:
        os.unlink(path)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    figures = json.loads(done.stdout.splitlines()[-1])
    figures["check_rows_per_s"] = figures["rows"] / figures["seconds"]
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--dir", default=None, help="where the CSVs are written (default: temp)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        sizes = [measure(n, directory) for n in sorted(args.rows)]
    largest, smallest = sizes[-1], sizes[0]
    result = {"check_rows_per_s": round(largest["check_rows_per_s"]),
              "peak_rss_mb": round(largest["peak_rss_mb"], 1),
              "rss_growth": round(largest["peak_rss_mb"] / smallest["peak_rss_mb"], 2),
              "target_peak_rss_mb": TARGET_RSS_MB,
              "sizes": [{"rows": s["rows"], "check_rows_per_s": round(s["check_rows_per_s"]),
                         "seconds": round(s["seconds"], 2), "cpu_s": round(s["cpu_s"], 2),
                         "peak_rss_mb": round(s["peak_rss_mb"], 1)} for s in sizes]}
    if args.json:
        print(json.dumps(result))
        return
    print("tla load check, invoice CSV (2 rows per invoice), sample tariff:")
    for s in result["sizes"]:
        print(f"  {s['rows']:>9} rows: {s['check_rows_per_s']:>8} rows/s "
              f"({s['seconds']} s, {s['cpu_s']} s CPU), peak RSS {s['peak_rss_mb']} MB "
              f"(target < {TARGET_RSS_MB} MB)")
    print(f"  peak RSS growth {smallest['rows']} -> {largest['rows']} rows: "
          f"x{result['rss_growth']} (target: flat, ~1)")


if __name__ == "__main__":
    main()
