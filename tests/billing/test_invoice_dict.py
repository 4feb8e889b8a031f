"""Invoice <-> plain dict round trips and field-named validation errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.billing import cbor_det
from firmware.billing.errors import InvoiceFormatError
from firmware.billing.invoice import Invoice

BASE = {"invoice_id": "INV-7", "billing_number": "123456789", "profession": "60",
        "date_of_care": "2026-03-10", "lines": [{"code": "AMI", "coefficient": "1.5"}]}


def with_(**kw):
    raw = json.loads(json.dumps(BASE))
    raw.update(kw)
    return raw


decimals = st.decimals(min_value=0, max_value=999, places=2, allow_nan=False).filter(
    lambda d: d > 0).map(str)
lines = st.fixed_dictionaries(
    {"code": st.sampled_from(["AMI", "IFD", "IK", "V"]), "coefficient": decimals,
     "quantity": st.integers(1, 99)},
    optional={"km": decimals, "amount_cents": st.integers(0, 10_000_000)},
)
patients = st.fixed_dictionaries({
    "nir": st.from_regex(r"\A[12][0-9]{4}(2A|2B|[0-9]{2})[0-9]{6}\Z"),
    "nir_key": st.from_regex(r"\A[0-9]{2}\Z"),
    "birth_date": st.builds(lambda d, m, y: f"{d:02d}/{m:02d}/{y:04d}",
                            st.integers(0, 31), st.integers(0, 12), st.integers(1900, 2026)),
    "birth_rank": st.integers(1, 9),
    "name": st.text("ABCDEFGHIJ -", max_size=20),
})
invoices = st.builds(
    lambda lines, patient, nature, tp: with_(lines=lines, patient=patient, nature=nature,
                                             tiers_payant=tp),
    st.lists(lines, min_size=1, max_size=5), st.none() | patients,
    st.sampled_from(["maladie", "maternite"]), st.sampled_from(["none", "amo", "amo_amc"]))


@given(invoices)
def test_round_trip_through_dict_json_and_cbor(raw):
    inv = Invoice.from_dict(raw)
    d = inv.to_dict()
    assert Invoice.from_dict(d) == inv
    assert Invoice.from_dict(json.loads(json.dumps(d))) == inv
    assert Invoice.from_dict(cbor_det.decode_deterministic(cbor_det.encode(d))) == inv


def test_coefficient_kept_exact():
    d = Invoice.from_dict(with_(lines=[{"code": "AMI", "coefficient": "1.50"}])).to_dict()
    assert d["lines"][0]["coefficient"] == "1.5"


@pytest.mark.parametrize("raw,field", [
    (with_(lines=[]), "lines"),
    (with_(lines=[{"code": "AMI", "coefficient": 1.5}]), "lines[0].coefficient"),
    (with_(lines=[{"code": "AMI", "coefficient": "1,5"}]), "lines[0].coefficient"),
    (with_(lines=[{"code": "AMI"}, {"code": "IK", "km": "-3"}]), "lines[1].km"),
    (with_(lines=[{"code": "AMI", "quantity": 0}]), "lines[0].quantity"),
    (with_(lines=[{"code": ""}]), "lines[0].code"),
    (with_(date_of_care="2026-02-30"), "date_of_care"),
    (with_(nature="chomage"), "nature"),
    (with_(tiers_payant=True), "tiers_payant"),
    (with_(billing_number="12A"), "billing_number"),
    (with_(patient={"nir": "123", "nir_key": "42", "birth_date": "01/01/1980"}), "patient.nir"),
    (with_(patient={"nir": "1800175123456", "nir_key": "42", "birth_date": "1980-01-01"}),
     "patient.birth_date"),
    (with_(prescription={"prescriber_id": "1000", "date": None}), "prescription.date"),
    ({k: v for k, v in BASE.items() if k != "invoice_id"}, "invoice_id"),
    ([], "$"),
])
def test_errors_name_the_field(raw, field):
    with pytest.raises(InvoiceFormatError) as exc:
        Invoice.from_dict(raw)
    assert exc.value.field == field
    assert exc.value.message_fr == "Facture illisible"


@given(st.recursive(st.none() | st.integers() | st.text(max_size=5) | st.floats(),
                    lambda x: st.lists(x, max_size=3) | st.dictionaries(st.text(max_size=12),
                                                                         x, max_size=4)))
def test_garbage_gives_a_clear_error(raw):
    try:
        Invoice.from_dict(raw)
    except InvoiceFormatError as exc:
        assert exc.field
