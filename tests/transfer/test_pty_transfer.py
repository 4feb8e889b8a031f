"""`tla load`, `tla unload` and `tla fse` against the simulated unit over a pty (the real
smpclient underneath), checked against the unit's store and the FSEs as signed."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from firmware.billing.invoice import Invoice
from firmware.billing.tariffs import SAMPLE_PATH
from host_tools.cli import main as tla
from host_tools.office_db import OfficeDb

from .helpers import PROF, SimUnit, pair_host, run, trust_pem


@pytest.fixture
def unit(tmp_path):
    unit = SimUnit(tmp_path, 4)
    run(pair_host(unit.path, tmp_path / "keys.json"))
    yield unit
    unit.stop()


def cli(tmp_path, *args) -> int:
    return tla(["--keys", str(tmp_path / "keys.json"), "--timeout", "5", *args])


INVOICE = {"invoice_id": "INV-77", "billing_number": PROF, "profession": "60",
           "date_of_care": "2026-03-12", "prescription": {"prescriber_id": "10001234567",
                                                          "date": "2026-03-01"},
           "lines": [{"code": "AMI", "coefficient": "2"}]}


def test_tla_load_json_and_csv_reaches_the_store_even_locked(unit, tmp_path, capsys):
    unit.lock()
    tariffs = json.loads(SAMPLE_PATH.read_text())
    serials = [f"{i:012d}" for i in range(40_000)]  # ~560 kB: sent in chunks
    (tmp_path / "day.json").write_text(json.dumps({
        "invoices": [INVOICE], "tariffs": tariffs, "opposition": serials,
        "fse_ranges": [{"range_id": "R9", "professional_id": "555555555", "first": 10, "last": 19}],
    }))
    (tmp_path / "patients.csv").write_text(
        "patient_id,nir,nir_key,birth_date,name\nP-1,1800175123456,60,15/01/1980,DUPONT\n")
    assert cli(tmp_path, "load", "--port", unit.path, str(tmp_path / "day.json"),
               str(tmp_path / "patients.csv")) == 0
    assert "Loaded" in capsys.readouterr().out
    unit.unlock()
    store = unit.store
    got = unit.call(lambda: {
        "invoice": cbor2.loads(store.get_record("invoice", "INV-77")),
        "tariff": cbor2.loads(store.get_record("tariff", "current")),
        "opposition": cbor2.loads(store.get_record("opposition", "current")),
        "patient": cbor2.loads(store.get_record("patient", "P-1")),
        "left": store.fse_numbers_left("555555555"),
        "prof": store.record_info("invoice", "INV-77").professional_id})
    assert Invoice.from_dict(got["invoice"]) == Invoice.from_dict(INVOICE)
    assert got["tariff"] == tariffs
    assert got["opposition"] == {"serials": serials}
    assert got["patient"] == {"patient_id": "P-1", "nir": "1800175123456", "nir_key": "60",
                              "birth_date": "15/01/1980", "name": "DUPONT"}
    assert got["left"] == 10 and got["prof"] == PROF
    # loading the same files again replaces, never duplicates
    assert cli(tmp_path, "load", "--port", unit.path, str(tmp_path / "day.json")) == 0
    assert unit.call(lambda: len(store.list_records("invoice"))) == 1


def test_tla_load_refuses_bad_files_naming_file_line_field_and_sends_nothing(unit, tmp_path, capsys):
    bad = tmp_path / "invoices.csv"
    bad.write_text("invoice_id,billing_number,profession,date_of_care,code,quantity\n"
                   "I1,123456789,60,2026-03-10,AMI,1\n"
                   "I2,123456789,60,2026-03-10,AMI,zero\n")
    assert cli(tmp_path, "load", "--port", unit.path, str(bad)) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: quantity:" in err
    assert unit.call(lambda: unit.store.list_records("invoice")) == []


def test_tla_unload_verifies_imports_once_acks_and_exports(unit, tmp_path, capsys):
    db = tmp_path / "office.db"
    pem = str(trust_pem(tmp_path / "trust.pem"))
    unit.call(lambda: unit.store.put_vitale_read("VR-1", PROF, b"vitale read bytes"))
    args = ["unload", "--port", unit.path, "--db", str(db), "--trust", pem]
    assert cli(tmp_path, *args) == 0
    out = capsys.readouterr()
    assert "4 FSEs imported" in out.out and "4/4 FSE" in out.err  # progress bar on stderr
    with OfficeDb(db) as office:
        rows = office.fses()
        stored = {r["fse_id"]: office.fse(r["import_id"])[1] for r in rows}
        reads = office.vitale_reads()
    assert stored == unit.fses  # byte for byte what the unit signed
    statuses = unit.statuses()
    assert statuses == {r["fse_id"]: ("imported", r["import_id"]) for r in rows}
    assert [r["read_id"] for r in reads] == ["VR-1"]
    assert unit.call(lambda: unit.store.list_records("vitale_read")) == []
    # a second unload finds nothing new and imports nothing twice
    assert cli(tmp_path, *args) == 0
    assert "0 FSEs imported" in capsys.readouterr().out
    with OfficeDb(db) as office:
        assert len(office.fses()) == 4
    # exports: CSV and JSON list the same FSEs with the numbers the unit used
    assert cli(tmp_path, "fse", "--db", str(db), "export", "--format", "csv") == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {(r["fse_id"], int(r["fse_number"])) for r in table} == {
        (k, int(k.split("-")[1])) for k in unit.fses}
    assert cli(tmp_path, "fse", "--db", str(db), "export", "--format", "json") == 0
    exported = json.loads(capsys.readouterr().out)
    assert sorted(r["fse_id"] for r in exported) == sorted(unit.fses)
    assert all(r["total_cents"] > 0 and r["acked_at"] for r in exported)
    assert cli(tmp_path, "fse", "--db", str(db), "list") == 0
    assert capsys.readouterr().out.count("acked") == 4
    first = sorted(unit.fses)[0]
    assert cli(tmp_path, "fse", "--db", str(db), "show", first) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["payload"]["fse_number"] == int(first.split("-")[1])
    assert shown["payload"]["unit_id"] == "SIM-0001"
    assert shown["cose_bytes"] == len(unit.fses[first])


def test_unload_while_locked_is_refused_and_changes_nothing(unit, tmp_path, capsys):
    unit.lock()
    pem = str(trust_pem(tmp_path / "trust.pem"))
    assert cli(tmp_path, "unload", "--port", unit.path, "--db", str(tmp_path / "o.db"),
               "--trust", pem) == 1
    err = capsys.readouterr().err
    assert "unlock the unit with the CPS" in err and "[group84.locked]" in err
    assert {s for s, _ in unit.statuses().values()} == {"signed"}
    with OfficeDb(tmp_path / "o.db") as office:
        assert office.fses() == []


def test_unload_rejects_an_fse_that_fails_verification_and_leaves_it_on_the_unit(unit, tmp_path, capsys):
    # a trust store without the card CAs: every card chain is untrusted
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Other Root")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    other = tmp_path / "other.pem"
    other.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    assert cli(tmp_path, "unload", "--port", unit.path, "--db", str(tmp_path / "o.db"),
               "--trust", str(other)) == 1
    err = capsys.readouterr().err
    assert err.count("REJECTED") == 4 and "cert_untrusted" in err
    assert {s for s, _ in unit.statuses().values()} == {"offered"}  # sent, never acknowledged


def test_tla_load_checks_ranges_against_the_unit_and_sends_nothing_when_refused(
        unit, tmp_path, capsys):
    # the unit holds R1 = 1..100000 for PROF (helpers.make_store): 1-50 would renumber from 1
    tariffs = json.loads(SAMPLE_PATH.read_text())
    (tmp_path / "day.json").write_text(json.dumps({"tariffs": tariffs, "invoices": [INVOICE]}))
    ranges = tmp_path / "ranges.csv"
    ranges.write_text(f"range_id,professional_id,first,last\nR-low,{PROF},1,50\n")
    assert cli(tmp_path, "load", "--port", unit.path, str(tmp_path / "day.json"),
               str(ranges)) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {ranges}:2: first: must start after 100000, the last FSE number already "
        f"covered for {PROF}"]
    assert unit.call(lambda: unit.store.list_records("invoice")) == []  # nothing of the load
    assert not (tmp_path / "last_tariff.json").exists()
    ranges.write_text(f"range_id,professional_id,first,last\nR-next,{PROF},100001,100500\n")
    assert cli(tmp_path, "load", "--port", unit.path, str(tmp_path / "day.json"),
               str(ranges)) == 0
    assert "Loaded 3 records (2 data records, 1 FSE ranges)" in capsys.readouterr().out
    assert unit.call(lambda: [r.record_id for r in unit.store.list_records("invoice")]) == [
        "INV-77"]
    # the tariff it sent is what later invoice-only loads are checked against
    assert json.loads((tmp_path / "last_tariff.json").read_text()) == tariffs
    (tmp_path / "more.json").write_text(json.dumps({"invoices": [
        dict(INVOICE, invoice_id="INV-78", lines=[{"code": "XYZ"}])]}))
    assert cli(tmp_path, "load", "--port", unit.path, str(tmp_path / "more.json")) == 2
    assert "invoices[0].lines[0].code: act 'XYZ' is not in the tariff table" in \
        capsys.readouterr().err


def test_tla_records_lists_and_withdraws_what_was_loaded(unit, tmp_path, capsys):
    tariffs = json.loads(SAMPLE_PATH.read_text())
    invoices = [INVOICE, dict(INVOICE, invoice_id="INV-78")]
    (tmp_path / "day.json").write_text(json.dumps({"tariffs": tariffs, "invoices": invoices}))
    assert cli(tmp_path, "load", "--port", unit.path, str(tmp_path / "day.json")) == 0
    unit.lock()
    capsys.readouterr()
    # the office's ids are sealed at rest: listing them needs the unit unlocked
    assert cli(tmp_path, "records", "list", "--port", unit.path, "--json") == 1
    assert "lock" in capsys.readouterr().err.lower()
    unit.unlock()
    assert cli(tmp_path, "records", "list", "--port", unit.path, "--json") == 0
    listed = json.loads(capsys.readouterr().out)["records"]
    assert [(r["kind"], r["id"], r["status"]) for r in listed] == [
        ("invoice", "INV-77", "loaded"), ("invoice", "INV-78", "loaded"),
        ("tariff", "current", "loaded")]
    assert cli(tmp_path, "records", "withdraw", "--port", unit.path, "INV-78", "NOPE") == 1
    assert "unit refused" in capsys.readouterr().err
    assert cli(tmp_path, "records", "withdraw", "--port", unit.path, "INV-78") == 0
    assert capsys.readouterr().out == "Withdrew 1 invoice records.\n"
    assert unit.call(lambda: [r.record_id for r in unit.store.list_records("invoice")]) == [
        "INV-77"]
