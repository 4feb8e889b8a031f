"""Nothing readable at rest, nothing secret in the logs."""

from __future__ import annotations

import glob
import logging
import os
import sqlite3
import stat
from pathlib import Path

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
    put_patient(store, f"PAT-{NAME}-{FIRST}", PATIENT)  # an office that puts names in ids
    put_invoice(store, f"INV-{NIR}", PS, INVOICE)
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


def test_ids_named_after_the_patient_are_found_back_by_their_office_id(db_path, office, clock,
                                                                       wall):
    store, proof = open_provisioned(db_path, office, clock=clock, wall_clock=wall)
    _fill(store, proof)
    assert store.get_record("patient", f"PAT-{NAME}-{FIRST}") == PATIENT
    assert store.record_info("invoice", f"INV-{NIR}").status == "loaded"
    assert [r.record_id for r in store.list_records("patient")] == [
        "PAT-1", f"PAT-{NAME}-{FIRST}"]
    store.lock()
    store.delete_record("patient", f"PAT-{NAME}-{FIRST}")  # withdrawn by office id, locked
    store.unlock(proof)
    assert [r.record_id for r in store.list_records("patient")] == ["PAT-1"]
    store.close()


def test_the_record_key_matches_the_documented_example(store):
    """docs/store.md §Record ids, computed there by hand with id_key = 00 01 .. 1f."""
    store._id_key = bytes(range(32))
    assert store.record_key("patient", "PAT-PAUL") == "k664953ea7057cf0e7e4f53c9c23348d0"
    assert store.record_key("vitale_read", "VR-0123456789abcdef") == "VR-0123456789abcdef"


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_store_files_are_created_owner_only(db_path, office, clock, wall):
    old = os.umask(0o022)  # the usual default, which made them 0644
    try:
        store, proof = open_provisioned(db_path, office, clock=clock, wall_clock=wall)
        _fill(store, proof)
        names = [db_path, db_path + "-wal", db_path + "-shm"]
        assert {name: _mode(name) for name in names} == dict.fromkeys(names, 0o600)
        store.close()
    finally:
        os.umask(old)


def test_files_left_readable_by_an_older_firmware_are_made_owner_only(db_path, office, clock,
                                                                      wall):
    store, _ = open_provisioned(db_path, office, clock=clock, wall_clock=wall)
    store.close()
    os.chmod(db_path, 0o644)
    again = Store.open(db_path, clock=clock, wall_clock=wall)
    assert _mode(db_path) == 0o600
    assert _mode(db_path + "-wal") == 0o600
    again.close()


# what the samples' family card (board/sim/cards/vitale_famille_essai.yaml) and the
# office files (host_tools/samples) hold about the patients
DAY_NEEDLES = [
    "ESSAI", "PAUL", "MARIE", "LUCAS", "EMMA",             # surname, first names
    "1800799999012", "2830399999015", "1120699999021", "2120699999022",  # NIRs
    "15/07/1980", "1980-07-15", "21/06/2012", "2012-06-21", "00/03/1983", "1983-03",
    "9100000001",                                           # the Vitale card's serial
]


def test_a_locked_unit_holds_no_patient_data_in_clear_after_a_day(tmp_path):
    from host_tools.demo import run_day

    run_day(tmp_path, lambda line: None)  # the unit is stopped, hence locked, at the end
    files = {p: p.read_bytes() for p in (tmp_path / "unit").rglob("*") if p.is_file()}
    assert {p.name for p in files} >= {"unit.db", "unit.db.device-key"}
    day = sqlite3.connect(f"file:{tmp_path / 'unit' / 'unit.db'}?mode=ro", uri=True)
    held = dict(day.execute("SELECT kind, count(*) FROM records GROUP BY kind"))
    assert day.execute("SELECT count(*) FROM fses").fetchone()[0] == 4  # the day is there
    day.close()
    assert held["invoice"] == 3 and held["patient"] == 4  # host_tools/samples
    found = [(p.name, n) for p, data in files.items() for n in DAY_NEEDLES
             for enc in ("utf-8", "utf-16-le") if n.encode(enc) in data]
    assert found == []
    store_files = [p for p in files if p.name.startswith("unit.db")]
    assert {p.name: _mode(str(p)) for p in store_files} == {
        p.name: 0o600 for p in store_files}


def test_the_day_scan_would_see_the_office_data(tmp_path):
    """The scan above is meaningful: the office's own database, beside it, names them."""
    from host_tools.demo import run_day

    run_day(tmp_path, lambda line: None)
    office = b"".join(p.read_bytes() for p in Path(tmp_path / "office").rglob("*.db*"))
    assert b"ESSAI" in office and b"1800799999012" in office
