"""``tla load`` input checks added by the usability pass: duplicates, misspelt fields and
columns, empty files, ragged CSV rows. Expected lines are counted by hand in the texts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.billing.tariffs import TariffTable
from host_tools.cli import main as tla
from host_tools.load_files import LoadFilesError, read_files

SAMPLE = TariffTable.load_sample()  # the act codes of INV are checked against it

INV = {"billing_number": "123456789", "profession": "60", "date_of_care": "2026-02-03",
       "lines": [{"code": "AMI"}]}
CSV_HEAD = "invoice_id,billing_number,profession,date_of_care,code\n"


def problems(*paths) -> list[str]:
    with pytest.raises(LoadFilesError) as info:
        read_files(list(paths), SAMPLE)
    return [str(p) for p in info.value.problems]


def test_duplicate_invoice_ids_in_one_json_file_name_both_places(tmp_path):
    f = tmp_path / "d.json"
    # one invoice per line: the invoices sit on lines 2, 3 and 4
    f.write_text('{"invoices": [\n' + ",\n".join(
        json.dumps({"invoice_id": i, **INV}) for i in ("A", "B", "A")) + "\n]}\n")
    assert problems(f) == [f"{f}:4: invoices[2].invoice_id: duplicate invoice_id 'A' "
                           f"(first at {f}:2)"]


def test_duplicates_across_files_and_kinds(tmp_path):
    j = tmp_path / "a.json"
    j.write_text(json.dumps({"invoices": [{"invoice_id": "X1", **INV}],
                             "fse_ranges": [{"range_id": "R1", "professional_id": "P",
                                             "first": 1, "last": 9}]}))
    c = tmp_path / "b.csv"
    c.write_text(CSV_HEAD + "X1,123456789,60,2026-02-03,AMI\n")
    r = tmp_path / "r.csv"
    r.write_text("range_id,professional_id,first,last\nR2,P,10,15\nR1,P,6,9\n")
    p = tmp_path / "p.csv"
    p.write_text("patient_id,nir,nir_key,birth_date,name\n"
                 "P1,1800175123456,60,15/01/1980,DUPONT\nP1,1800175123456,60,15/01/1980,DURAND\n")
    assert problems(j, c, r, p) == [
        f"{c}:2: invoice_id: duplicate invoice_id 'X1' (first at {j}:1)",
        f"{r}:3: range_id: duplicate range_id 'R1' (first at {j}:1)",
        f"{p}:3: patient_id: duplicate patient_id 'P1' (first at {p}:2)",
    ]


def test_the_same_file_given_twice_is_refused(tmp_path):
    c = tmp_path / "b.csv"
    c.write_text(CSV_HEAD + "X1,123456789,60,2026-02-03,AMI\n")
    assert problems(c, c) == [f"{c}:2: invoice_id: duplicate invoice_id 'X1' (first at {c}:2)"]


def test_misspelt_json_fields_are_refused_not_ignored(tmp_path):
    f = tmp_path / "m.json"
    f.write_text('{"invoices": [\n' + json.dumps(
        {"invoice_id": "A", **INV, "lines": [{"code": "AMI", "qty": 2}]}) + ",\n" + json.dumps(
        {"invoice_id": "B", **INV, "tiers_payan": "amo"}) + "\n]}\n")
    got = problems(f)
    assert [g.split(" (known")[0] for g in got] == [
        f"{f}:2: invoices[0].lines[0].qty: unknown field",
        f"{f}:3: invoices[1].tiers_payan: unknown field"]
    assert "quantity" in got[0] and "tiers_payant" in got[1]  # the known names are listed


def test_unknown_csv_columns_are_refused(tmp_path):
    inv = tmp_path / "i.csv"
    inv.write_text("invoice_id,billing_number,profession,date_of_care,code,qty\n"
                   "I1,123456789,60,2026-03-10,AMI,2\n")
    rng = tmp_path / "r.csv"
    rng.write_text("range_id,professional_id,first,lats\nR1,P,1,9\n")
    got = problems(inv, rng)
    assert [g.split(" (known")[0] for g in got] == [f"{inv}:1: qty: unknown column",
                                                     f"{rng}:1: lats: unknown column"]


def test_empty_files_and_ragged_rows(tmp_path):
    ej, ec = tmp_path / "e.json", tmp_path / "e.csv"
    ej.write_text("")
    ec.write_text("\n")
    rag = tmp_path / "rag.csv"
    rag.write_text(CSV_HEAD + "I1,123456789,60,2026-03-10,AMI\nI2,123456789,60,2026-03-10,AMI,7\n")
    assert problems(ej, ec, rag) == [
        f"{ej}: empty file (expected a JSON object)",
        f"{ec}: empty file (expected a header row)",
        f"{rag}:3: more cells than the 5 header columns"]


def test_invalid_dates_and_negative_amounts_name_line_and_field(tmp_path):
    c = tmp_path / "c.csv"
    c.write_text("invoice_id,billing_number,profession,date_of_care,code,amount_cents\n"
                 "I1,123456789,60,2026-02-30,AMI,\n"
                 "I2,123456789,60,2026-02-03,AMI,-5\n")
    got = problems(c)
    assert got[0].startswith(f"{c}:2: date_of_care: ") and "2026-02-30" in got[0]
    assert got[1].startswith(f"{c}:3: amount_cents: ") and len(got) == 2


def test_cli_load_reports_file_problems_with_exit_2_before_touching_the_port(tmp_path, capsys):
    f = tmp_path / "d.json"
    f.write_text(json.dumps({"invoices": [{"invoice_id": "A", **INV}] * 2}))
    # /dev/null exists but is no unit: the files are refused before any connection
    assert tla(["--keys", str(tmp_path / "k.json"), "load", "--port", "/dev/null", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {f}:1: invoices[1].invoice_id: duplicate") and "Trace" not in err


@settings(max_examples=40, deadline=None)
@given(ids=st.lists(st.sampled_from(["A", "B", "C", "D"]), min_size=1, max_size=8))
def test_every_repeat_of_an_id_is_one_problem_and_nothing_is_kept(ids):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "h.json"
        f.write_text(json.dumps({"invoices": [{"invoice_id": i, **INV} for i in ids]}))
        repeats = len(ids) - len(set(ids))
        if repeats == 0:
            assert sorted(i.record_id for i in read_files([f], SAMPLE).items()) == sorted(ids)
        else:
            got = problems(f)
            assert len(got) == repeats and all("duplicate invoice_id" in g for g in got)
