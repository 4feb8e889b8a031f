"""A seeded signing/loading/purging workload, run in a child process that the
crash tests kill. After each store call returns, one acknowledgement line goes
down a pipe: what the parent receives is exactly what the unit "said" to the
professional or the office before the crash."""

from __future__ import annotations

import os
import random
import signal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware.store import Store
from firmware.store.office_sig import sign_load

PS = "10101010101"
RANGE = ("R1", PS, 1, 100_000)
OFFICE_SEED = bytes(range(32))  # the test office's Ed25519 key (helpers.OFFICE_SIGN)


def put_invoice(store: Store, invoice_id: str, prof: str, payload: bytes) -> None:
    """Load an invoice signed by the test office, as `tla load` would."""
    key = Ed25519PrivateKey.from_private_bytes(OFFICE_SEED)
    sig = sign_load(key, store.unit_id, "invoice", invoice_id, prof, payload)
    store.put_invoice(invoice_id, prof, payload, sig, key.public_key().public_bytes_raw())


def fse_body(fse_id: str) -> bytes:
    """The COSE bytes of an FSE, derived from its id (so a checker can
    recompute what must be there)."""
    return b"COSE_Sign/" + fse_id.encode() * 20


def invoice_body(invoice_id: str) -> bytes:
    return b"invoice/" + invoice_id.encode() * 30


def run(path: str, proof: bytes, seed: int, ack_fd: int, ops: int, kill_after_steps: int | None,
        wall_start: float = 1_790_000_000.0) -> None:
    rng = random.Random(seed)
    tick = [wall_start]

    def wall() -> float:
        tick[0] += 1.0
        return tick[0]

    def ack(line: str) -> None:
        os.write(ack_fd, (line + "\n").encode())

    store = Store.open(path, wall_clock=wall)
    store.unlock(proof)
    if kill_after_steps is not None:
        steps = [0]

        def handler() -> int:
            steps[0] += 1
            if steps[0] >= kill_after_steps:
                os.kill(os.getpid(), signal.SIGKILL)
            return 0

        store._conn.set_progress_handler(handler, 1)
    ack("open")
    signed: list[str] = []
    offered: list[str] = []
    base = seed * 1000
    for k in range(ops):
        roll = rng.random()
        if roll < 0.2:
            inv = f"INV-{base + k}"
            put_invoice(store, inv, PS, invoice_body(inv))
            ack(f"invoice {inv}")
        elif roll < 0.6:
            number = store.next_fse_number(PS)
            ack(f"reserved {number}")
            if rng.random() < 0.1:
                store.abandon_fse_number(PS, number, "card_removed")
                ack(f"abandoned {number}")
                continue
            fse_id = f"F-{base + k}"
            store.signed_fse(fse_id, PS, number, fse_body(fse_id))
            signed.append(fse_id)
            ack(f"signed {fse_id} {number}")
        elif roll < 0.75 and signed:
            fse_id = signed.pop(0)
            store.offer(fse_id)
            offered.append(fse_id)
            ack(f"offered {fse_id}")
        elif roll < 0.9 and offered:
            fse_id = offered.pop(0)
            store.confirm_import(fse_id, f"ACK-{fse_id}")
            ack(f"imported {fse_id}")
        elif roll < 0.95:
            n = store.purge(tick[0] + 1e9)
            ack(f"purged {n}")
        else:
            store.add_trace("fse.sign", rng.random(), "ok")
            ack("trace")
    store.close()
    ack("done")
