"""Loaded records are signed by the office and checked at every read.

The attacker here writes the SD card: rows are planted or edited with plain
sqlite3, payloads sealed with `cryptography`'s own HPKE (RFC 9180) to the public
data key read from ``meta``, contexts and load messages built by hand from
docs/store.md and docs/protocol.md §8, never with the store's code.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import struct

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.store import (
    BadOfficeSignature,
    OfficeListTampered,
    Store,
    UnsignedRecord,
    UntrustedOffice,
)
from firmware.store import store as store_module
from firmware.store.crypto import RecordUnreadable, public_raw
from firmware.store.schema import MIGRATIONS, apply_migrations

from .helpers import OFFICE_ID, OFFICE_SIGN, card_proof, put_invoice

PS = "111111111"
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def message(unit_id: bytes, kind: str, rid: str, prof: str | None, payload: bytes) -> bytes:
    """docs/protocol.md §8, written out field by field."""
    fields = [unit_id, kind.encode(), rid.encode(), (prof or "").encode(),
              hashlib.sha256(payload).digest()]
    return b"opentla/load-signature/v1\x00" + b"".join(struct.pack(">I", len(f)) + f
                                                       for f in fields)


def attacker_seal(db_path: str, kind: str, rid: str, payload: bytes) -> bytes:
    """What anyone with the SD card can make: HPKE to the plain public data key."""
    raw = sqlite3.connect(db_path)
    public = raw.execute("SELECT value FROM meta WHERE key = 'data_public'").fetchone()[0]
    raw.close()
    info = b"opentla/store/record/v1\x00" + kind.encode() + b"\x00" + rid.encode()
    return b"\x01" + SUITE.encrypt(payload, X25519PublicKey.from_public_bytes(public), info=info)


def stored_key(db_path: str, kind: str, rid: str) -> str:
    """docs/store.md §Record ids, by hand: "k" + hex of the first 16 bytes of
    HMAC-SHA256(meta id_key, "opentla/store/record-id/v1" 00 kind 00 id). The id
    key is on the SD card too, so the attacker computes it as well."""
    raw = sqlite3.connect(db_path)
    id_key = raw.execute("SELECT value FROM meta WHERE key = 'id_key'").fetchone()[0]
    raw.close()
    msg = b"opentla/store/record-id/v1\x00" + kind.encode() + b"\x00" + rid.encode()
    return "k" + hmac.new(id_key, msg, hashlib.sha256).digest()[:16].hex()


def plant(db_path: str, kind: str, rid: str, prof: str | None, blob: bytes,
          sig: bytes | None, key: bytes | None) -> None:
    at = stored_key(db_path, kind, rid)
    sealed_id = attacker_seal(db_path, kind + ".id", at, rid.encode())
    raw = sqlite3.connect(db_path)
    with raw:
        raw.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?, 'loaded', 1, 1, ?, ?, ?, ?, ?)",
                    (kind, at, prof, len(blob), blob, sig, key, sealed_id))
    raw.close()


def test_a_record_signed_by_hand_per_the_doc_loads_and_reads(store):
    payload = b"tariff table"
    sig = OFFICE_SIGN.sign(message(store.unit_id, "tariff", "current", None, payload))
    store.put_tariff("current", payload, sig, OFFICE_ID)
    store.unlock(store.test_proof)
    assert store.get_record("tariff", "current") == payload


def test_a_record_planted_in_the_sqlite_file_is_refused_at_read(store, db_path):
    fake = b"AMI 99.99"
    plant(db_path, "tariff", "current", None, attacker_seal(db_path, "tariff", "current", fake),
          None, None)
    evil = Ed25519PrivateKey.generate()
    evil_id = evil.public_key().public_bytes_raw()
    blob = attacker_seal(db_path, "invoice", "INV-X", fake)
    plant(db_path, "invoice", "INV-X", PS, blob,
          evil.sign(message(store.unit_id, "invoice", "INV-X", PS, fake)), evil_id)
    plant(db_path, "patient", "P-X", None, attacker_seal(db_path, "patient", "P-X", fake),
          evil.sign(message(store.unit_id, "patient", "P-X", None, fake)), OFFICE_ID)
    store.unlock(store.test_proof)
    with pytest.raises(UnsignedRecord) as unsigned:
        store.get_record("tariff", "current")
    assert unsigned.value.code == "store_record_unsigned"
    assert "recharger" in unsigned.value.message_fr.lower()
    with pytest.raises(UntrustedOffice):
        store.get_invoice("INV-X")  # self-signed by the attacker's key
    with pytest.raises(BadOfficeSignature):
        store.get_record("patient", "P-X")  # claims the office's key, attacker's signature


def test_a_record_re_signed_by_an_unpaired_key_is_refused_at_read(store):
    evil = Ed25519PrivateKey.generate()
    payload = b"forged invoice"
    sig = evil.sign(message(store.unit_id, "invoice", "INV-1", PS, payload))
    store.put_invoice("INV-1", PS, payload, sig, evil.public_key().public_bytes_raw())
    store.unlock(store.test_proof)
    with pytest.raises(UntrustedOffice):
        store.get_invoice("INV-1")


def test_a_payload_swapped_between_two_signed_records_is_refused(store, db_path):
    put_invoice(store, "INV-A", PS, b"invoice A 10 EUR")
    put_invoice(store, "INV-B", PS, b"invoice B 90 EUR")
    # resealed: B's payload under A's id, keeping A's signature (the AEAD opens)
    a, b, c = (stored_key(db_path, "invoice", rid) for rid in ("INV-A", "INV-B", "INV-C"))
    raw = sqlite3.connect(db_path)
    with raw:
        raw.execute("UPDATE records SET blob = ? WHERE record_id = ?",
                    (attacker_seal(db_path, "invoice", "INV-A", b"invoice B 90 EUR"), a))
        # row contents moved wholesale: C gets B's blob and signature
        raw.execute("INSERT INTO records SELECT kind, ?, professional_id, status, "
                    "created_at, updated_at, size, blob, office_sig, office_key, ? "
                    "FROM records WHERE record_id = ?",
                    (c, attacker_seal(db_path, "invoice.id", c, b"INV-C"), b))
    raw.close()
    store.unlock(store.test_proof)
    assert store.get_invoice("INV-B") == b"invoice B 90 EUR"
    with pytest.raises(BadOfficeSignature):
        store.get_invoice("INV-A")
    with pytest.raises(RecordUnreadable):
        store.get_invoice("INV-C")


def test_a_load_whose_signature_does_not_verify_is_refused_and_nothing_stored(store):
    good = OFFICE_SIGN.sign(message(store.unit_id, "invoice", "INV-1", PS, b"a"))
    other_unit = OFFICE_SIGN.sign(message(b"\x00" * 16, "invoice", "INV-2", PS, b"b"))
    items = [("invoice", "INV-1", PS, b"a", good, OFFICE_ID),
             ("invoice", "INV-2", PS, b"b", other_unit, OFFICE_ID)]
    with pytest.raises(BadOfficeSignature):
        store.load_batch(items)
    with pytest.raises(BadOfficeSignature):
        store.put_invoice("INV-3", "222222222", b"a", good, OFFICE_ID)  # prof not signed
    with pytest.raises(BadOfficeSignature):
        store.put_invoice("INV-1", PS, b"a", good[:-1], OFFICE_ID)
    store.unlock(store.test_proof)
    assert store.list_records("invoice") == []


def test_an_sd_writer_cannot_add_its_key_to_the_trusted_list(store, db_path):
    evil = Ed25519PrivateKey.generate()
    evil_id = evil.public_key().public_bytes_raw()
    raw = sqlite3.connect(db_path)
    keys = raw.execute("SELECT value FROM meta WHERE key = 'office_keys'").fetchone()[0]
    assert keys == OFFICE_ID
    with raw:
        raw.execute("UPDATE meta SET value = ? WHERE key = 'office_keys'", (keys + evil_id,))
    raw.close()
    store.put_invoice("INV-1", PS, b"x", evil.sign(message(store.unit_id, "invoice", "INV-1",
                                                           PS, b"x")), evil_id)
    store.unlock(store.test_proof)
    with pytest.raises(OfficeListTampered):
        store.get_invoice("INV-1")


def test_trust_office_needs_the_unlocked_store_and_then_reads_its_loads(store):
    from firmware.store import StoreLocked

    second = Ed25519PrivateKey.generate()
    second_id = second.public_key().public_bytes_raw()
    with pytest.raises(StoreLocked):
        store.trust_office(second_id)
    store.put_patient("P-2", b"p", second.sign(message(store.unit_id, "patient", "P-2", None,
                                                        b"p")), second_id)
    store.unlock(store.test_proof)
    with pytest.raises(UntrustedOffice):
        store.get_record("patient", "P-2")
    store.trust_office(second_id)
    assert store.get_record("patient", "P-2") == b"p"
    assert store.trusted_offices() == {OFFICE_ID, second_id}


def test_records_loaded_before_the_migration_are_refused_until_loaded_again(
        tmp_path, office, clock, wall, monkeypatch):
    path = str(tmp_path / "old.db")
    v1_only = lambda conn: apply_migrations(conn, MIGRATIONS[:1])  # noqa: E731
    monkeypatch.setattr(store_module, "apply_migrations", v1_only)
    old = Store.open(path, clock=clock, wall_clock=wall)
    old.provision(public_raw(office.public_key()), OFFICE_ID)
    proof = card_proof(old)
    old.enrol_card(proof)
    old.close()
    # the schema-1 firmware's load: 8 columns, no signature
    plant_v1 = sqlite3.connect(path)
    with plant_v1:
        blob = attacker_seal(path, "invoice", "INV-OLD", b"old invoice")
        plant_v1.execute("INSERT INTO records VALUES ('invoice', 'INV-OLD', ?, 'loaded', 1, 1, ?, ?)",
                         (PS, len(blob), blob))
    plant_v1.close()
    monkeypatch.undo()
    store = Store.open(path, clock=clock, wall_clock=wall)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 3
    assert {"office_sig", "office_key", "sealed_id"} <= {
        r[1] for r in raw.execute("PRAGMA table_info(records)")}
    # the old row moved under its key, its office id sealed (schema 3)
    assert raw.execute("SELECT record_id FROM records").fetchall() == [
        (stored_key(path, "invoice", "INV-OLD"),)]
    raw.close()
    store.unlock(proof)
    with pytest.raises(UnsignedRecord):
        store.get_invoice("INV-OLD")
    put_invoice(store, "INV-OLD", PS, b"old invoice")  # the office loads again
    assert store.get_invoice("INV-OLD") == b"old invoice"
    store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["invoice", "patient", "tariff", "opposition"]),
       rid=st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True),
       prof=st.none() | st.from_regex(r"[0-9]{9}", fullmatch=True),
       payload=st.binary(max_size=300), bit=st.integers(0, 64 * 8 - 1))
def test_any_signed_load_reads_back_and_any_flipped_signature_bit_is_refused(
        store, kind, rid, prof, payload, bit):
    sig = OFFICE_SIGN.sign(message(store.unit_id, kind, rid, prof, payload))
    store.load_batch([(kind, rid, prof, payload, sig, OFFICE_ID)])
    store.unlock(store.test_proof)
    assert store.get_record(kind, rid) == payload
    flipped = bytearray(sig)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(BadOfficeSignature):
        store.load_batch([(kind, rid, prof, payload, bytes(flipped), OFFICE_ID)])
    store.lock()
