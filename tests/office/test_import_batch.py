"""What a batch of verified FSEs holds while it waits for its transaction: the stored
part of each payload, which stores the same row as the whole payload does."""

from __future__ import annotations

import gc

from billing.conftest import UNIT_ID
from billing.fse_helpers import verifier

from host_tools.office_db import Imported, NewFse, OfficeDbError, stored_part

from .helpers import nurse_fse


def test_the_stored_part_stores_what_the_whole_payload_stores(db, pki, tariffs):
    fses = [nurse_fse(pki, tariffs, n) for n in (1, 2)]
    verified = [verifier(pki, seals=None).verify(f.encoded) for f in fses]
    whole, part = db.import_fses(UNIT_ID, [
        NewFse("F-1", fses[0].encoded, verified[0].payload, verified[0].seal),
        NewFse("F-2", fses[1].encoded, stored_part(verified[1].payload), verified[1].seal)])
    assert not whole.duplicate and not part.duplicate
    rows = {r["fse_id"]: r for r in db.fses()}
    # the same FSE content but its number and ids: 748 cents, AMO 449 (helpers.nurse_fse)
    for fse_id, number in (("F-1", 1), ("F-2", 2)):
        row = rows[fse_id]
        assert (row["fse_number"], row["mode"], row["date_of_care"]) == (number, "secured",
                                                                         "2026-03-10")
        assert (row["total_cents"], row["amo_cents"], row["patient_cents"]) == (748, 449, 299)
        assert (row["nir"], row["patient_name"]) == ("180017512345642", "DUPONT JEAN")
    # importing the stored part again is a duplicate of the row the whole payload made
    [again] = db.import_fses(UNIT_ID, [NewFse("F-1", fses[0].encoded,
                                              stored_part(verified[0].payload),
                                              verified[0].seal)])
    assert again.duplicate and again.import_id == whole.import_id


def test_the_stored_part_holds_nothing_the_garbage_collector_tracks(pki, tariffs):
    payload = verifier(pki, seals=None).verify(nurse_fse(pki, tariffs, 3).encoded).payload
    part = stored_part(payload)
    # the whole payload: maps holding lists, every one tracked and rescanned while a
    # batch fills; the stored part: one map of plain values and two small maps that
    # hold plain values only (untracked)
    assert gc.is_tracked(payload["amounts"]) and gc.is_tracked(payload["invoice"])
    assert [key for key, value in part.items() if gc.is_tracked(value)] == []
    assert set(part) == {"billing_number", "fse_number", "mode", "signed_at", "date_of_care",
                         "amounts", "beneficiary"}


def test_a_batch_with_a_number_clash_stores_the_others_once(db, pki, tariffs):
    # the driver then counts fewer rows inserted than sent: the rows are found one by one
    fses = {n: nurse_fse(pki, tariffs, n) for n in (1, 2, 3)}
    ver = verifier(pki, seals=None)

    def item(fse_id, n):
        v = ver.verify(fses[n].encoded)
        return NewFse(fse_id, fses[n].encoded, stored_part(v.payload), v.seal)

    [first] = db.import_fses(UNIT_ID, [item("F-1", 1)])
    new, clash, other = db.import_fses(UNIT_ID, [item("F-2", 2), item("F-9", 1),
                                                 item("F-3", 3)])
    assert isinstance(new, Imported) and isinstance(other, Imported)
    assert not new.duplicate and not other.duplicate and new.import_id != other.import_id
    assert isinstance(clash, OfficeDbError) and clash.code == "fse_number_conflict"
    assert sorted((r["fse_id"], r["fse_number"]) for r in db.fses()) == [
        ("F-1", 1), ("F-2", 2), ("F-3", 3)]
    assert {r["import_id"] for r in db.fses()} == {first.import_id, new.import_id,
                                                   other.import_id}
    # the same FSE again, alone: nothing inserted, the stored row's import id
    [again] = db.import_fses(UNIT_ID, [item("F-2", 2)])
    assert again.duplicate and again.import_id == new.import_id


def test_the_same_fse_twice_in_one_batch_is_stored_once_then_a_duplicate(db, pki, tariffs):
    # a pull answered twice (a retried frame) hands the importer the same record twice
    ver = verifier(pki, seals=None)
    one, two = nurse_fse(pki, tariffs, 1), nurse_fse(pki, tariffs, 2)

    def item(fse_id, fse):
        v = ver.verify(fse.encoded)
        return NewFse(fse_id, fse.encoded, stored_part(v.payload), v.seal)

    first, again, other = db.import_fses(UNIT_ID, [item("F-1", one), item("F-1", one),
                                                   item("F-1", two)])
    assert isinstance(first, Imported) and not first.duplicate
    assert isinstance(again, Imported) and again.duplicate
    assert again.import_id == first.import_id
    # the same record id with other content: the first one is kept, as across batches
    assert isinstance(other, OfficeDbError) and other.code == "fse_conflict"
    assert [(r["fse_id"], r["fse_number"]) for r in db.fses()] == [("F-1", 1)]
