"""FSE numbering and lifecycle: signed -> offered -> imported -> purged."""

from __future__ import annotations

import pytest

from firmware.store import (
    BadTransition,
    DuplicateRecord,
    FseRangeRefused,
    NoFseNumber,
    Store,
    StoreUsageError,
    UnknownRecord,
)

from .helpers import open_provisioned, put_invoice

PS = "10101010101"
DAY = 86400.0


def sign(store: Store, fse_id: str, invoice_id: str | None = None, ps: str = PS) -> int:
    number = store.next_fse_number(ps)
    store.signed_fse(fse_id, ps, number, b"cose:" + fse_id.encode(), invoice_id=invoice_id)
    return number


def test_numbers_come_from_ranges_in_order_and_run_out(store):
    store.load_fse_range("R1", PS, 10, 11)
    store.load_fse_range("R2", PS, 500, 501)
    store.unlock(store.test_proof)
    got = [store.next_fse_number(PS) for _ in range(4)]
    assert got == [10, 11, 500, 501]
    with pytest.raises(NoFseNumber) as err:
        store.next_fse_number(PS)
    assert err.value.message_fr == "Plus de numéros FSE"
    assert store.fse_numbers_left(PS) == 0


def test_overlapping_range_refused_identical_reload_accepted(store):
    store.load_fse_range("R1", PS, 100, 199)
    store.load_fse_range("R1", PS, 100, 199)  # office retried: no-op
    with pytest.raises(FseRangeRefused) as err:
        store.load_fse_range("R9", PS, 150, 250)
    assert err.value.code == "store_range_not_after"
    with pytest.raises(DuplicateRecord):
        store.load_fse_range("R1", PS, 100, 150)
    store.load_fse_range("R3", "OTHER", 150, 250)  # other professional: fine
    with pytest.raises(StoreUsageError) as bad:
        store.load_fse_range("R4", PS, 0, 5)
    assert bad.value.code == "store_bad_range"
    with pytest.raises(StoreUsageError) as bad:
        store.load_fse_range("R5", PS, 5, 1_000_000_000)
    assert bad.value.code == "store_bad_range"
    assert store.fse_numbers_left(PS) == 100


def test_full_lifecycle_and_purge_after_retention(store, wall):
    store.load_fse_range("R1", PS, 1, 50)
    put_invoice(store, "INV-1", PS, b"invoice one")
    store.unlock(store.test_proof)
    number = sign(store, "F1", invoice_id="INV-1")
    info = store.fse_info("F1")
    assert (info.status, info.fse_number) == ("signed", number)
    assert info.invoice_key == store.record_key("invoice", "INV-1") != "INV-1"
    assert store.record_info("invoice", "INV-1").status == "used"
    assert store.get_fse("F1") == b"cose:F1"
    with pytest.raises(BadTransition):
        store.confirm_import("F1", "ACK-1")  # never offered
    store.offer("F1")
    store.offer("F1")  # offered again after a cable pull: allowed
    wall.advance(10)
    imported = store.confirm_import("F1", "ACK-1")
    assert (imported.status, imported.import_ack) == ("imported", "ACK-1")
    assert store.confirm_import("F1", "ACK-1").imported_at == imported.imported_at
    with pytest.raises(BadTransition):
        store.confirm_import("F1", "ACK-2")
    store.set_retention_days(30)
    assert store.purge(imported.imported_at + 30 * DAY - 1) == 0
    assert store.purge(imported.imported_at + 30 * DAY) == 1
    with pytest.raises(UnknownRecord):
        store.fse_info("F1")
    with pytest.raises(UnknownRecord):
        store.record_info("invoice", "INV-1")
    # the number stays on record as used by F1
    assert [(n.number, n.state, n.fse_id) for n in store.numbering(PS)] == [(number, "used", "F1")]


def test_nothing_unconfirmed_is_ever_purged(store):
    store.load_fse_range("R1", PS, 1, 50)
    store.unlock(store.test_proof)
    sign(store, "F-signed")
    sign(store, "F-offered")
    store.offer("F-offered")
    assert store.retention_days() == 90
    store.set_retention_days(0)
    assert store.purge(1e12) == 0
    assert sorted(f.fse_id for f in store.list_fses()) == ["F-offered", "F-signed"]


def test_number_must_be_reserved_and_used_once(store):
    store.load_fse_range("R1", PS, 1, 50)
    store.unlock(store.test_proof)
    with pytest.raises(BadTransition):
        store.signed_fse("F0", PS, 7, b"x")  # never reserved
    n = sign(store, "F1")
    with pytest.raises(BadTransition):
        store.signed_fse("F2", PS, n, b"x")  # reuse
    m = store.next_fse_number(PS)
    with pytest.raises(DuplicateRecord):
        store.signed_fse("F1", PS, m, b"x")  # same FSE id twice
    store.abandon_fse_number(PS, m, "card_removed")
    with pytest.raises(BadTransition):
        store.signed_fse("F3", PS, m, b"x")  # skipped numbers stay skipped
    states = {s.number: (s.state, s.reason) for s in store.numbering(PS)}
    assert states == {1: ("used", None), 2: ("skipped", "card_removed")}


def test_failed_signature_commit_leaves_nothing_behind(store):
    store.load_fse_range("R1", PS, 1, 50)
    store.unlock(store.test_proof)
    n = store.next_fse_number(PS)
    with pytest.raises(BadTransition):
        store.signed_fse("F1", PS, n, b"x", invoice_id="NO-SUCH-INVOICE")
    assert store.list_fses() == []
    assert store.numbering(PS)[0].state == "reserved"
    store.signed_fse("F1", PS, n, b"x")  # the reservation is still usable


def test_reservation_left_by_a_crash_becomes_recorded_skip(db_path, office, clock, wall):
    s, proof = open_provisioned(db_path, office, clock=clock, wall_clock=wall)
    s.load_fse_range("R1", PS, 1, 50)
    s.next_fse_number(PS)
    s._conn.close()  # no clean shutdown
    s2 = Store.open(db_path, clock=clock, wall_clock=wall)
    assert [(n.number, n.state, n.reason) for n in s2.numbering(PS)] == [
        (1, "skipped", "interrupted_before_signature")]
    assert s2.next_fse_number(PS) == 2
    s2.close()


def test_loaded_invoice_can_be_reloaded_or_withdrawn_until_used(store):
    store.load_fse_range("R1", PS, 1, 50)
    put_invoice(store, "INV-1", PS, b"v1")
    put_invoice(store, "INV-1", PS, b"v2")
    put_invoice(store, "INV-2", PS, b"other")
    store.unlock(store.test_proof)
    assert store.get_invoice("INV-1") == b"v2"
    sign(store, "F1", invoice_id="INV-1")
    with pytest.raises(BadTransition):
        put_invoice(store, "INV-1", PS, b"v3")
    with pytest.raises(BadTransition):
        store.delete_record("invoice", "INV-1")
    store.delete_record("invoice", "INV-2")
    assert [r.record_id for r in store.list_records("invoice")] == ["INV-1"]


def test_bad_ids_and_codes_are_refused(store):
    with pytest.raises(StoreUsageError) as err:
        put_invoice(store, "DUPONT Jean", PS, b"x")
    assert err.value.code == "store_bad_id"
    with pytest.raises(StoreUsageError):
        store.add_trace("Sign FSE for DUPONT", 0.1, "ok")
    store.add_trace("fse.sign", 0.25, "ok")
    assert [(t.operation, t.duration_s, t.outcome) for t in store.traces()] == [("fse.sign", 0.25, "ok")]


def test_the_lifecycle_tables_have_ends_and_refuse_what_they_lack(store):
    from firmware.store.lifecycle import (
        FSE_TRANSITIONS,
        NUMBER_TRANSITIONS,
        FseStatus,
        NumberStatus,
    )

    assert not [k for k in FSE_TRANSITIONS if k[0] is FseStatus.REMOVED]
    assert not [k for k in NUMBER_TRANSITIONS if k[0] in (NumberStatus.USED, NumberStatus.SKIPPED)]
    store.load_fse_range("R1", PS, 1, 5)
    store.unlock(store.test_proof)
    sign(store, "F1")
    store.offer("F1")
    store.confirm_import("F1", "ACK-1")
    with pytest.raises(BadTransition) as err:
        store.offer("F1")  # (imported, offer) is not in the table
    assert err.value.code == "store_bad_transition"
    info = store.fse_info("F1")
    assert (info.status, info.import_ack) == (FseStatus.IMPORTED, "ACK-1")  # nothing written
    assert info.status == "imported"  # the enum still compares as the stored text
