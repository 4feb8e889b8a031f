"""``tla update`` against the whole simulated unit (``UnitApp`` on the sim board, started
again after each reset as ``tla-unit run`` does; tests/update/sim_unit.py): the bundle
``tla bundle build`` made boots on trial, passes its health check, is confirmed; the
unit then reports the version and the seal the bundle's manifest gives, which
``tla seal add --bundle`` records. A failing health check rolls back and exit 1."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from update.sim_unit import SimUnitLoop

from firmware.app import UnitApp
from firmware.office_link.events import PairingRequested
from firmware.parts import Key
from firmware.update import bundle as fmt
from host_tools import bundle_build, office_lots
from host_tools.cli import main as tla
from host_tools.office_db import OfficeDb

from .conftest import VERSION, Built


def cli(tmp_path, *args) -> int:
    return tla(["--keys", str(tmp_path / "keys.json"), "--timeout", "5", *args])


def pairing_unit(broken_trial: bool = False):
    """A unit whose person presses Valider at a pairing code; ``broken_trial``: the new
    version's display does not answer, so its health check fails."""
    def make(board, state):
        def on_event(action) -> None:
            if isinstance(action, PairingRequested):
                board.keypad.press(Key.VALIDER)

        app = UnitApp(board, state, on_event=on_event)
        if broken_trial and app.updates.trial:
            def broken(image):
                raise OSError("display does not answer")
            board.display.show = broken
        return app
    return make


@pytest.fixture
def paired(tmp_path):
    def start(**options) -> SimUnitLoop:
        unit = SimUnitLoop(tmp_path / "unit", make=pairing_unit(**options)).__enter__()
        unit.wait_started(1)
        assert cli(tmp_path, "pair", "--port", str(unit.link), "--wait", "30") == 0
        units.append(unit)
        return unit

    units: list[SimUnitLoop] = []
    yield start
    for unit in units:
        unit.__exit__(None, None, None)


@pytest.fixture
def changed(our_wheel, tmp_path) -> Path:
    """A bundle of the tree's wheel with one more firmware file: other code, other seal."""
    wheel = tmp_path / our_wheel.name
    wheel.write_bytes(our_wheel.read_bytes())
    with zipfile.ZipFile(wheel, "a") as z:
        z.writestr("firmware/release.txt", f"{VERSION}\n")
    out = tmp_path / "changed.bundle"
    bundle_build.build_bundle(VERSION, out, boards=("sim",), wheel=wheel)
    return out


def test_tla_update_puts_a_bundle_on_the_unit_which_then_runs_its_seal(paired, changed,
                                                                       tmp_path, capsys):
    unit = paired()
    factory_seal = unit.app.unit.seal.hex()
    capsys.readouterr()
    built = Built(changed, "")
    assert cli(tmp_path, "update", str(unit.link), str(built.path)) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith(f"now runs {VERSION}, confirmed.")
    app = unit.wait_started(2)
    assert app.updates.slot == "b" and app.unit.firmware == VERSION
    manifest = fmt.verify_bundle(built.path.read_bytes(), fmt.builtin_keys()).manifest
    assert cli(tmp_path, "info", "--port", str(unit.link), "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["fw"] == VERSION and info["seal"] == manifest.seals["sim"] != factory_seal
    # the office's reference seal for that version is the one the unit's FSEs now carry
    db = tmp_path / "office.db"
    OfficeDb(db).close()
    assert cli(tmp_path, "seal", "--db", str(db), "add", "--bundle", str(built.path),
               "--board", "sim") == 0
    with OfficeDb(db) as office:
        assert office_lots.reference_seals(office) == {VERSION: bytes.fromhex(info["seal"])}


def test_a_trial_that_fails_its_health_check_rolls_back_and_tla_update_says_so(paired, built,
                                                                               tmp_path,
                                                                               capsys):
    unit = paired(broken_trial=True)
    capsys.readouterr()
    assert cli(tmp_path, "update", str(unit.link), str(built.path)) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: the unit rolled back to ") and err.endswith(
        "[update.rolled_back]")
    app = unit.wait_started(3)
    assert [s.updates.slot for s in unit.starts] == ["a", "b", "a"]
    assert app.unit.firmware != VERSION
