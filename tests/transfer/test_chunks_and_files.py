"""Packing records into responses (hypothesis), and the load-file readers' errors."""

from __future__ import annotations

import hashlib
import json

import cbor2
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.billing.invoice import Invoice
from firmware.billing.tariffs import TariffTable
from firmware.office_link.chunks import pack_records, response_room
from firmware.office_link.header import MgmtError
from host_tools.load_files import LoadFilesError, read_files

SAMPLE = TariffTable.load_sample()

_ids = st.text(alphabet="ABCXYZ0123456789-", min_size=1, max_size=64)


@settings(max_examples=200, deadline=None)
@given(records=st.dictionaries(_ids, st.binary(max_size=9000), min_size=1, max_size=6),
       buf_size=st.integers(256, 20000))
def test_pulling_piece_by_piece_rebuilds_every_record_and_fits_the_buffer(records, buf_size):
    order = list(records)
    got: dict[str, bytearray] = {}
    served: list[str] = []
    cursor = None
    for _ in range(10_000):
        following = order if cursor is None else order[order.index(cursor[0]) + 1:]
        pieces, end = pack_records(cursor, following, records.__getitem__,
                                   response_room(buf_size), served.append)
        body = cbor2.dumps({"recs": pieces, "end": end}, canonical=True)
        assert 8 + len(body) + 4 <= buf_size  # header + body + length/CRC: one frame
        for rid, off, total, data in pieces:
            assert total == len(records[rid]) and off == len(got.setdefault(rid, bytearray()))
            got[rid] += data
            cursor = (rid, off + len(data))
        if end:
            break
        assert pieces, "no progress"
    assert {k: bytes(v) for k, v in got.items()} == records
    assert served == order  # each record reported served once, when its last byte left


def test_an_offset_past_the_record_is_refused():
    with pytest.raises(MgmtError):
        pack_records(("A", 11), [], lambda _: b"0123456789", 1000)


# ---- load files --------------------------------------------------------------------------
def _problems(tmp_path, name: str, text: str) -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(LoadFilesError) as info:
        read_files([path], SAMPLE)
    return [str(p) for p in info.value.problems]


def test_json_errors_name_file_line_and_field(tmp_path):
    text = ('{"invoices": [\n'
            ' {"invoice_id": "A", "billing_number": "123456789", "profession": "60",\n'
            '  "date_of_care": "2026-03-10",\n'
            '  "lines": [{"code": "AMI", "quantity": 0}]}],\n'
            ' "fse_ranges": [{"range_id": "R", "professional_id": "1", "first": 5, "last": 2}],\n'
            ' "colour": 1}\n')
    path = tmp_path / "day.json"
    assert _problems(tmp_path, "day.json", text) == [  # in file order
        f"{path}:4: invoices[0].lines[0].quantity: must be an integer 1..99",
        f"{path}:5: fse_ranges[0].last: first must not exceed last",
        f"{path}:6: colour: unknown section",
    ]
    assert _problems(tmp_path, "day.json", '{"invoices": [}') == [
        f"{path}:1: not JSON: Expecting value"]


def test_csv_errors_name_the_line_and_column(tmp_path):
    path = tmp_path / "inv.csv"
    text = ("invoice_id,billing_number,profession,date_of_care,code,coefficient,patient_nir,"
            "patient_nir_key,patient_birth_date\n"
            "A,123456789,60,2026-03-10,AMI,1.5,1800175123456,60,15/01/1980\n"
            "A,123456789,60,2026-03-10,IFD,abc,1800175123456,60,15/01/1980\n"
            "B,123456789,60,2026-03-10,AMI,1,1800175123456,4,15/01/1980\n"
            "C,123456789,60,2026-03-11,AMI,1,,,\n"
            "C,123456789,60,2026-03-12,AMI,1,,,\n")
    assert _problems(tmp_path, "inv.csv", text) == [
        f"{path}:3: coefficient: not a decimal number: 'abc'",
        f"{path}:4: patient_nir_key: bad format '4'",
        f"{path}:6: date_of_care: differs from line 5 of invoice C",
    ]
    assert _problems(tmp_path, "x.csv", "colour,size\nred,1\n") == [
        f"{tmp_path / 'x.csv'}:1: unknown CSV header: expected invoice, patient, range or serial columns"]


def test_csv_invoice_rows_group_into_the_invoice_billing_reads(tmp_path):
    path = tmp_path / "inv.csv"
    path.write_text("invoice_id,billing_number,profession,date_of_care,code,coefficient,"
                    "prescriber_id,prescription_date\n"
                    "A,123456789,60,2026-03-10,AMI,1.5,10001234567,2026-03-01\n"
                    "A,123456789,60,2026-03-10,IFD,,10001234567,2026-03-01\n")
    [item] = read_files([path], SAMPLE).items()
    expected = Invoice.from_dict({
        "invoice_id": "A", "billing_number": "123456789", "profession": "60",
        "date_of_care": "2026-03-10", "lines": [{"code": "AMI", "coefficient": "1.5"}, {"code": "IFD"}],
        "prescription": {"prescriber_id": "10001234567", "date": "2026-03-01"}})
    assert (item.kind, item.record_id, item.professional_id) == ("invoice", "A", "123456789")
    assert Invoice.from_dict(cbor2.loads(item.payload)) == expected


_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.lists(_cell, min_size=6, max_size=6), max_size=5),
       kind=st.sampled_from(["invoice_id,billing_number,profession,date_of_care,code,quantity",
                             "patient_id,nir,nir_key,birth_date,name,birth_rank",
                             "range_id,professional_id,first,last,a,b"]))
def test_arbitrary_csv_cells_load_or_fail_with_located_problems(tmp_path_factory, rows, kind):
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(kind.split(","))
    writer.writerows(rows)
    path = tmp_path_factory.mktemp("f") / "data.csv"
    path.write_text(buf.getvalue())
    try:
        loaded = read_files([path], SAMPLE)
    except LoadFilesError as exc:
        assert exc.problems and all(str(p).startswith(f"{path}:") for p in exc.problems)
    else:
        assert sum(loaded.counts.values()) <= len(rows)


@settings(max_examples=150, deadline=None)
@given(doc=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                        lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.sampled_from(["invoices", "patients", "fse_ranges",
                                                           "opposition", "tariffs", "lines",
                                                           "code", "invoice_id"]), inner,
                                          max_size=4), max_leaves=15))
def test_arbitrary_json_documents_load_or_fail_with_located_problems(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("j") / "data.json"
    path.write_text(json.dumps(doc))
    try:
        read_files([path], SAMPLE)
    except LoadFilesError as exc:
        assert exc.problems and all(str(p).startswith(str(path)) for p in exc.problems)


def test_trust_files_split_roots_from_intermediates_and_refuse_garbage(tmp_path):
    from board.sim.pki import TestPki
    from host_tools.importer import TrustFileError, load_trust

    from .helpers import trust_pem

    pki = TestPki.create()
    store = load_trust([str(trust_pem(tmp_path / "t.pem"))])
    assert set(store._roots) == {hashlib.sha256(pki.root.public_bytes(Encoding.DER)).digest()}
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(TrustFileError, match="junk.pem"):
        load_trust([str(junk)])
    only_ca = tmp_path / "ca.pem"
    only_ca.write_bytes(pki.cps_ca.public_bytes(Encoding.PEM))
    with pytest.raises(TrustFileError, match="no root"):
        load_trust([str(only_ca)])
