"""A loaded record the store refuses is never billed: a planted invoice (sealed to
the public data key with `cryptography`'s HPKE, inserted with plain sqlite3) is left
out of the prepared list and refused, with its code and French text, if started."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3

import cbor2
import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from firmware.visit import VisitError

from .simboard import invoice

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def plant_invoice(path: str, body: dict) -> None:
    raw = sqlite3.connect(path)
    public = raw.execute("SELECT value FROM meta WHERE key = 'data_public'").fetchone()[0]
    rid = body["invoice_id"]
    info = b"opentla/store/record/v1\x00invoice\x00" + rid.encode()
    blob = b"\x01" + SUITE.encrypt(cbor2.dumps(body), X25519PublicKey.from_public_bytes(public),
                                   info=info)
    # docs/store.md §Record ids: stored under HMAC(id_key, ...) with the id sealed;
    # the id key lies on the SD card, so whoever plants rows can compute both
    id_key = raw.execute("SELECT value FROM meta WHERE key = 'id_key'").fetchone()[0]
    key = "k" + hmac.new(id_key, b"opentla/store/record-id/v1\x00invoice\x00" + rid.encode(),
                         hashlib.sha256).digest()[:16].hex()
    sealed_id = b"\x01" + SUITE.encrypt(rid.encode(), X25519PublicKey.from_public_bytes(public),
                                        info=b"opentla/store/record/v1\x00invoice.id\x00"
                                        + key.encode())
    with raw:
        raw.execute("INSERT INTO records VALUES ('invoice', ?, ?, 'loaded', 1, 1, ?, ?, NULL, NULL, ?)",
                    (key, body["billing_number"], len(blob), blob, sealed_id))
    raw.close()


def test_a_planted_invoice_is_not_listed_and_cannot_start_a_visit(board, medecin):
    board.load_invoice(invoice("INV-1"))
    plant_invoice(board.unit.store.path, invoice("INV-9", lines=[{"code": "G"}]))
    assert [s.invoice_id for s in medecin.prepared_invoices()] == ["INV-1"]
    with pytest.raises(VisitError) as refused:
        medecin.start_visit("INV-9")
    assert refused.value.code == "store_record_unsigned"
    assert refused.value.message_fr == "Donnée à recharger depuis le cabinet"
    assert board.unit.store.list_fses() == []
