"""Bench: the office database: FSEs verified and imported per second on SQLite and on
PostgreSQL, beside verifying the same FSEs without storing them; lots made from them.

Run:  .venv/bin/python bench/office.py [--fse 10000] [--pg URL] [--json]

Setup (not timed): ``--fse`` distinct secured FSEs of one nurse to three organisms,
signed with software keys (bench/fse.py's).
Timed, wall clock (storing waits on the disk, not the CPU; the CPU-time ratio is
printed too: on a shared machine the wall clock of two runs in a row differs):
- ``verify_only_per_s``, the bound: FseVerifier over every FSE, nothing stored (batch
  by batch, each batch timed just before the same batch's import: ``paired``);
- ``import_fse_per_s_sqlite``: verify + store as ``tla unload`` does (batches of
  importer.IMPORT_BATCH in one durable transaction each: WAL, synchronous=FULL) into a
  new SQLite file. Target: >= 0.7x the bound (``import_vs_verify_sqlite``);
- ``import_fse_per_s_postgresql``: the same into PostgreSQL: ``--pg URL`` (an empty
  database), else a throwaway server started here (initdb + pg_ctl, PostgreSQL's
  default durability: fsync and synchronous_commit on) on a Unix socket. Without
  PostgreSQL on this machine the key is left out and a message says why;
- ``lots_make_s``: ``make_lots`` over the SQLite database's FSEs, the emulated CPS
  signing in software (add a real card's ~0.3-1 s per lot, ``lots`` of them).
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
from host_tools import importer, office_lots  # noqa: E402
from host_tools.cmd_report import report_seconds  # noqa: E402
from host_tools.lot_maker import make_lots  # noqa: E402
from host_tools.office_db import NewFse, OfficeDb, stored_part  # noqa: E402

BILLING = "699999025"  # board/sim/cards/cps_infirmier.yaml
PIN = "4321"
DESTS = (("01", "341"), ("01", "751"), ("02", "751"))
UNIT = "TLA-0001"
TARGET_IMPORT_RATIO = 0.7


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(count: int):
    """``count`` distinct signed FSEs (fse id, bytes), their verifier's keys and seal."""
    ctx, signers, root, pub, seal = _load("bench_fse", ROOT / "bench" / "fse.py").setup()
    inv = Invoice.from_dict({**ctx.invoice.to_dict(), "billing_number": BILLING})
    sit = replace(ctx.situation, billing_number=BILLING)
    at = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
    bens = [replace(ctx.beneficiary, regime=r, caisse=c) for r, c in DESTS]
    fses = []
    for n in range(1, count + 1):
        ben = bens[n % len(bens)]
        c = replace(ctx, invoice=inv, situation=sit, beneficiary=ben,
                    vitale=replace(ctx.vitale, beneficiaries=(ben,)),
                    ps_card=replace(ctx.ps_card, situations=(sit,)))
        fses.append((f"F-{n}", build_fse(c, number=n, unit_id=UNIT, signed_at=at,
                                         **signers).encoded))
    return fses, root, pub, seal


def paired(fses, verifier: FseVerifier, db: OfficeDb) -> tuple[float, float, float, float]:
    """(verify wall, verify CPU, import wall, import CPU) over ``fses``, batch by batch:
    each batch of importer.IMPORT_BATCH FSEs is verified alone (the bound: nothing
    stored) and verified and stored as ``tla unload`` does (importer.unload's
    take/store: one durable transaction). Alternating batches gives the bound and the
    import the same machine: run one after the other, a shared machine's load shifts
    between them and their ratio swings by 0.2."""
    verifier.verify(fses[0][1])  # the chains cached before either is timed
    db.remember_unit(UNIT, verifier_key(verifier))
    v_wall = v_cpu = i_wall = i_cpu = 0.0
    stored = 0
    for n, start in enumerate(range(0, len(fses), importer.IMPORT_BATCH)):
        chunk = fses[start:start + importer.IMPORT_BATCH]
        # the order swaps every batch: whichever runs second finds the batch's bytes in
        # the CPU's caches, so each gets that advantage half of the time
        for step in ("verify", "import") if n % 2 == 0 else ("import", "verify"):
            t0, c0 = time.perf_counter(), time.process_time()
            if step == "verify":
                for _, cose in chunk:
                    verifier.verify(cose)
            else:
                batch: list[NewFse] = []
                for fse_id, cose in chunk:
                    v = verifier.verify(cose)
                    batch.append(NewFse(fse_id, cose, stored_part(v.payload), v.seal))
                stored += sum(not isinstance(r, Exception)
                              for r in db.import_fses(UNIT, batch))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if step == "verify":
                v_wall, v_cpu = v_wall + wall, v_cpu + cpu
            else:
                i_wall, i_cpu = i_wall + wall, i_cpu + cpu
    if stored != len(fses):
        raise RuntimeError(f"{len(fses) - stored} FSEs not stored")
    return v_wall, v_cpu, i_wall, i_cpu


def verifier_key(verifier: FseVerifier) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = verifier._unit_keys[UNIT]
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def postgresql(args, fses, verifier) -> tuple[float, float, float, float] | str:
    """:func:`paired`'s figures on PostgreSQL, or why there are none."""
    if args.pg:
        with OfficeDb(args.pg) as db:
            return paired(fses, verifier, db)
    try:
        pg_server = _load("pg_server", ROOT / "tests" / "pg_server.py")
        server = pg_server.PgServer(durable=True)
    except Exception as exc:  # PgUnavailable, or the module's own imports
        return f"no PostgreSQL server here ({exc}); give --pg URL"
    try:
        server.start()
        with OfficeDb(server.new_database()) as db:
            return paired(fses, verifier, db)
    except RuntimeError as exc:
        return f"could not start a PostgreSQL server: {exc}"
    finally:
        server.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fse", type=int, default=10_000, help="FSEs (default 10000)")
    ap.add_argument("--pg", metavar="URL", help="an empty PostgreSQL database to import into "
                    "(default: start a throwaway server)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    fses, root, pub, seal = build(args.fse)
    verifier = FseVerifier(CardAuthorities([root]), {UNIT: pub})
    spec = personalisation("cps_infirmier")
    spec["valid_until"] = "2040-12-31"
    with tempfile.TemporaryDirectory(prefix="bench-office-") as tmp:
        with OfficeDb(Path(tmp) / "office.db") as db:
            verify_wall, verify_cpu, sqlite_wall, sqlite_cpu = paired(fses, verifier, db)
            office_lots.add_seal(db, "bench", seal)
            t0 = time.perf_counter()
            made = make_lots(db, ApduConnection(build_card(spec)), lambda: PIN,
                             today=date(2026, 3, 12), now=time.time()).made
            lots_s = time.perf_counter() - t0
            # tla report over the same FSEs (the traces-heavy case: bench/report.py)
            report_s, _ = report_seconds(db, date(2026, 3, 10), date(2026, 3, 10),
                                         Path(tmp) / "report.html", Path(tmp) / "report.csv")
    pg = postgresql(args, fses, verifier)
    n = args.fse
    result: dict[str, object] = {
        "fse": n,
        "verify_only_per_s": round(n / verify_wall, 1),
        "verify_only_cpu_s": round(verify_cpu, 3),
        "import_fse_per_s_sqlite": round(n / sqlite_wall, 1),
        "import_sqlite_cpu_s": round(sqlite_cpu, 3),
        "import_vs_verify_sqlite": round(verify_wall / sqlite_wall, 3),
        "import_vs_verify_sqlite_cpu": round(verify_cpu / sqlite_cpu, 3),
        "target_import_vs_verify": TARGET_IMPORT_RATIO,
        "import_batch": importer.IMPORT_BATCH,
        "lots_make_s": round(lots_s, 3),
        "lots": len(made),
        "report_s": round(report_s, 3),
    }
    if isinstance(pg, tuple):
        result["import_fse_per_s_postgresql"] = round(n / pg[2], 1)
        result["import_postgresql_cpu_s"] = round(pg[3], 3)
        result["import_vs_verify_postgresql"] = round(pg[0] / pg[2], 3)
    else:
        print(f"import_fse_per_s_postgresql left out: {pg}", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
        return 0
    bound = result["verify_only_per_s"]
    print(f"verify only : {bound:>9} FSE/s  ({n} FSEs, {verify_cpu:.2f} s CPU): the bound")
    print(f"import SQLite: {result['import_fse_per_s_sqlite']:>9} FSE/s  verify + store, "
          f"{result['import_vs_verify_sqlite']:.2f}x the bound (target >= "
          f"{TARGET_IMPORT_RATIO}x; {result['import_vs_verify_sqlite_cpu']:.2f}x in CPU time; "
          f"WAL, synchronous=FULL, {importer.IMPORT_BATCH} per commit)")
    if isinstance(pg, tuple):
        print(f"import PgSQL : {result['import_fse_per_s_postgresql']:>9} FSE/s  verify + "
              f"store, {result['import_vs_verify_postgresql']:.2f}x the bound")
    print(f"lots make   : {lots_s:.2f} s for {n} FSEs -> {len(made)} lots (card signatures "
          "in software: add a real CPS's time per lot)")
    print(f"report      : {report_s:.2f} s (tla report --html --csv over those FSEs; "
          "traces: bench/report.py)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
