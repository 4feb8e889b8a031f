"""Budget: loads refused cleanly when full, signatures never refused."""

from __future__ import annotations

import logging
import os

import pytest

from firmware.store import Store, StoreFull, UnknownRecord

from .helpers import load_batch, open_provisioned, put_invoice, put_patient

PS = "10101010101"
BUDGET = 1024 * 1024
RESERVE = 128 * 1024


def test_loads_stop_at_the_reserve_and_signatures_still_fit(db_path, office, clock, wall, caplog):
    caplog.set_level(logging.WARNING)
    store, proof = open_provisioned(db_path, office, clock=clock, wall_clock=wall,
                                    budget_bytes=BUDGET, reserve_bytes=RESERVE)
    store.load_fse_range("R1", PS, 1, 999)
    loaded = 0
    with pytest.raises(StoreFull) as err:
        for i in range(10_000):
            put_invoice(store, f"INV-{i}", PS, os.urandom(1500))
            loaded += 1
    assert err.value.message_fr == "Mémoire pleine"
    usage = store.usage()
    assert usage.invoices == loaded
    assert usage.warning and usage.fraction >= 0.8
    assert any("store_usage_high" in r.getMessage() for r in caplog.records)
    # by hand: 1 MiB - 128 KiB = 896 KiB for loads; each invoice is 1,549 sealed
    # bytes (1 + 32 enc + 1500 + 16 tag), two rows per 4 KiB page at best
    assert 896 * 1024 // 4096 * 2 * 0.8 < loaded <= 896 * 1024 // 1549
    assert usage.used_bytes <= BUDGET - RESERVE
    # the refused load changed nothing
    with pytest.raises(UnknownRecord):
        store.record_info("invoice", f"INV-{loaded}")
    store.unlock(proof)
    for k in range(25):  # 25 x 4 KiB FSEs: 100 KiB, inside the reserve
        n = store.next_fse_number(PS)
        store.signed_fse(f"F{k}", PS, n, os.urandom(4096))
    assert len(store.list_fses()) == 25
    with pytest.raises(StoreFull):
        put_patient(store, "PAT-1", b"x" * 100)
    store.close()


def test_hard_budget_gives_a_clean_error_and_keeps_data(db_path, office, clock, wall):
    store, proof = open_provisioned(db_path, office, clock=clock, wall_clock=wall,
                                    budget_bytes=BUDGET, reserve_bytes=RESERVE)
    store.load_fse_range("R1", PS, 1, 9999)
    store.unlock(proof)
    done = 0
    with pytest.raises(StoreFull):
        for k in range(1000):
            n = store.next_fse_number(PS)
            store.signed_fse(f"F{k}", PS, n, os.urandom(8000))
            done += 1
    assert done > 50
    store.close()
    again = Store.open(db_path, clock=clock, wall_clock=wall, budget_bytes=BUDGET)
    assert len(again.list_fses()) == done
    again.unlock(proof)
    assert len(again.get_fse("F0")) == 8000
    again.close()


def test_batch_load_is_all_or_nothing(db_path, office, clock, wall):
    store, proof = open_provisioned(db_path, office, clock=clock, wall_clock=wall,
                                    budget_bytes=BUDGET, reserve_bytes=RESERVE)
    ok = [("invoice", f"INV-{i}", PS, b"x" * 100) for i in range(50)]
    assert load_batch(store, ok) == 50
    too_big = [("patient", f"PAT-{i}", None, os.urandom(4000)) for i in range(300)]
    with pytest.raises(StoreFull):
        load_batch(store, too_big)
    store.unlock(proof)
    assert store.list_records("patient") == []
    assert len(store.list_records("invoice")) == 50
    store.close()


def test_checkpoints_stay_off_the_signature_path(db_path, office, clock, wall):
    store, proof = open_provisioned(db_path, office, clock=clock, wall_clock=wall)
    store.load_fse_range("R1", PS, 1, 9999)
    store.unlock(proof)
    calls = []
    real = store.checkpoint
    store.checkpoint = lambda: (calls.append(os.path.getsize(db_path + "-wal")), real())[1]
    k = 0
    while os.path.getsize(db_path + "-wal") <= 5 * 1024 * 1024:
        n = store.next_fse_number(PS)
        store.signed_fse(f"F{k}", PS, n, os.urandom(3000))
        k += 1
    assert calls == []  # WAL past 4 MiB, yet no signature paid for a checkpoint
    put_invoice(store, "INV-1", PS, b"x")  # the next non-critical write does it
    assert len(calls) == 1 and calls[0] > 4 * 1024 * 1024
    put_invoice(store, "INV-2", PS, b"y")
    assert os.path.getsize(db_path + "-wal") <= 4 * 1024 * 1024  # journal_size_limit
    assert len(calls) == 1
    store.lock()
    assert len(calls) == 2
    store.close()
    again = Store.open(db_path, clock=clock, wall_clock=wall)
    assert len(again.list_fses()) == k
    again.close()
