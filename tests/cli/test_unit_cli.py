"""``tla-unit``: exit codes in --help, bad --state/--script/--link refused with exit code 2
and one line, and the sim's command-line mistakes answered, not raised."""

from __future__ import annotations

import pytest

from board.main import main
from board.sim.commands import execute, run_sim
from board.sim.unit import SimUnitError


@pytest.mark.parametrize("words", [[], ["demo"], ["sim"], ["cards"]])
def test_every_help_documents_the_exit_codes(words, capsys):
    with pytest.raises(SystemExit) as info:
        main([*words, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "\n  0 " in out and "\n  2 " in out


@pytest.mark.parametrize("command", ["demo", "sim"])
def test_state_that_is_a_file_is_refused(command, tmp_path, capsys):
    f = tmp_path / "state"
    f.write_text("")
    with pytest.raises(SystemExit) as info:
        main([command, "--state", str(f)])
    assert info.value.code == 2
    assert f"argument --state: {f} exists and is not a directory" in capsys.readouterr().err


def test_missing_script_is_refused_before_the_unit_starts(tmp_path):
    lines: list[str] = []
    assert run_sim(script=tmp_path / "none.txt", stdin=[], print_=lines.append) == 2
    assert lines == [f"error: cannot read script {tmp_path / 'none.txt'}: "
                     "No such file or directory"]


def test_link_that_is_a_regular_file_is_not_replaced(tmp_path):
    link = tmp_path / "tla"
    link.write_text("keep me")
    lines: list[str] = []
    assert run_sim(link=link, stdin=[], print_=lines.append) == 2
    assert lines == [f"error: link {link} exists and is not a symlink: not replaced"]
    assert link.read_text() == "keep me"


def test_link_in_a_missing_directory_stops_the_unit_cleanly(tmp_path):
    link = tmp_path / "no-dir" / "tla"
    lines: list[str] = []
    assert run_sim(link=link, state=tmp_path / "unit", stdin=[], print_=lines.append) == 2
    assert lines[0] == f"error: cannot create link {link}: No such file or directory"
    assert lines[-1] == "stopped"


@pytest.mark.parametrize("line, message", [
    ("battery 150", "battery must be 0..100 percent, not 150"),
    ("battery -1", "battery must be 0..100 percent, not -1"),
    ('insert "ps cps_medecin', "bad quoting: No closing quotation"),
])
def test_sim_command_mistakes_are_unit_errors(line, message):
    with pytest.raises(SimUnitError) as info:
        execute(None, line)  # refused before the unit is touched
    assert str(info.value) == message
