"""`tla-unit run` with ``exec_slots = true`` (what the Pi does) runs the booted slot's own
code: it execs itself with the slot's unpacked wheels first on the path, health-checks
the trial there and confirms it."""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import sys
import threading

from smpclient import SMPClient
from smpclient.generics import success
from smpclient.requests.image_management import ImageStatesRead
from smpclient.transport.serial import SMPSerialTransport

from firmware.unit.seal import FIRMWARE_ROOTS
from firmware.update.runtime import UnitUpdates

from .helpers import ROOT, make_bundle, make_tree_wheel, slot_info


def test_the_launcher_execs_the_slot_code_and_confirms_it(tmp_path):
    from board.sim.parts import SEALED

    state, link = tmp_path / "unit", tmp_path / "link"
    data = make_bundle(tmp_path, "0.2.0", wheel=make_tree_wheel("0.2.0")).read_bytes()
    updates = UnitUpdates.start(state, FIRMWARE_ROOTS + SEALED, board="sim")
    updates.service.upload_chunk(0, data, length=len(data))
    updates.service.test(bytes.fromhex(slot_info(updates.service.state(), "b").hash))
    config = tmp_path / "unit.toml"
    config.write_text('board = "sim"\nexec_slots = true\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "board.main", "run", "--config", str(config), "--state",
         str(state), "--link", str(link)], cwd=ROOT, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    def pump() -> None:
        for line in proc.stderr or ():
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        while not any("update_confirmed slot=b version=0.2.0" in x for x in seen):
            seen.append(lines.get(timeout=60))
        running = next(x for x in seen if "running board=sim" in x)
        assert "slot=b version=0.2.0" in running
        assert f"code={state / 'update' / 'slot-b' / 'site'}" in running  # the slot's own code
        assert any("exec_slot slot=b" in x for x in seen)
        seal = slot_info(updates.service.state(), "b").seal  # computed over the slot at install
        assert any("unit_started serial=" in x and f"seal={seal[:16]}" in x for x in seen)

        async def read():
            async with SMPClient(SMPSerialTransport(), str(link), timeout_s=10) as client:
                return await client.request(ImageStatesRead())

        r = asyncio.run(asyncio.wait_for(read(), 60))
        assert success(r)
        b = next(i for i in r.images if i.slot == 1)
        assert b.version == "0.2.0" and b.active and b.confirmed
    finally:
        proc.terminate()
        proc.wait(30)
