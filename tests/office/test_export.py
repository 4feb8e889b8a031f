"""``tla fse export``: every field for the billing software, including the signed COSE
bytes (base64: they still verify), the AMC part and the card's AMC, the PJ status, the
warnings and the lot; JSON and CSV say the same. Amounts hand-computed: 748 cents, AMO
449, AMC (tiers payant AMO+AMC) 748 - 449 = 299."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import date

import pytest
from billing.conftest import SEAL
from billing.fse_helpers import verifier

from host_tools import cli, fse_export, office_lots
from host_tools.arl import import_arls
from host_tools.lot_maker import make_lots
from host_tools.office_db import OfficeDb

from .helpers import NURSE, NURSE_PIN, cps_connection, import_all, nurse_fse

ROOT_DOCS = __import__("pathlib").Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def office(tmp_path, db_location, pki, tariffs):
    """FSE 1 and 2 (AMO+AMC) in lot 1, whose ARL rejects FSE 2; FSE 3 degraded, no lot."""
    path = db_location
    with OfficeDb(path) as db:
        fses = [nurse_fse(pki, tariffs, 1), nurse_fse(pki, tariffs, 2, tiers_payant="amo_amc")]
        import_all(db, pki, fses)
        office_lots.add_seal(db, "0.1.0", SEAL)
        make_lots(db, cps_connection(), lambda: NURSE_PIN, today=date(2026, 3, 12), now=1.7e9)
        fses.append(nurse_fse(pki, tariffs, 3, mode="degraded"))
        import_all(db, pki, fses[2:])
        arl = tmp_path / "arl.json"
        arl.write_text(json.dumps({
            "format": "opentla-arl/1", "billing_number": NURSE, "lot_number": 1,
            "organism": {"regime": "01", "caisse": "341"}, "received_at": "2026-03-14T08:00:00Z",
            "status": "accepted", "fses": [{"fse_number": 2, "status": "rejected",
                                            "reason": {"code": "R5", "text": "AMC inconnue"}}]}))
        import_arls(db, [arl])
    return path, fses


def export(tmp_path, office, fmt, capsys):
    assert cli.main(["--keys", str(tmp_path / "k.json"), "fse", "--db", str(office), "export",
                     "--format", fmt]) == 0
    out, err = capsys.readouterr()
    assert err == "3 FSEs exported\n"
    return out


def test_json_export_has_every_part(tmp_path, office, pki, capsys):
    path, fses = office
    recs = json.loads(export(tmp_path, path, "json", capsys))
    assert [r["fse_number"] for r in recs] == [1, 2, 3]
    one, two, three = recs
    # the signed original, byte for byte, still verifies
    for rec, fse in zip(recs, fses, strict=True):
        raw = base64.b64decode(rec["cose_base64"])
        assert raw == fse.encoded
        assert verifier(pki).verify(raw).number == rec["fse_number"]
    assert (two["tiers_payant"], two["total_cents"], two["amo_cents"], two["amc_cents"],
            two["patient_cents"], two["due_now_cents"]) == ("amo_amc", 748, 449, 299, 0, 0)
    assert two["amc"] == {"organism": "99999991", "contract_type": "TP", "start": None,
                          "end": None, "tiers_payant": True, "valid_at_care": True}
    assert (one["amc_cents"], one["due_now_cents"]) == (0, 748)
    assert [(p["type"], p["status"]) for p in one["pj"]] == [("ORDN", "missing")]
    assert [(p["type"], p["status"], p["sha256"]) for p in three["pj"]] == [
        ("ORDN", "missing", None), ("FSP", "missing", None)]
    assert three["warnings"] == ["pj_prescription", "pj_paper_sheet"]
    assert (three["mode"], three["payment_guarantee"], three["amc"]) == ("degraded", False, None)
    assert one["lot"] == {"lot": f"{NURSE}/1", "lot_number": 1, "lot_status": "accepted",
                          "fse_status": "accepted", "reason_code": "", "reason": ""}
    assert two["lot"]["fse_status"] == "rejected" and two["lot"]["reason"] == "AMC inconnue"
    assert three["lot"] is None
    assert one["seal"] == SEAL.hex() and one["payload"]["beneficiary"]["nir"] == "1800175123456"
    assert one["payload"]["ps"]["cert_sha256"] == verifier(pki).verify(
        fses[0].encoded).payload["ps"]["cert_sha256"].hex()


def test_csv_export_says_the_same(tmp_path, office, capsys):
    path, fses = office
    table = list(csv.DictReader(io.StringIO(export(tmp_path, path, "csv", capsys))))
    assert list(table[0]) == list(fse_export.CSV_FIELDS)
    two, three = table[1], table[2]
    assert base64.b64decode(two["cose_base64"]) == fses[1].encoded
    assert (two["amc_cents"], two["amc_organism"], two["amc_contract_type"]) == (
        "299", "99999991", "TP")
    assert (two["lot"], two["lot_status"], two["lot_fse_status"], two["lot_reason_code"]) == (
        f"{NURSE}/1", "accepted", "rejected", "R5")
    assert three["pj"] == "ORDN:missing FSP:missing"
    assert three["warnings"] == "pj_prescription pj_paper_sheet"
    assert three["lot"] == "" and three["amc_organism"] == ""
    assert [(x["code"], x["amount_cents"], x["amo_cents"]) for x in json.loads(two["lines"])] == [
        ("AMI", 473, 284), ("IFD", 275, 165)]


def test_docs_example_has_the_export_keys(tmp_path, office, capsys):
    path, _ = office
    rec = json.loads(export(tmp_path, path, "json", capsys))[0]
    doc = (ROOT_DOCS / "export.md").read_text(encoding="utf-8")
    example = json.loads(doc.split("```json", 1)[1].split("```", 1)[0])
    assert set(example) == set(rec)
    assert set(example["lot"]) == set(rec["lot"])
    columns = doc.split("CSV columns", 1)[1]
    assert all(f"`{c}`" in columns for c in fse_export.CSV_FIELDS)
