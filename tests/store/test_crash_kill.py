"""Process crashes: SIGKILL a signing/loading/purging workload at seeded
points, then recover and check the invariants (invariants.py).

Two kill methods, half the iterations each:
- deterministic: the child kills itself after N SQLite VM steps (a progress
  handler), N drawn from the seed, so a failing seed replays exactly;
- asynchronous: the parent SIGKILLs after a seeded delay, which also lands
  inside system calls (write, fsync) where the VM-step method cannot.
STORE_CRASH_ITERATIONS raises the count for soak runs (default 400).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import time

import pytest

from firmware.store import Store

from .helpers import FakeClock, open_provisioned
from .invariants import Acks, check
from .workload import RANGE, run

ITERATIONS = int(os.environ.get("STORE_CRASH_ITERATIONS", "400"))
SEED = int(os.environ.get("STORE_CRASH_SEED", "7300"))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    path = str(tmp_path_factory.mktemp("tpl") / "unit.db")
    store, proof = open_provisioned(path, X25519PrivateKey.generate())
    store.load_fse_range(*RANGE)
    store.close()
    assert not os.path.exists(path + "-wal")  # clean close checkpointed everything
    return path, proof


def _child(path, proof, seed, fd, kill_steps):
    try:
        run(path, proof, seed, fd, ops=30, kill_after_steps=kill_steps)
    finally:
        os._exit(0)


def crash_once(template, workdir, seed):
    """Run one seeded workload to its crash; return (path, acks, killed)."""
    tpl_path, proof = template
    rng = random.Random(seed)
    path = os.path.join(workdir, f"crash-{seed}.db")
    shutil.copyfile(tpl_path, path)
    deterministic = seed % 2 == 0
    kill_steps = rng.randint(1, 9_000) if deterministic else None
    read_fd, write_fd = os.pipe()
    proc = multiprocessing.get_context("fork").Process(
        target=_child, args=(path, proof, seed, write_fd, kill_steps))
    proc.start()
    os.close(write_fd)
    if not deterministic:
        time.sleep(rng.uniform(0.002, 0.025))  # kill point only; nothing asserted on time
        os.kill(proc.pid, signal.SIGKILL)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    proc.join()
    return path, Acks.parse(b"".join(chunks).decode()), proc.exitcode == -signal.SIGKILL


def test_sigkill_at_seeded_points_loses_nothing_acknowledged(template, tmp_path):
    killed = acked_fses = 0
    for i in range(ITERATIONS):
        seed = SEED + i
        path, acks, was_killed = crash_once(template, str(tmp_path), seed)
        killed += was_killed
        acked_fses += len(acks.fses)
        store = Store.open(path, clock=FakeClock())
        store.unlock(template[1])
        try:
            check(store, acks)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}: {exc}") from exc
        finally:
            store.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    # the runs really crashed mid-work and really had signed FSEs at stake
    assert killed >= ITERATIONS * 0.6
    assert acked_fses >= ITERATIONS
