"""Nothing readable at rest, nothing secret in the logs."""

from __future__ import annotations

import glob
import logging
import os

import cbor2

from firmware.store import Store, WrongCardProof

from .helpers import open_provisioned, put_invoice, put_opposition_list, put_patient, put_tariff

PS = "10101010101"
NAME, FIRST, NIR, AMOUNT = "DUPONTEL", "Marcelline", "2850575123456", "1234.56"
PATIENT = cbor2.dumps({"name": NAME, "first_name": FIRST, "nir": NIR, "key": "42"})
INVOICE = cbor2.dumps({"patient": NIR, "name": NAME, "amount": AMOUNT, "act": "AMI 4"})
FSE = b"COSE_Sign" + NIR.encode() + NAME.encode() + AMOUNT.encode()
NEEDLES = [s.encode(e) for s in (NAME, FIRST, NIR, AMOUNT) for e in ("utf-8", "utf-16-le")]


def _fill(store: Store, proof: bytes) -> None:
    put_patient(store, "PAT-1", PATIENT)
    put_invoice(store, "INV-1", PS, INVOICE)
    put_tariff(store, "TAR-1", b"AMI 3.15 " + AMOUNT.encode())
    put_opposition_list(store, b"opposed " + NIR.encode())
    store.load_fse_range("R1", PS, 1, 9)
    store.unlock(proof)
    n = store.next_fse_number(PS)
    store.signed_fse("F1", PS, n, FSE, invoice_id="INV-1")
    store.put_vitale_read("V1", PS, PATIENT)


def _raw_files(path: str) -> dict[str, bytes]:
    return {f: open(f, "rb").read() for f in glob.glob(path + "*") if os.path.isfile(f)}


def test_database_and_wal_hold_no_plaintext(db_path, office, clock, wall):
    store, proof = open_provisioned(db_path, office, clock=clock, wall_clock=wall)
    _fill(store, proof)
    files = _raw_files(db_path)
    assert any(f.endswith("-wal") and len(b) > 0 for f, b in files.items())  # WAL really looked at
    store._conn.execute("PRAGMA wal_checkpoint(FULL)")
    files.update({f + " (after checkpoint)": b for f, b in _raw_files(db_path).items()})
    for name, data in files.items():
        for needle in NEEDLES:
            assert needle not in data, f"{needle!r} found in {name}"
    # and the keys are not there either: the record key only appears wrapped
    assert bytes(store._keys().record_key) not in b"".join(files.values())
    store.close()


def test_plain_sanity_the_scan_would_see_plaintext(tmp_path):
    """The scan above is meaningful: the same data stored in clear is found."""
    import sqlite3

    path = str(tmp_path / "clear.db")
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (b BLOB)")
    conn.execute("INSERT INTO t VALUES (?)", (INVOICE,))
    conn.commit()
    conn.close()
    assert NIR.encode() in open(path, "rb").read()


def test_logs_never_carry_keys_pins_or_patient_data(db_path, office, clock, wall, caplog):
    caplog.set_level(logging.DEBUG)
    store, proof = open_provisioned(db_path, office, clock=clock, wall_clock=wall)
    _fill(store, proof)
    store.lock()
    try:
        store.unlock(b"1234" + b"\0" * 60)
    except WrongCardProof:
        pass
    store.unlock_with_office_key(office)
    store.offer("F1")
    store.confirm_import("F1", "ACK-1")
    store.purge(1e12)
    store.close()
    text = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert "store unlocked" in text  # the log was really captured
    bundle_hex = [proof.hex(), proof.hex().upper()]
    for needle in [NAME, FIRST, NIR, AMOUNT, "1234", *bundle_hex]:
        assert needle not in text
