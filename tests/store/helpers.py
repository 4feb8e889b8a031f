"""Helpers for the store tests: the office's key pair and a CPS-like card
whose proof is a real RSASSA-PKCS1-v1_5 signature (RFC 8017 §8.2, made by
`cryptography`, not by the store) of the unit's challenge."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from firmware.store import Store
from firmware.store.crypto import public_raw

_RSA_KEYS: list[rsa.RSAPrivateKey] = []


def card_key(index: int = 0) -> rsa.RSAPrivateKey:
    while len(_RSA_KEYS) <= index:
        _RSA_KEYS.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _RSA_KEYS[index]


def card_proof(store: Store, index: int = 0) -> bytes:
    """What the CPS would return for PSO:CDS over the unit's challenge."""
    return card_key(index).sign(store.unlock_challenge, padding.PKCS1v15(), hashes.SHA256())


class FakeClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeWall(FakeClock):
    def __init__(self, start: float = 1_790_000_000.0):
        super().__init__(start)


def open_provisioned(path: str, office: X25519PrivateKey, **kwargs) -> tuple[Store, bytes]:
    """A provisioned store with one enrolled card, left locked."""
    store = Store.open(path, **kwargs)
    store.provision(public_raw(office.public_key()))
    proof = card_proof(store)
    store.enrol_card(proof)
    store.lock()
    return store, proof
