"""A power cut at every file operation of an update's install, switch and confirm
(MCUboot's simulator interrupts every flash operation in turn): after each, the unit
starts on a good version -- every file of the slot it boots is there -- and every
unsent FSE is still in the store. The runs and their outcomes are printed.

The default suite cuts every operation of an update whose wheel holds 6 files (36
operations); ``TLA_UPDATE_CUTS=full`` does it with a wheel of the whole ``firmware``
and ``board`` tree (hundreds of files, one cut per file written)."""

from __future__ import annotations

import collections
import io
import os
import shutil
import zipfile

import pytest

from firmware.update.fsops import CuttingFs, PowerCut, RealFs
from firmware.update.slots import SlotInfo, SlotStore, confirm, mark_pending

from .helpers import make_tree_wheel, make_wheel
from .store_fixture import read_fses, store_with_fses

FACTORY = SlotInfo("0.1.0", "11" * 32)
NEW_HASH = bytes.fromhex("22" * 32)
FULL = os.environ.get("TLA_UPDATE_CUTS") == "full"
WHEEL = make_tree_wheel("0.2.0") if FULL else make_wheel(
    "0.2.0", {f"firmware/part{k}.py": f"X = {k}\n" * 50 for k in range(6)})


def update_flow(root, fs) -> None:
    """Install 0.2.0 into slot b, test it, boot it (trial), confirm it, boot again."""
    name, wheel = WHEEL
    slots = SlotStore(root, FACTORY, fs)
    slots.install("b", b"image-bytes" * 100, "0.2.0", NEW_HASH, {name: wheel})
    slots.save(mark_pending(slots.load(), NEW_HASH, "a"))
    slot, state = slots.boot()
    assert slot == "b" and state.trying == "b"
    slots.save(confirm(slots.load()))  # the health check passed
    assert slots.boot()[0] == "b"


def restart(root) -> tuple[str, str]:
    """What the unit does after the power comes back: boot, and confirm a trial (its
    health check passes); returns (slot, version) it ends up running."""
    slots = SlotStore(root, FACTORY, RealFs())
    for _ in range(5):
        slot, state = slots.boot()
        info = state.info(slot)
        assert info is not None and info.bootable
        if not info.factory:  # a slot it boots holds the whole wheel
            site = slots.slot_dir(slot) / "site"
            wheel = zipfile.ZipFile(io.BytesIO(WHEEL[1]))
            for member in wheel.namelist():
                assert (site / member).read_bytes() == wheel.read(member), member
        if state.trying == slot:
            slots.save(confirm(state))
            continue
        return slot, info.version
    raise AssertionError("the unit never settled")


def test_power_cut_at_every_step_of_install_switch_and_confirm(tmp_path, capsys):
    golden = tmp_path / "golden"
    golden.mkdir()
    fses, proof = store_with_fses(str(golden / "unit.db"))
    counting = CuttingFs()
    probe = tmp_path / "probe"
    shutil.copytree(golden, probe)
    update_flow(probe / "update", counting)
    total = counting.count
    assert total > 20  # the flow has writes, renames and removals to cut
    cuts = range(1, total + 1)
    outcomes: collections.Counter[str] = collections.Counter()
    for cut in cuts:
        run = tmp_path / f"run{cut}"
        shutil.copytree(golden, run)
        fs = CuttingFs(cut)
        with pytest.raises(PowerCut):
            update_flow(run / "update", fs)
        slot, version = restart(run / "update")
        assert version in ("0.1.0", "0.2.0")
        assert read_fses(str(run / "unit.db"), proof) == fses  # every unsent FSE, intact
        outcomes[f"{version} in slot {slot}"] += 1
        shutil.rmtree(run)
    with capsys.disabled():
        print(f"\npower cuts: {len(cuts)} runs of {total} operations "
              f"({'whole tree wheel' if FULL else '6-file wheel'}): "
              + ", ".join(f"{n} started {what}" for what, n in sorted(outcomes.items())))
    assert sum(outcomes.values()) == len(cuts)
    assert outcomes["0.1.0 in slot a"] > 0 and outcomes["0.2.0 in slot b"] > 0
