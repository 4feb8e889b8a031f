"""The seal covers firmware/ plus the chosen board's files (docs/visit.md §Seal);
the expected digests are computed here by hand from the documented rule."""

from __future__ import annotations

import hashlib

import pytest

from board.config import BoardConfig
from board.sim.parts import build as build_sim
from firmware.unit import firmware_seal, sealed_files
from firmware.unit.seal import SealRootError, default_base


def _tree(base):
    """A tiny release: ``app`` plays firmware/, ``drv`` the board package."""
    (base / "app" / "sub").mkdir(parents=True)
    (base / "app" / "a.py").write_bytes(b"x")
    (base / "app" / "B.py").write_bytes(b"")
    (base / "app" / "sub" / "c.json").write_bytes(b"yz")
    (base / "app" / "__pycache__").mkdir()
    (base / "app" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"cache")
    (base / "app" / "sub" / "old.pyc").write_bytes(b"cache")
    (base / "drv" / "pi").mkdir(parents=True)
    (base / "drv" / "__init__.py").write_bytes(b"b")
    (base / "drv" / "pi" / "rtc.py").write_bytes(b"rtc")
    (base / "drv" / "sim").mkdir()
    (base / "drv" / "sim" / "twin.py").write_bytes(b"not run on the pi")
    (base / "tools").mkdir()
    (base / "tools" / "demo.py").write_bytes(b"not run on any unit")


def entry(path: bytes, content: bytes) -> bytes:
    return path + b"\x00" + len(content).to_bytes(8, "big") + content


def test_seal_of_a_small_tree_matches_the_documented_rule(tmp_path):
    _tree(tmp_path)
    # by hand, in UTF-8 byte order: 'a' 0x61 < 'd' 0x64; 'B' 0x42 < 'a' 0x61 < 's' 0x73
    expected = hashlib.sha256(
        entry(b"app/B.py", b"") + entry(b"app/a.py", b"x") + entry(b"app/sub/c.json", b"yz")
        + entry(b"drv/__init__.py", b"b") + entry(b"drv/pi/rtc.py", b"rtc")).digest()
    roots = ("app", "drv/__init__.py", "drv/pi")
    assert sealed_files(roots, tmp_path) == [
        "app/B.py", "app/a.py", "app/sub/c.json", "drv/__init__.py", "drv/pi/rtc.py"]
    assert firmware_seal(roots, tmp_path) == expected


def test_a_root_named_twice_counts_once(tmp_path):
    _tree(tmp_path)
    alone = hashlib.sha256(entry(b"app/B.py", b"") + entry(b"app/a.py", b"x")
                           + entry(b"app/sub/c.json", b"yz")).digest()
    assert firmware_seal(("app",), tmp_path) == alone
    assert firmware_seal(("app", "app/a.py"), tmp_path) == alone


@pytest.mark.parametrize("root", ["/etc", "../x", "drv/missing", ""])
def test_a_bad_seal_root_is_an_error_not_skipped(tmp_path, root):
    _tree(tmp_path)
    with pytest.raises(SealRootError) as exc:
        firmware_seal(("app", root), tmp_path)
    assert repr(root) in str(exc.value)


def test_the_sim_board_seals_its_own_files_not_the_demo_nor_host_tools(tmp_path):
    board = build_sim(BoardConfig(board="sim", state_dir=str(tmp_path)))
    try:
        files = sealed_files(("firmware", *board.sealed))
    finally:
        board.close()
    assert "board/sim/slot.py" in files and "board/__init__.py" in files
    assert "firmware/app.py" in files and "board/pi/fuel_gauge.py" in files
    assert not [f for f in files if f.startswith(("host_tools/", "board/pi/rtc", "tests/"))]
    assert (default_base() / "firmware").is_dir()


RUN_AND_LIST = r"""
import json, os, sys
from pathlib import Path
from board.main import main
from firmware.app import UnitApp
import firmware.app as app_module
from firmware.unit import sealed_files

seen = {}
real_run = UnitApp.run
def run(self, stop, **kwargs):  # started: list what is loaded, then stop at once
    base = Path(app_module.__file__).resolve().parents[1]
    loaded = sorted(Path(m.__file__).resolve().relative_to(base).as_posix()
                    for m in list(sys.modules.values())
                    if getattr(m, "__file__", None) and
                    Path(m.__file__).resolve().is_relative_to(base))
    seen["loaded"] = [p for p in loaded if p.startswith(("firmware/", "board/", "host_tools/"))]
    seen["sealed"] = sealed_files(("firmware", *self.board.sealed))
    stop.set()
    real_run(self, stop, **kwargs)
UnitApp.run = run
rc = main(sys.argv[1:])
print(json.dumps(seen))
sys.exit(rc)
"""


@pytest.mark.parametrize("kind", ["sim", "pi"])
def test_the_seal_covers_every_module_the_running_unit_loaded(tmp_path, kind):
    """`tla-unit run` on each board: every firmware/board module imported by the
    time the main loop starts is a sealed file, and no office tool is loaded."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parents[2]
    master, slave = os.openpty()
    try:
        config = tmp_path / "unit.toml"
        config.write_text(f'board = "{kind}"\nstate_dir = "{tmp_path / "state"}"\n'
                          + ('i2c_bus = "sim"\ncard_uart = "loop://"\n'
                             f'link = "{os.ttyname(slave)}"\n' if kind == "pi" else ""),
                          encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-c", RUN_AND_LIST, "run", "--config", str(config)], cwd=root,
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(root), "GPIOZERO_PIN_FACTORY": "mock",
                 "TLA_BOARD": ""})
    finally:
        os.close(master)
        os.close(slave)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["loaded"] and not [p for p in seen["loaded"] if p.startswith("host_tools/")]
    assert set(seen["loaded"]) <= set(seen["sealed"]), \
        set(seen["loaded"]) - set(seen["sealed"])


def test_the_unit_hashes_its_sealed_files_once_at_start(tmp_path, monkeypatch):
    """The boot decision (UnitUpdates.start) and the Unit seal the same running tree:
    the unit reuses the first digest rather than reading every file again (boot time,
    docs/image.md §Boot time), and that digest is the tree's seal."""
    import firmware.unit.unit as unit_module
    import firmware.update.runtime as runtime_module
    from firmware.app import UnitApp

    calls: list[tuple[tuple[str, ...], object]] = []

    def counting_seal(roots, base=None):
        calls.append((tuple(roots), base))
        return firmware_seal(roots, base)

    monkeypatch.setattr(runtime_module, "firmware_seal", counting_seal)
    monkeypatch.setattr(unit_module, "firmware_seal", counting_seal)
    board = build_sim(BoardConfig(board="sim", state_dir=str(tmp_path)))
    try:
        app = UnitApp(board, tmp_path)
        roots = ("firmware", *board.sealed)
        assert calls == [(roots, None)]
        assert app.unit.seal == firmware_seal(roots)
    finally:
        board.close()
