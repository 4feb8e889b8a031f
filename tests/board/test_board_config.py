"""Board configuration: CLI > TLA_BOARD > unit.toml > default sim; bad keys and
types are named with their file."""

from __future__ import annotations

import pytest

import board.config
from board import build
from board.config import DEFAULT_CONFIG, BoardConfig, ConfigError, load_config


def write(tmp_path, text: str):
    path = tmp_path / "unit.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_default_is_the_sim_board_and_the_default_file_may_be_absent(tmp_path, monkeypatch):
    monkeypatch.setattr(board.config, "DEFAULT_CONFIG", str(tmp_path / "absent.toml"))
    assert load_config(env={}) == BoardConfig(board="sim")


def test_the_unit_config_file_is_read_by_default(tmp_path, monkeypatch):
    assert DEFAULT_CONFIG == "/etc/opentla/unit.toml"
    monkeypatch.setattr(board.config, "DEFAULT_CONFIG", write(tmp_path, 'board = "pi"\n'))
    assert load_config(env={}).board == "pi"


def test_precedence_cli_over_env_over_file(tmp_path):
    path = write(tmp_path, 'board = "pc"\nlink = "/tmp/from-file"\ni2c_bus = 3\n')
    from_file = load_config(config_path=path, env={})
    assert (from_file.board, from_file.link, from_file.i2c_bus) == ("pc", "/tmp/from-file", 3)
    from_env = load_config(env={"TLA_CONFIG": path, "TLA_BOARD": "pi"})
    assert (from_env.board, from_env.link) == ("pi", "/tmp/from-file")
    from_cli = load_config(board="sim", config_path=path, env={"TLA_BOARD": "pi"},
                           link="/tmp/from-cli", state_dir=None)
    assert (from_cli.board, from_cli.link, from_cli.i2c_bus) == ("sim", "/tmp/from-cli", 3)
    assert from_cli.state_dir == ""  # None: not given on the command line


@pytest.mark.parametrize("text, message", [
    ('bord = "pi"\n', "unknown key 'bord'"),
    ('board = "arduino"\n', "board must be one of sim, pi, pc, not 'arduino'"),
    ('i2c_bus = "one"\n', "key 'i2c_bus' has the wrong type ('one')"),
    ('link_baudrate = "fast"\n', "key 'link_baudrate' has the wrong type ('fast')"),
    ('board = \n', "not valid TOML"),
])
def test_a_bad_file_is_refused_naming_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(config_path=path, env={})
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value)


def test_a_named_config_file_must_exist(tmp_path):
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(ConfigError) as exc:
        load_config(env={"TLA_CONFIG": missing})
    assert str(exc.value) == f"{missing}: config file not found"


def test_a_bad_board_in_the_environment_names_it():
    with pytest.raises(ConfigError) as exc:
        load_config(env={"TLA_BOARD": "pie", "TLA_CONFIG": ""}, config_path=None)
    assert str(exc.value).startswith("TLA_BOARD: board must be one of")


def test_state_dir_defaults_per_board(tmp_path):
    assert str(BoardConfig(board="pi").state_path()) == "/var/lib/opentla"
    assert BoardConfig(board="sim").state_path().parts[-3:] == ("state", "opentla", "sim")
    assert str(BoardConfig(state_dir=str(tmp_path)).state_path()) == str(tmp_path)


def test_the_pc_board_needs_its_reader_names():
    with pytest.raises(ConfigError) as exc:
        build(BoardConfig(board="pc", cps_reader="ACS"))
    assert "needs vitale_reader" in str(exc.value) and "cps_reader" not in str(exc.value)
