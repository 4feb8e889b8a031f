"""The sim board's link on an existing character device (what the QEMU image runs:
``link = "/dev/virtio-ports/opentla.link"``, docs/image.md). A pty's slave side stands
in for the device here; the test holds the master side, as QEMU holds the host side."""

from __future__ import annotations

import os
import select
import time

import pytest

from board import build
from board.config import ConfigError, load_config
from firmware.parts import Key, LineUp, Received


def _events(port, want, rounds=50):
    got = []
    for _ in range(rounds):
        got += port.poll(0.05)
        if any(isinstance(e, want) for e in got):
            break
    return got


def test_sim_board_opens_a_character_device_named_by_link_and_carries_bytes(tmp_path):
    master, slave = os.openpty()
    device = os.ttyname(slave)
    os.close(slave)
    board = build(load_config(board="sim", env={}, state_dir=str(tmp_path), link=device))
    try:
        assert board.link.path == device
        assert not (tmp_path / "link").exists()  # no symlink made: the device is the link
        os.write(master, b"\x00\x01hello")
        got = _events(board.link, Received)
        assert any(isinstance(e, LineUp) for e in got)
        assert b"".join(e.data for e in got if isinstance(e, Received)) == b"\x00\x01hello"
        assert board.link.write(b"answer\n") == 7
        select.select([master], [], [], 2.0)
        assert os.read(master, 100) == b"answer\n"  # raw mode: no newline translation
    finally:
        board.close()
        os.close(master)


def test_sim_board_link_that_is_no_device_is_still_a_symlink_to_its_pty(tmp_path):
    path = tmp_path / "unit-link"
    board = build(load_config(board="sim", env={}, state_dir=str(tmp_path), link=str(path)))
    try:
        assert path.is_symlink()
        assert os.readlink(path) == board.link.path
        assert board.link.path.startswith("/dev/pts/")
    finally:
        board.close()
    assert not path.is_symlink()


def test_sim_board_reads_key_names_from_the_file_named_by_keys(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("valider\n\n5\nannuler\n", encoding="utf-8")
    board = build(load_config(board="sim", env={}, state_dir=str(tmp_path), keys=str(keys)))
    try:
        pressed = []
        for _ in range(100):
            pressed += [e.key for e in board.keypad.events() if e.down]
            if len(pressed) == 3:
                break
            time.sleep(0.02)
        assert pressed == [Key.VALIDER, Key.D5, Key.ANNULER]
    finally:
        board.close()


def test_sim_board_keys_naming_no_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="keys must be"):
        build(load_config(board="sim", env={}, state_dir=str(tmp_path),
                          keys=str(tmp_path / "missing")))
