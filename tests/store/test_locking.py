"""Lock, unlock, idle lock, wrong card proof, recovery through the office key."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from firmware.store import (
    DuplicateRecord,
    NotProvisioned,
    Store,
    StoreLocked,
    WrongCardProof,
    crypto,
)
from firmware.store.salvage import open_export, read_everything

from .helpers import card_proof, put_invoice

PS = "10101010101"


def test_loading_works_locked_reading_needs_unlock(store):
    assert not store.is_unlocked
    put_invoice(store, "INV-1", PS, b"secret invoice")
    assert store.record_info("invoice", "INV-1").status == "loaded"  # metadata by id ok
    with pytest.raises(StoreLocked):
        store.list_records("invoice")  # the office ids are sealed (docs/store.md §Record ids)
    with pytest.raises(StoreLocked) as err:
        store.get_invoice("INV-1")
    assert err.value.message_fr == "Insérer carte CPS"
    with pytest.raises(StoreLocked):
        store.put_vitale_read("V1", PS, b"vitale")
    store.load_fse_range("R1", PS, 1, 9)
    n = store.next_fse_number(PS)
    with pytest.raises(StoreLocked):
        store.signed_fse("F1", PS, n, b"cose")
    store.unlock(store.test_proof)
    assert store.get_invoice("INV-1") == b"secret invoice"


def test_wrong_card_proof_is_refused(store):
    other_card = card_proof(store, index=1)
    with pytest.raises(WrongCardProof) as err:
        store.unlock(other_card)
    assert err.value.code == "store_wrong_card"
    assert not store.is_unlocked
    with pytest.raises(WrongCardProof):
        store.unlock(store.test_proof[:-1] + bytes([store.test_proof[-1] ^ 1]))
    with pytest.raises(WrongCardProof):
        store.unlock(b"1234")  # a PIN alone is not a proof
    store.unlock(store.test_proof)
    assert store.is_unlocked


def test_second_card_can_be_enrolled_while_unlocked(store):
    second = card_proof(store, index=1)
    with pytest.raises(StoreLocked):
        store.enrol_card(second)
    store.unlock(store.test_proof)
    store.enrol_card(second, label="remplacant")
    with pytest.raises(DuplicateRecord):
        store.enrol_card(second)
    store.lock()
    store.unlock(second)
    assert store.is_unlocked


def test_idle_timeout_locks_and_activity_postpones_it(store, clock):
    put_invoice(store, "INV-1", PS, b"x")
    store.unlock(store.test_proof)
    clock.advance(store.idle_timeout_s - 1)
    store.touch()
    clock.advance(store.idle_timeout_s - 1)
    assert store.get_invoice("INV-1") == b"x"  # use counts as activity too
    clock.advance(store.idle_timeout_s)
    assert not store.is_unlocked
    with pytest.raises(StoreLocked):
        store.get_invoice("INV-1")


def test_lock_on_demand_and_power_off(store, db_path, clock, wall):
    store.unlock(store.test_proof)
    store.lock()
    assert not store.is_unlocked
    store.unlock(store.test_proof)
    fresh = Store.open(db_path, clock=clock, wall_clock=wall)  # what a reboot sees
    assert not fresh.is_unlocked
    fresh.close()


def test_unlock_before_provisioning_is_refused(tmp_path):
    s = Store.open(str(tmp_path / "new.db"))
    with pytest.raises(NotProvisioned):
        s.unlock(b"x" * 256)
    with pytest.raises(NotProvisioned):
        put_invoice(s, "INV-1", PS, b"x")
    s.close()


def _unit_with_fse(store):
    store.load_fse_range("R1", PS, 1, 9)
    put_invoice(store, "INV-1", PS, b"invoice body")
    store.unlock(store.test_proof)
    n = store.next_fse_number(PS)
    store.signed_fse("F1", PS, n, b"signed cose", invoice_id="INV-1")
    store.put_vitale_read("V1", PS, b"vitale read")
    store.lock()


def test_office_key_unlocks_a_unit_whose_cps_is_lost(store, office):
    _unit_with_fse(store)
    with pytest.raises(WrongCardProof):
        store.unlock_with_office_key(X25519PrivateKey.generate())
    store.unlock_with_office_key(office)
    assert store.get_fse("F1") == b"signed cose"
    assert store.get_record("vitale_read", "V1") == b"vitale read"


def test_office_opens_unloaded_envelopes_without_the_unit_keys(store, office):
    _unit_with_fse(store)
    bundle = crypto.open_for_office(store.office_wrap(), office, store.unit_id)
    assert crypto.open_record(bundle, "fse", "F1", store.sealed_fse("F1")) == b"signed cose"
    with pytest.raises(crypto.RecordUnreadable):  # bound to its id
        crypto.open_record(bundle, "fse", "F2", store.sealed_fse("F1"))


def test_office_reads_the_whole_file_of_a_dead_unit(store, office, db_path):
    _unit_with_fse(store)
    salvaged = open_export(read_everything(db_path), office)
    assert salvaged.fses == {"F1": b"signed cose"}
    assert salvaged.records[("invoice", "INV-1")] == b"invoice body"
    assert salvaged.records[("vitale_read", "V1")] == b"vitale read"
    assert salvaged.unreadable == []
