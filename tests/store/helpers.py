"""Helpers for the store tests: the office's key pair and a CPS-like card
whose proof is a real RSASSA-PKCS1-v1_5 signature (RFC 8017 §8.2, made by
`cryptography`, not by the store) of the unit's challenge."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from firmware.store import Store
from firmware.store.crypto import public_raw
from firmware.store.office_sig import sign_load

from .workload import OFFICE_SEED

OFFICE_SIGN = Ed25519PrivateKey.from_private_bytes(OFFICE_SEED)  # the paired office's identity
OFFICE_ID = OFFICE_SIGN.public_key().public_bytes_raw()

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
    store.provision(public_raw(office.public_key()), OFFICE_ID)
    proof = card_proof(store)
    store.enrol_card(proof)
    store.lock()
    return store, proof


# ---- loads signed by the office (what the office's `tla load` does) ---------------
def signed(store: Store, kind: str, record_id: str, prof: str | None, payload: bytes,
           key: Ed25519PrivateKey = OFFICE_SIGN) -> tuple:
    """One ``load_batch`` item signed by ``key`` for this store's unit."""
    sig = sign_load(key, store.unit_id, kind, record_id, prof, payload)
    return (kind, record_id, prof, payload, sig, key.public_key().public_bytes_raw())


def load_batch(store: Store, items) -> int:
    return store.load_batch([signed(store, *item) for item in items])


def put_invoice(store: Store, invoice_id: str, prof: str, payload: bytes):
    return store.put_invoice(invoice_id, prof, payload,
                             *signed(store, "invoice", invoice_id, prof, payload)[4:])


def put_patient(store: Store, patient_id: str, payload: bytes):
    return store.put_patient(patient_id, payload, *signed(store, "patient", patient_id, None,
                                                          payload)[4:])


def put_tariff(store: Store, tariff_id: str, payload: bytes):
    return store.put_tariff(tariff_id, payload, *signed(store, "tariff", tariff_id, None,
                                                        payload)[4:])


def put_opposition_list(store: Store, payload: bytes, list_id: str = "current"):
    return store.put_opposition_list(payload, *signed(store, "opposition", list_id, None,
                                                      payload)[4:], list_id=list_id)
