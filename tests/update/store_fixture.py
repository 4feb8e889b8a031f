"""A store with FSEs waiting to be unloaded (what an update must never lose)."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from firmware.store import Store
from tests.store.helpers import open_provisioned

PS = "10101010101"


def store_with_fses(path: str, count: int = 3) -> tuple[dict[str, bytes], bytes]:
    """Creates the store; returns the FSEs (id -> COSE bytes) and the card proof."""
    store, proof = open_provisioned(path, X25519PrivateKey.generate())
    store.load_fse_range("R1", PS, 1, 999)
    store.unlock(proof)
    fses = {}
    for k in range(count):
        fses[f"F{k}"] = b"cose-%d-" % k + os.urandom(300)
        store.signed_fse(f"F{k}", PS, store.next_fse_number(PS), fses[f"F{k}"])
    store.close()
    return fses, proof


def read_fses(path: str, proof: bytes, **open_args) -> dict[str, bytes]:
    store = Store.open(path, **open_args)
    try:
        store.unlock(proof)
        return {f.fse_id: store.get_fse(f.fse_id) for f in store.list_fses()
                if f.status in ("signed", "offered")}
    finally:
        store.close()

