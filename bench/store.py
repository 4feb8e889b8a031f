"""Store bench: durable commit latency of a signed FSE against the bare
write+fsync floor of the same disk, load throughput, start-up time with a
full store, and the capacity of the 256 MiB budget from measured row sizes.

    .venv/bin/python bench/store.py [--dir DIR] [--full-mib 256] [--json]

DIR must be on the disk under test (default: a temporary directory in the
current directory, NOT /tmp, which may be tmpfs). --json prints exactly one
JSON object (commit_p50_s, commit_p99_s, fsync_floor_s, ...).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: E402

from firmware.store import Store  # noqa: E402
from firmware.store.capacity import DEFAULT_BUDGET, DEFAULT_RESERVE, MIB, used_bytes  # noqa: E402
from firmware.store.crypto import public_raw  # noqa: E402
from firmware.store.office_sig import sign_load  # noqa: E402

PS = "10101010101"
FSE_BYTES = 2600  # COSE_Sign: body ~1.9 KiB + RSA-2048 CPS, ECDSA Vitale and unit signatures
INVOICE_BYTES = 1200  # a prepared invoice with its patient block, CBOR


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


OFFICE = Ed25519PrivateKey.generate()  # the paired office's identity (signs each load)
OFFICE_ID = OFFICE.public_key().public_bytes_raw()


def signed_invoices(store: Store, ids: range | list[str], body: bytes) -> list[tuple]:
    """Load items signed as `tla load` signs them (office side, outside the timings)."""
    return [("invoice", rid, PS, body, sign_load(OFFICE, store.unit_id, "invoice", rid, PS, body),
             OFFICE_ID) for rid in ids]


def new_store(path: str) -> tuple[Store, bytes]:
    store = Store.open(path)
    store.provision(public_raw(X25519PrivateKey.generate().public_key()))
    proof = os.urandom(256)  # stands for the CPS signature of the challenge
    store.enrol_card(proof)
    store.load_fse_range("R1", PS, 1, 999_999_999)
    return store, proof


def bench_commit(workdir: str, count: int) -> dict:
    store, _ = new_store(os.path.join(workdir, "commit.db"))
    body = os.urandom(FSE_BYTES)
    before = used_bytes(store._conn)
    lat = []
    for k in range(count):
        n = store.next_fse_number(PS)
        t0 = time.perf_counter()
        store.signed_fse(f"F-{k}", PS, n, body)
        lat.append(time.perf_counter() - t0)
    per_fse = (used_bytes(store._conn) - before) / count
    sealed = len(store.sealed_fse("F-0"))
    store.close()
    # the floor: append the same number of bytes to a file and fsync it
    floor = []
    fd = os.open(os.path.join(workdir, "floor.bin"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        chunk = os.urandom(sealed)
        for _ in range(count):
            t0 = time.perf_counter()
            os.write(fd, chunk)
            os.fsync(fd)
            floor.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
    return {"commit_p50_s": statistics.median(lat), "commit_p99_s": pct(lat, 0.99),
            "fsync_floor_s": statistics.median(floor), "fsync_floor_p99_s": pct(floor, 0.99),
            "fse_sealed_bytes": sealed, "fse_row_bytes": per_fse}


def bench_load(workdir: str, count: int, batch: int) -> dict:
    store, _ = new_store(os.path.join(workdir, "load.db"))
    before = used_bytes(store._conn)
    body = os.urandom(INVOICE_BYTES)
    items = signed_invoices(store, [f"INV-{i}" for i in range(count)], body)
    singles = signed_invoices(store, [f"ONE-{i}" for i in range(50)], body)
    t0 = time.perf_counter()
    for start in range(0, count, batch):
        store.load_batch(items[start:start + batch])
    elapsed = time.perf_counter() - t0
    per_invoice = (used_bytes(store._conn) - before) / count
    t0 = time.perf_counter()
    for item in singles:
        store.load_batch([item])
    one_by_one = (time.perf_counter() - t0) / 50
    store.close()
    return {"load_invoices": count, "load_batch": batch, "load_s": elapsed,
            "load_per_s": count / elapsed, "load_single_commit_s": one_by_one,
            "invoice_row_bytes": per_invoice}


def bench_startup(workdir: str, full_mib: int) -> dict:
    path = os.path.join(workdir, "full.db")
    budget = max(full_mib * MIB, 16 * MIB)
    store = Store.open(path, budget_bytes=budget + MIB, reserve_bytes=0)
    store.provision(public_raw(X25519PrivateKey.generate().public_key()))
    body = os.urandom(INVOICE_BYTES)
    i = 0
    while used_bytes(store._conn) < budget * 0.97:
        store.load_batch(signed_invoices(store, [f"INV-{j}" for j in range(i, i + 2000)], body))
        i += 2000
    store.close()
    size = os.path.getsize(path)
    times = {}
    for full in (False, True):
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            s = Store.open(path, budget_bytes=budget + MIB, full_check=full)
            runs.append(time.perf_counter() - t0)
            s.close()
        times[full] = min(runs)
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        while fh.read(1 << 20):
            pass
    read_floor = time.perf_counter() - t0
    return {"startup_db_bytes": size, "startup_invoices": i,
            "startup_quick_check_s": times[False], "startup_integrity_check_s": times[True],
            "startup_read_floor_s": read_floor}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=None, help="directory on the disk under test")
    ap.add_argument("--fse", type=int, default=300, help="FSE commits to time")
    ap.add_argument("--invoices", type=int, default=5000)
    ap.add_argument("--full-mib", type=int, default=256, help="store size for the start-up test")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    logging.getLogger("opentla.store").setLevel(logging.ERROR)  # the 80 % warning is expected
    workdir = tempfile.mkdtemp(prefix="bench-store-", dir=args.dir or os.getcwd())
    try:
        out = {}
        out.update(bench_commit(workdir, args.fse))
        out.update(bench_load(workdir, args.invoices, 500))
        out.update(bench_startup(workdir, args.full_mib))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    loads_room = DEFAULT_BUDGET - DEFAULT_RESERVE
    out["capacity_budget_bytes"] = DEFAULT_BUDGET
    out["capacity_invoices"] = int(loads_room // out["invoice_row_bytes"])
    out["capacity_fses_in_reserve"] = int(DEFAULT_RESERVE // out["fse_row_bytes"])
    out["capacity_fses_whole_budget"] = int(DEFAULT_BUDGET // out["fse_row_bytes"])
    out["commit_p99_over_floor_p99"] = out["commit_p99_s"] / out["fsync_floor_p99_s"]
    out["commit_p50_over_floor_p50"] = out["commit_p50_s"] / out["fsync_floor_s"]
    if args.json:
        print(json.dumps(out, sort_keys=True))
        return 0
    ms = 1000.0
    print(f"signed FSE commit ({out['fse_sealed_bytes']} B sealed), {args.fse} runs:")
    print(f"  p50 {out['commit_p50_s'] * ms:7.3f} ms   floor (write+fsync same size) "
          f"p50 {out['fsync_floor_s'] * ms:7.3f} ms   ratio {out['commit_p50_over_floor_p50']:.2f}")
    print(f"  p99 {out['commit_p99_s'] * ms:7.3f} ms   floor p99 {out['fsync_floor_p99_s'] * ms:7.3f} ms"
          f"   ratio {out['commit_p99_over_floor_p99']:.2f}  (target <= 3)")
    print(f"load {out['load_invoices']} invoices ({INVOICE_BYTES} B) in batches of 500: "
          f"{out['load_s']:.2f} s = {out['load_per_s']:.0f}/s; one per transaction: "
          f"{out['load_single_commit_s'] * ms:.2f} ms each")
    print(f"start-up with {out['startup_db_bytes'] / MIB:.0f} MiB ({out['startup_invoices']} invoices): "
          f"quick_check {out['startup_quick_check_s']:.2f} s, integrity_check "
          f"{out['startup_integrity_check_s']:.2f} s; reading the file: {out['startup_read_floor_s']:.2f} s")
    print(f"row sizes: invoice {out['invoice_row_bytes']:.0f} B, FSE {out['fse_row_bytes']:.0f} B")
    print(f"256 MiB budget: {out['capacity_invoices']} invoices (budget - {DEFAULT_RESERVE // MIB} MiB reserve), "
          f"reserve holds {out['capacity_fses_in_reserve']} FSEs, whole budget "
          f"{out['capacity_fses_whole_budget']} FSEs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
