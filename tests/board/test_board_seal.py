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
