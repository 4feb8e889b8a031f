"""Issue 9 defect 5: what ``tla load`` accepted and should refuse. Each is refused with
exit 2, naming file, line and field, before the port is touched (/dev/null is no unit).
Lines are counted by hand in the texts."""

from __future__ import annotations

import json

import pytest

from firmware.billing.tariffs import SAMPLE_PATH
from host_tools.cli import main as tla

TARIFFS = json.loads(SAMPLE_PATH.read_text(encoding="utf-8"))
PATIENT = {"nir": "1800799999012", "nir_key": "56", "birth_date": "15/07/1980"}  # key 56 is right
INVOICE = {"invoice_id": "INV-1", "billing_number": "699999025", "profession": "60",
           "date_of_care": "2026-03-10", "patient": PATIENT, "lines": [{"code": "AMI"}]}


def load(tmp_path, capsys, *files) -> tuple[int, list[str]]:
    code = tla(["--keys", str(tmp_path / "keys.json"), "load", "--port", "/dev/null",
                *map(str, files)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.splitlines()


def day(tmp_path, invoice: dict, name: str = "day.json"):
    """The tariff on line 1, the invoice on line 2."""
    path = tmp_path / name
    path.write_text('{"tariffs": ' + json.dumps(TARIFFS) + ',\n "invoices": [' + json.dumps(invoice)
                    + "]}\n")
    return path


def test_the_valid_day_passes_the_check(tmp_path, capsys):
    # the control: the same file with nothing wrong gets past the check, to the port
    code, err = load(tmp_path, capsys, day(tmp_path, INVOICE))
    assert (code, err) == (1, ["error: cannot open port /dev/null: not a serial port, or in "
                               "use by another program"])


@pytest.mark.parametrize("key", ["57", "00"])
def test_a_nir_key_failing_mod_97_is_refused(tmp_path, capsys, key):
    path = day(tmp_path, dict(INVOICE, patient=dict(PATIENT, nir_key=key)))
    assert load(tmp_path, capsys, path) == (2, [
        f"error: {path}:2: invoices[0].patient.nir_key: NIR key does not match the NIR (mod 97)"])


def test_a_patient_file_with_a_wrong_nir_key_is_refused(tmp_path, capsys):
    path = tmp_path / "patients.csv"
    path.write_text("patient_id,nir,nir_key,birth_date\nP-1,1800799999012,56,15/07/1980\n"
                    "P-2,1800799999012,57,15/07/1980\n")
    assert load(tmp_path, capsys, path) == (2, [
        f"error: {path}:3: nir_key: NIR key does not match the NIR (mod 97)"])


def test_an_unknown_act_code_is_refused_against_the_tariff_of_the_load(tmp_path, capsys):
    path = day(tmp_path, dict(INVOICE, lines=[{"code": "AMI"}, {"code": "XYZ"}]))
    assert load(tmp_path, capsys, path) == (2, [
        f"error: {path}:2: invoices[0].lines[1].code: act 'XYZ' is not in the tariff table for "
        "profession 60"])


def test_an_unknown_profession_is_refused(tmp_path, capsys):
    path = day(tmp_path, dict(INVOICE, profession="24"))
    assert load(tmp_path, capsys, path) == (2, [
        f"error: {path}:2: invoices[0].profession: profession '24' is not in the tariff table"])


def test_invoices_without_any_known_tariff_are_refused(tmp_path, capsys):
    path = tmp_path / "inv.json"
    path.write_text('{"invoices": [\n' + json.dumps(INVOICE) + "]}\n")
    code, err = load(tmp_path, capsys, path)
    assert code == 2 and err == [f"error: {path}:2: no tariff table to check the act codes "
                                 "against: put the table in this load (a tariffs section)"]


def test_year_9999_is_refused(tmp_path, capsys):
    path = day(tmp_path, dict(INVOICE, date_of_care="9999-03-10"))
    assert load(tmp_path, capsys, path) == (2, [
        f"error: {path}:2: invoices[0].date_of_care: year 9999 outside 2000-2099"])


def test_a_duplicated_invoices_key_is_refused_not_dropped(tmp_path, capsys):
    path = tmp_path / "twice.json"
    path.write_text('{"tariffs": ' + json.dumps(TARIFFS) + ',\n "invoices": [' + json.dumps(INVOICE)
                    + '],\n "invoices": []}\n')
    assert load(tmp_path, capsys, path) == (2, [
        f"error: {path}:3: invoices: section given twice (one invoices section per file)"])


def test_a_header_only_csv_is_refused(tmp_path, capsys):
    path = tmp_path / "ranges.csv"
    path.write_text("range_id,professional_id,first,last\n")
    assert load(tmp_path, capsys, path) == (2, [f"error: {path}:1: no data rows (a header only)"])


def test_a_file_with_nothing_to_load_is_refused(tmp_path, capsys):
    path = tmp_path / "empty.json"
    path.write_text('{"invoices": []}\n')
    assert load(tmp_path, capsys, path) == (2, [f"error: {path}: nothing to load in this file"])


def test_a_100000_deep_json_is_refused_cleanly(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text('{"invoices": [' + "[" * 100_000 + "]" * 100_000 + "]}\n")
    assert load(tmp_path, capsys, path) == (2, [f"error: {path}:1: nested too deeply"])


def test_an_opposition_serial_with_letters_is_refused(tmp_path, capsys):
    # issue 10 item 5: AB123 was loaded, then every Vitale read failed (opposition_invalid)
    path = tmp_path / "opposition.csv"
    path.write_text("serial\n9100000666\nAB123\n")
    assert load(tmp_path, capsys, path) == (2, [
        f"error: {path}:3: serial: a Vitale serial is 1-32 digits"])


def test_a_range_below_another_of_the_same_files_is_refused(tmp_path, capsys):
    # the unit's stored ranges are checked the same way once connected (tests/transfer)
    path = tmp_path / "ranges.csv"
    path.write_text("range_id,professional_id,first,last\nR1,699999025,100,200\n"
                    "R2,699999025,1,50\n")
    assert load(tmp_path, capsys, path) == (2, [
        f"error: {path}:3: first: must start after 200, the last FSE number already covered "
        "for 699999025"])


def test_an_unknown_act_code_in_a_csv_names_its_row(tmp_path, capsys):
    (tmp_path / "tariffs.json").write_text(json.dumps({"tariffs": TARIFFS}))
    path = tmp_path / "invoices.csv"
    path.write_text("invoice_id,billing_number,profession,date_of_care,code\n"
                    "I1,699999025,60,2026-03-10,AMI\nI1,699999025,60,2026-03-10,XYZ\n")
    assert load(tmp_path, capsys, tmp_path / "tariffs.json", path) == (2, [
        f"error: {path}:3: code: act 'XYZ' is not in the tariff table for profession 60"])
