"""Issue 10 item 5: one schema per loaded kind. Whatever ``tla load`` accepts, the unit's
load group accepts and the unit's reader reads back; whatever the unit would refuse,
``tla load`` refuses first, naming file, line and field. Values are drawn from valid and
invalid ones of each field (hypothesis)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.billing.tariffs import SAMPLE_PATH, TariffTable
from firmware.office_link.group_load import check_payload
from firmware.office_link.header import GroupError
from firmware.unit import documents
from host_tools.load_files import LoadFilesError, read_files

TARIFFS = json.loads(SAMPLE_PATH.read_text(encoding="utf-8"))
SAMPLE = TariffTable.from_dict(TARIFFS)

def _mostly(valid: object, *invalid: object):
    """The valid value about two times in three, else one of the invalid ones."""
    return st.sampled_from([valid] * (2 * len(invalid)) + list(invalid))


_nirs = st.sampled_from([("1800799999012", "56"), ("2830399999015", "83")] * 4 + [("1800799999012", "56"), ("2830399999015", "83"),
                         ("1800799999012", "57"), ("1800799999012", "00"),
                         ("180079999901", "56"), ("3800799999012", "56"),
                         ("1800799999012", "5"), ("1800799999012", 56)])
_patients = st.none() | st.fixed_dictionaries(
    {"nir": st.just(""), "nir_key": st.just(""),
     "birth_date": _mostly("15/07/1980", "00/03/1983", "15/07/1850", "15-07-1980",
                           "32/07/1980")},
    optional={"birth_rank": _mostly(1, 2, 0, 10, "1"),
              "name": _mostly("ESSAI", "", "X" * 81)})
_lines = st.lists(st.fixed_dictionaries(
    {"code": st.sampled_from(["AMI", "IFD"] * 2 + ["XYZ", ""])},
    optional={"coefficient": _mostly("1.5", "0", "abc", 1.5),
              "quantity": _mostly(2, 0, 100, "2")}), min_size=0, max_size=3)
_invoices = st.fixed_dictionaries(
    {"invoice_id": _mostly("INV-1", "INV 1", "", "x" * 65),
     "billing_number": _mostly("699999025", "69999902A"),
     "profession": _mostly("60", "24"),
     "date_of_care": _mostly("2026-03-10", "9999-03-10", "1999-12-31", "2026-02-30", 20260310),
     "lines": _lines},
    optional={"patient": _patients, "tiers_payant": _mostly("amo", "free"),
              "colour": st.just("red")})


def _with_nir(invoice: dict, nir: tuple) -> dict:
    if isinstance(invoice.get("patient"), dict):
        invoice = dict(invoice, patient=dict(invoice["patient"], nir=nir[0], nir_key=nir[1]))
    return invoice


def _office(doc: dict) -> tuple[list | None, list[str]]:
    """tla load's check of one JSON file: (the items, or None, and the problems)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "day.json"
        path.write_text(json.dumps(doc))
        try:
            loaded = read_files([path], SAMPLE)
        except LoadFilesError as exc:
            problems = [str(p) for p in exc.problems]
            assert all(p.startswith(f"{path}:") for p in problems), problems
            return None, [p.split(": ", 1)[1] for p in problems]
        return list(loaded.items()), []


def _unit_accepts(kind: str, raw: object) -> bool:
    try:
        check_payload(kind, "x", cbor2.dumps(raw))
    except GroupError as exc:
        assert exc.rc == 5  # BAD_RECORD, never an internal error
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(invoice=_invoices, nir=_nirs)
def test_invoices_accepted_by_tla_load_are_stored_and_read_back_by_the_unit(invoice, nir):
    invoice = _with_nir(invoice, nir)
    items, problems = _office({"invoices": [invoice]})
    if items is None:
        assert problems and all(p.startswith("invoices[0]") or "tariff" in p for p in problems)
        return
    [item] = items
    check_payload(item.kind, item.record_id, item.payload)  # the load group stores it
    back = documents.invoice(item.payload, item.record_id)  # and the reader reads it
    assert back.invoice_id == invoice["invoice_id"]
    assert back.date_of_care.isoformat() == invoice["date_of_care"]
    assert [line.code for line in back.lines] == [line["code"] for line in invoice["lines"]]
    if invoice.get("patient") is not None:
        assert back.patient is not None and back.patient.nir + back.patient.nir_key == "".join(nir)


@settings(max_examples=300, deadline=None)
@given(invoice=_invoices, nir=_nirs)
def test_an_invoice_the_unit_would_refuse_is_refused_by_tla_load_first(invoice, nir):
    invoice = _with_nir(invoice, nir)
    if not _unit_accepts("invoice", invoice):
        items, problems = _office({"invoices": [invoice]})
        assert items is None and any(p.startswith("invoices[0]") for p in problems), problems


_serials = st.text(alphabet="0123456789AB -", min_size=0, max_size=34)


@settings(max_examples=200, deadline=None)
@given(serials=st.lists(_serials, min_size=1, max_size=4))
def test_opposition_serials_load_exactly_when_the_unit_reads_them(serials):
    items, problems = _office({"opposition": serials})
    unit_ok = _unit_accepts("opposition", {"serials": serials})
    assert (items is not None) == unit_ok, problems
    if items is not None:
        [item] = items
        assert documents.opposition(item.payload) == set(serials)
    else:
        assert all(p.startswith("opposition[") for p in problems)


@settings(max_examples=200, deadline=None)
@given(patient=_patients.filter(lambda p: p is not None), nir=_nirs,
       pid=st.sampled_from(["P-1", "P 1"]))
def test_patients_load_exactly_when_the_unit_takes_them(patient, nir, pid):
    record = {"patient_id": pid, **patient, "nir": nir[0], "nir_key": nir[1]}
    items, problems = _office({"patients": [record]})
    assert (items is not None) == _unit_accepts("patient", record), problems
    if items is not None:
        [item] = items
        assert cbor2.loads(item.payload) == record


@pytest.mark.parametrize("serial", ["AB123", "9100000666 ", ""])
def test_the_opposition_serial_found_by_review_is_refused_by_both(serial):
    assert not _unit_accepts("opposition", {"serials": [serial]})
    items, problems = _office({"opposition": ["9100000001", serial]})
    assert items is None and problems == ["opposition[1]: a Vitale serial is 1-32 digits"]
