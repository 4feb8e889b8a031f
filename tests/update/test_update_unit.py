"""A whole simulated unit updated through the image group: the new version boots on
trial, passes its health check and is confirmed; its FSEs carry the new seal; a failing
health check rolls back by itself; the real smpmgr drives it in update mode."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest
from smpclient import SMPClient
from smpclient.generics import success
from smpclient.requests.image_management import ImageStatesRead
from smpclient.transport.serial import SMPSerialTransport

from firmware.app import UnitApp

from .helpers import VENV_BIN, make_bundle, make_tree_wheel
from .sim_unit import SimUnitLoop


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tree-bundles")
    return {v: make_bundle(tmp, v, wheel=make_tree_wheel(v)) for v in ("0.2.0", "0.3.0")}


def smpmgr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "smpmgr"), *args], capture_output=True, text=True,
                          timeout=120, env={"COLUMNS": "200", "PATH": str(VENV_BIN),
                                            "TERM": "dumb"})


def state_read(path) -> list:
    async def go():
        async with SMPClient(SMPSerialTransport(), str(path), timeout_s=10) as client:
            r = await client.request(ImageStatesRead())
            assert success(r)
            return r.images
    return asyncio.run(asyncio.wait_for(go(), 60))


def test_smpmgr_upgrade_in_update_mode_then_state_read_shows_it_confirmed(tmp_path, bundles):
    with SimUnitLoop(tmp_path / "unit") as unit:
        first = unit.wait_started(1)
        factory_seal = first.unit.seal
        assert first.unit.firmware != "0.2.0" and first.updates.slot == "a"
        unit.call(lambda app: app.updates.service.mode.open())
        done = smpmgr("--port", str(unit.link), "--line-buffers", "256", "--timeout", "30", "upgrade", "--slot", "1",
                      str(bundles["0.2.0"]))
        assert done.returncode == 0, done.stdout + done.stderr
        app = unit.wait_started(2)  # smpmgr reset it: the new slot booted on trial, checked
        assert app.updates.slot == "b" and app.unit.firmware == "0.2.0"
        assert app.unit.seal != factory_seal  # the seal follows the running slot
        info = unit.call(lambda app: app.unit.unit_info())  # what group 81 answers
        assert (info.firmware, info.seal) == ("0.2.0", app.unit.seal.hex())
        signer = app.unit.device_signer()  # what goes into every FSE's unit signature
        assert (signer.seal, signer.version) == (app.unit.seal, "0.2.0")
        assert not app.unit.config.migrate and unit.starts[0].unit.config.migrate
        shown = smpmgr("--port", str(unit.link), "image", "state-read")
        assert shown.returncode == 0, shown.stderr
        images = {i.slot: i for i in state_read(unit.link)}
        assert images[1].version == "0.2.0" and images[1].active and images[1].confirmed
        assert images[1].permanent and not images[0].active
        assert "0.2.0" in shown.stdout
    state = json.loads((tmp_path / "unit" / "update" / "state.json").read_text())
    assert state["primary"] == "b" and state["trying"] is None


def test_a_failing_health_check_rolls_back_by_itself(tmp_path, bundles):
    def make(board, state):
        app = UnitApp(board, state)
        if app.updates.trial:  # the new version's display does not answer
            def broken(image):
                raise OSError("display does not answer")
            board.display.show = broken
        return app

    with SimUnitLoop(tmp_path / "unit", make=make) as unit:
        unit.wait_started(1)
        unit.call(lambda app: app.updates.service.mode.open())
        done = smpmgr("--port", str(unit.link), "--line-buffers", "256", "--timeout", "30", "upgrade", "--slot", "1",
                      str(bundles["0.2.0"]))
        assert done.returncode == 0, done.stdout + done.stderr
        app = unit.wait_started(3)  # trial (rolled back by itself), then the old slot again
        assert app.updates.slot == "a" and app.updates.version != "0.2.0"
        assert [s.updates.slot for s in unit.starts] == ["a", "b", "a"]
        images = {i.slot: i for i in state_read(unit.link)}
        assert images[0].active and images[0].confirmed
        assert not images[1].bootable and not images[1].active
    state = json.loads((tmp_path / "unit" / "update" / "state.json").read_text())
    assert state["primary"] == "a" and state["last"].startswith("rolled_back b health: display")


def test_a_new_version_that_crashes_at_start_gets_three_boots_then_rolls_back(tmp_path, bundles):
    def make(board, state):
        app = UnitApp(board, state)
        if app.updates.trial:
            app.close()
            raise RuntimeError("the new version crashes at start")
        return app

    data = bundles["0.2.0"].read_bytes()
    with SimUnitLoop(tmp_path / "unit", make=make) as unit:
        unit.wait_started(1)

        def install_and_test(app):
            service = app.updates.service
            service.upload_chunk(0, data, length=len(data))
            service.test(bytes.fromhex(service.state().slots["b"].hash))
            app.reset_requested = True

        unit.call(install_and_test)
        app = unit.wait_started(2)
        assert app.updates.slot == "a" and len(unit.errors) == 3  # three crashed starts of b
    state = json.loads((tmp_path / "unit" / "update" / "state.json").read_text())
    assert state["last"] == "rolled_back b boot_attempts" and state["primary"] == "a"
