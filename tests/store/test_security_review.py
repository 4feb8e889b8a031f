"""Security review of the store's key hierarchy, on a real store file.

Proofs are real RSASSA-PKCS1-v1_5 signatures made by `cryptography` (tests/store/
helpers.card_proof), rows are moved with plain sqlite3, not with the store's code.
"""

from __future__ import annotations

import os
import sqlite3

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from firmware.store.crypto import RecordUnreadable
from firmware.store.errors import WrongCardProof

from .helpers import card_proof, open_provisioned, put_invoice, put_patient


def test_sealed_records_swapped_between_ids_or_kinds_do_not_open(store, db_path):
    put_invoice(store, "INV-A", "111111111", b"invoice of patient A")
    put_invoice(store, "INV-B", "111111111", b"invoice of patient B")
    put_patient(store, "PAT-A", b"patient A")
    key = {rid: store.record_key(kind, rid) for kind, rid in
           [("invoice", "INV-A"), ("invoice", "INV-B"), ("patient", "PAT-A")]}
    raw = sqlite3.connect(db_path)
    blobs = dict(raw.execute("SELECT record_id, blob FROM records"))
    with raw:
        raw.execute("UPDATE records SET blob = ? WHERE record_id = ?",
                    (blobs[key["INV-B"]], key["INV-A"]))
        raw.execute("UPDATE records SET blob = ? WHERE record_id = ?",
                    (blobs[key["INV-A"]], key["PAT-A"]))
    raw.close()
    store.unlock(store.test_proof)
    assert store.get_record("invoice", "INV-B") == b"invoice of patient B"
    with pytest.raises(RecordUnreadable):
        store.get_record("invoice", "INV-A")  # B's ciphertext under A's id
    with pytest.raises(RecordUnreadable):
        store.get_record("patient", "PAT-A")  # an invoice's ciphertext as a patient


def test_a_proof_made_on_one_unit_does_not_unlock_another(tmp_path, clock, wall):
    office = X25519PrivateKey.generate()
    first, proof_first = open_provisioned(os.path.join(tmp_path, "a.db"), office, clock=clock,
                                          wall_clock=wall)
    second, proof_second = open_provisioned(os.path.join(tmp_path, "b.db"), office, clock=clock,
                                            wall_clock=wall)
    assert first.unlock_challenge != second.unlock_challenge  # same card, unit-bound challenge
    with pytest.raises(WrongCardProof):
        second.unlock(proof_first)
    assert not second.is_unlocked
    second.unlock(proof_second)
    assert second.is_unlocked
    first.close()
    second.close()


def test_another_office_key_and_another_card_open_nothing(store):
    with pytest.raises(WrongCardProof) as err:
        store.unlock_with_office_key(X25519PrivateKey.generate())
    assert err.value.code == "store_wrong_office_key"
    with pytest.raises(WrongCardProof):
        store.unlock(card_proof(store, index=2))
    assert not store.is_unlocked


def test_lock_zeroes_the_record_key_it_held(store):
    store.unlock(store.test_proof)
    held = store._keys().record_key  # the very bytearray the store used
    assert any(held)
    store.lock()
    assert held == bytearray(32) and not store.is_unlocked
