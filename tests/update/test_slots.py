"""The A/B slot decisions (sans-I/O): attempts, confirm, reject, what may be written."""

from __future__ import annotations

import pytest

from firmware.update.slots import (
    BOOT_ATTEMPTS,
    SlotError,
    SlotInfo,
    boot,
    confirm,
    erase,
    factory_state,
    install_target,
    installed,
    mark_pending,
)

from .helpers import slot_info

NEW = SlotInfo("0.2.0", "22" * 32)


def pending_b():
    state = installed(factory_state(SlotInfo("0.1.0", "11" * 32)), "b", NEW)
    return mark_pending(state, bytes.fromhex(NEW.hash), "a")


def test_a_trial_gets_three_boots_then_the_primary_runs_again():
    state = pending_b()
    booted = []
    for _ in range(BOOT_ATTEMPTS + 1):  # each boot crashes before its health check
        slot, state = boot(state)
        booted.append(slot)
    assert BOOT_ATTEMPTS == 3 and booted == ["b", "b", "b", "a"]
    assert state.trying is None and state.primary == "a" and not slot_info(state, "b").bootable
    assert state.last == "rolled_back b boot_attempts"
    assert boot(state)[0] == "a"  # and stays there
    with pytest.raises(SlotError) as err:  # testing it again needs a new upload
        mark_pending(state, bytes.fromhex(NEW.hash), "a")
    assert err.value.code == "slot.not_bootable"


def test_confirm_makes_the_trial_the_primary():
    slot, state = boot(pending_b())
    state = confirm(state)
    assert (state.primary, state.trying, boot(state)[0]) == ("b", None, "b")
    assert slot_info(state, "a").bootable  # the old version stays installed


def test_the_running_slot_and_the_fallback_are_never_written():
    assert install_target(factory_state(SlotInfo("0.1.0", "11" * 32)), "a") == "b"
    slot, trying = boot(pending_b())
    with pytest.raises(SlotError) as err:  # b runs on trial: a is its fallback
        install_target(trying, "b")
    assert err.value.code == "slot.on_trial"
    for target in ("a", "b"):
        with pytest.raises(SlotError) as err:
            erase(trying, target, "b")
        assert err.value.code == "slot.in_use"
    with pytest.raises(SlotError) as err:
        mark_pending(trying, bytes.fromhex("11" * 32), "a")
    assert err.value.code == "slot.test_running"


def test_going_back_to_the_older_slot_needs_the_technician_flag(tmp_path):
    from firmware.update.bundle import BundleError, builtin_keys
    from firmware.update.service import UpdateService
    from firmware.update.slots import SlotStore

    slots = SlotStore(tmp_path / "update", SlotInfo("0.1.0", "11" * 32))
    (slots.slot_dir("b") / "site").mkdir(parents=True)
    slot, state = boot(pending_b())
    slots.save(confirm(state))  # 0.2.0 in b is the confirmed, running version
    old_hash = bytes.fromhex("11" * 32)
    with pytest.raises(BundleError) as err:
        UpdateService(slots, "b", builtin_keys(), board="sim").test(old_hash)
    assert err.value.code == "bundle.downgrade" and slots.load().pending is None
    technician = UpdateService(slots, "b", builtin_keys(), board="sim", allow_downgrade=True)
    assert technician.test(old_hash).pending == "a"
