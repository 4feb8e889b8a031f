"""Power-loss and medium faults, below the process: what the disk may hold
after a power cut, and a failing fsync.

Fault model (docs/store.md, "Crash model"): data that an fsync returned for
is on the medium; bytes written after the last completed fsync may each have
reached the medium or not, sector by sector (512 B), in any order, and a
sector being written may hold garbage. We build such disk images from real
runs of the store:

- WAL tail: after each acknowledged call we note the WAL's size (every
  commit ends with an fsync of the WAL, synchronous=FULL). An image keeps the
  WAL up to acknowledgement k, then a random subset of the sectors of the
  next commit (some zeroed, one possibly garbage), cut at a random byte.
- Checkpoint: SQLite copies WAL pages into the database file and fsyncs it
  before it ever rewinds the WAL. An image takes each database page from
  before or after the checkpoint at random (one page torn mid-sector) with
  the whole WAL still present.
- fsync failure: an LD_PRELOAD shim (built here with the system C compiler)
  makes fsync/fdatasync fail with EIO from the Nth call on; the store must
  refuse to acknowledge and refuse further writes until reopened.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from firmware.store import Store

from .helpers import FakeClock, open_provisioned
from .invariants import Acks, check
from .workload import PS, RANGE, fse_body

SECTOR = 512
IMAGES = int(os.environ.get("STORE_FS_IMAGES", "120"))


def _signing_run(path, proof, n=12):
    """Sign n FSEs in-process; return the database bytes, the WAL bytes, the
    WAL size before the first and after each signed FSE, and the acks."""
    store = Store.open(path, clock=FakeClock())
    store.unlock(proof)
    sizes = [os.path.getsize(path + "-wal")]
    lines = []
    for k in range(n):
        number = store.next_fse_number(PS)
        fse_id = f"F-{k}"
        store.signed_fse(fse_id, PS, number, fse_body(fse_id))
        lines.append(f"signed {fse_id} {number}")
        sizes.append(os.path.getsize(path + "-wal"))
    db = open(path, "rb").read()
    wal = open(path + "-wal", "rb").read()
    store._conn.close()  # (closing checkpoints the file; we keep the bytes from before)
    return db, wal, sizes, lines


def _recover_and_check(tmp, db, wal, proof, lines, name):
    path = os.path.join(tmp, name)
    with open(path, "wb") as fh:
        fh.write(db)
    with open(path + "-wal", "wb") as fh:
        fh.write(wal)
    store = Store.open(path, clock=FakeClock())
    store.unlock(proof)
    try:
        check(store, Acks.parse("".join(line + "\n" for line in lines)))
        return {f.fse_id for f in store.list_fses()}
    finally:
        store.close()


def _fresh(tmp_path):
    path = str(tmp_path / "unit.db")
    store, proof = open_provisioned(path, X25519PrivateKey.generate())
    store.load_fse_range(*RANGE)
    store.close()
    return path, proof


def test_torn_wal_tail_keeps_every_acknowledged_fse(tmp_path):
    path, proof = _fresh(tmp_path)
    db, wal, sizes, lines = _signing_run(path, proof)
    assert sizes == sorted(sizes) and sizes[-1] == len(wal)  # no checkpoint in between
    rng = random.Random(9180)
    outcomes = set()
    for i in range(IMAGES):
        k = rng.randrange(len(sizes) - 1)  # acknowledged up to call k; k+1 in flight
        start, end = sizes[k], sizes[k + 1]
        cut = end if rng.random() < 0.3 else rng.randint(start, end)
        tail = bytearray(wal[start:cut])
        loss = rng.choice([0.0, 0.0, 0.2, 0.5])
        for s in range(0, len(tail), SECTOR):  # each sector reached the disk or not
            if rng.random() < loss:
                tail[s:s + SECTOR] = bytes(len(tail[s:s + SECTOR]))
        if tail and rng.random() < 0.2:  # the sector under the head holds garbage
            s = rng.randrange(0, len(tail), SECTOR)
            tail[s:s + SECTOR] = rng.randbytes(len(tail[s:s + SECTOR]))
        image = wal[:start] + bytes(tail)
        acked = lines[:k]  # between sizes[k] and sizes[k+1]: reserve + sign of FSE k
        present = _recover_and_check(str(tmp_path), db, image, proof, acked, f"img{i}.db")
        outcomes.add(len(present) > len(acked))
    assert outcomes == {True, False}  # in-flight commits both survived and vanished


def test_torn_checkpoint_keeps_every_acknowledged_fse(tmp_path):
    path, proof = _fresh(tmp_path)
    db_before, wal, _, lines = _signing_run(path, proof, n=20)
    # run a real checkpoint on a copy to learn what the database becomes
    work = str(tmp_path / "ckpt.db")
    with open(work, "wb") as fh:
        fh.write(db_before)
    with open(work + "-wal", "wb") as fh:
        fh.write(wal)
    import sqlite3

    conn = sqlite3.connect(work)
    busy, log_frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    conn.close()  # close runs a final checkpoint too; we only use the db bytes
    assert done == log_frames > 0
    db_after = open(work, "rb").read()
    page = 4096
    rng = random.Random(3339)
    changed = [p for p in range(0, len(db_after), page) if db_after[p:p + page] != db_before[p:p + page]]
    assert changed
    for i in range(40):
        image = bytearray(db_before.ljust(len(db_after), b"\0"))
        for p in changed:
            if rng.random() < 0.5:
                image[p:p + page] = db_after[p:p + page]
        torn = rng.choice(changed) + rng.randrange(0, page, SECTOR)
        image[torn:torn + SECTOR] = rng.randbytes(SECTOR)
        present = _recover_and_check(str(tmp_path), bytes(image), wal, proof, lines, f"ck{i}.db")
        assert len(present) == len(lines)


SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
static long left = -2;
static int fail_now(void) {
    if (left == -2) { const char *e = getenv("FAILSYNC_AFTER"); left = e ? atol(e) : -1; }
    if (left < 0) return 0;
    if (left == 0) return 1;
    left--; return 0;
}
int fsync(int fd) {
    static int (*real)(int); if (!real) real = dlsym(RTLD_NEXT, "fsync");
    if (fail_now()) { errno = EIO; return -1; } return real(fd);
}
int fdatasync(int fd) {
    static int (*real)(int); if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
    if (fail_now()) { errno = EIO; return -1; } return real(fd);
}
"""

CHILD = textwrap.dedent("""
    import sys
    from firmware.store import Store, StoreIOError
    from tests_store_workload import PS, fse_body
    path, proof = sys.argv[1], bytes.fromhex(sys.argv[2])
    store = Store.open(path)
    store.unlock(proof)
    for k in range(40):
        try:
            n = store.next_fse_number(PS)
            store.signed_fse(f"F-{k}", PS, n, fse_body(f"F-{k}"))
            print(f"signed F-{k} {n}", flush=True)
        except StoreIOError as exc:
            print(f"ioerror {exc.code}", flush=True)
            try:
                store.next_fse_number(PS)
                print("accepted-after-failure", flush=True)
            except StoreIOError:
                print("refused-after-failure", flush=True)
            break
""")


def test_failing_fsync_is_never_acknowledged(tmp_path):
    shim_c = tmp_path / "failsync.c"
    shim_c.write_text(SHIM)
    shim = tmp_path / "failsync.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(shim), str(shim_c), "-ldl"], check=True)
    (tmp_path / "tests_store_workload.py").write_text(
        open(os.path.join(os.path.dirname(__file__), "workload.py")).read())
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    seen_failure = 0
    for after in (3, 8, 17, 30):
        run_dir = tmp_path / f"run{after}"
        run_dir.mkdir()
        path, proof = _fresh(run_dir)
        env = dict(os.environ, LD_PRELOAD=str(shim), FAILSYNC_AFTER=str(after),
                   PYTHONPATH=os.pathsep.join([repo, str(tmp_path)]))
        out = subprocess.run([sys.executable, "-c", CHILD, path, proof.hex()], env=env,
                             capture_output=True, text=True, timeout=60, check=True).stdout
        assert "accepted-after-failure" not in out
        if "ioerror store_io" in out:
            seen_failure += 1
            assert "refused-after-failure" in out
        lines = [ln for ln in out.splitlines() if ln.startswith("signed")]
        store = Store.open(path, clock=FakeClock())
        store.unlock(proof)
        check(store, Acks.parse("".join(ln + "\n" for ln in lines)))
        store.close()
    assert seen_failure == 4
