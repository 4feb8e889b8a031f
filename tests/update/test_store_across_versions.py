"""Unsent FSEs survive an update that migrates the store's schema and a forced
rollback: the new version on trial leaves the schema alone, the previous version
opens the same database after the rollback, and the migration runs only once the new
version is confirmed (after which the old schema's firmware refuses the store)."""

from __future__ import annotations

import pytest

from firmware.store import Store
from firmware.store.errors import StoreTooNew
from firmware.store.schema import MIGRATIONS
from firmware.update.slots import SlotInfo, confirm, factory_state, installed, mark_pending, reject
from firmware.update.slots import boot as boot_slot

from .helpers import slot_info
from .store_fixture import PS, read_fses, store_with_fses

# the next version's schema: a new column and a new table (docs/store.md)
V_NEXT = MIGRATIONS + (("ALTER TABLE fses ADD COLUMN exported_at REAL",
                        "CREATE TABLE notes (note_id INTEGER PRIMARY KEY, text TEXT)"),)


def test_schema_update_with_fses_waiting_then_forced_rollback(tmp_path):
    db = str(tmp_path / "unit.db")
    fses, proof = store_with_fses(db)
    state = installed(factory_state(SlotInfo("0.1.0", "11" * 32)), "b",
                      SlotInfo("0.2.0", "22" * 32))
    slot, state = boot_slot(mark_pending(state, bytes.fromhex("22" * 32), "a"))
    assert slot == "b" and state.trying == "b"

    # the new version on trial: its store opens, un-migrated, FSEs readable
    trial = Store.open(db, migrations=V_NEXT, migrate=False)
    assert (trial.schema_version, trial.pending_migrations) == (len(MIGRATIONS), 1)
    trial.unlock(proof)
    assert {f.fse_id for f in trial.list_fses()} == set(fses)
    trial.close()

    # its health check fails: forced rollback, the previous version opens the same store
    state = reject(state, "health: display")
    slot, state = boot_slot(state)
    assert slot == "a" and not slot_info(state, "b").bootable
    assert read_fses(db, proof) == fses

    # installed again and confirmed this time: only now the schema moves on
    state = installed(state, "b", SlotInfo("0.2.0", "22" * 32))
    slot, state = boot_slot(mark_pending(state, bytes.fromhex("22" * 32), "a"))
    trial = Store.open(db, migrations=V_NEXT, migrate=False)
    state = confirm(state)
    assert trial.migrate() == len(V_NEXT) and trial.pending_migrations == 0
    trial.unlock(proof)
    n = trial.next_fse_number(PS)
    trial.signed_fse("F-after", PS, n, b"cose-after")
    trial.close()
    assert state.primary == "b"
    assert read_fses(db, proof, migrations=V_NEXT) == {**fses, "F-after": b"cose-after"}
    # the old firmware cannot open a store it does not know: a test boot of it fails its
    # health check (the store does not open) and rolls back to the confirmed version
    with pytest.raises(StoreTooNew):
        Store.open(db)


def test_a_new_store_is_created_at_the_current_schema_even_on_trial(tmp_path):
    store = Store.open(str(tmp_path / "fresh.db"), migrations=V_NEXT, migrate=False)
    assert store.schema_version == len(V_NEXT) and store.pending_migrations == 0
    store.close()
