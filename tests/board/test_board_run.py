"""Evidence for `tla-unit run` (issue 10): the unit's main loop on the configured
board answers real clients on its link, the sim board as a user runs it and the
Pi board with its real drivers given fakes by configuration only (gpiozero's
MockFactory, the sim I2C bus, pyserial's loop:// for the card UART, a pty for the
link)."""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from host_tools.cli import main as tla

ROOT = Path(__file__).parents[2]
VENV_BIN = Path(sys.executable).parent


def smpmgr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "smpmgr"), *args], capture_output=True, text=True, timeout=60,
        env={"COLUMNS": "200", "PATH": str(VENV_BIN), "TERM": "dumb"},
    )


class Unit:
    """`python -m board.main run ...` as a subprocess; stderr lines in a queue."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "board.main", "run", *args], cwd=ROOT,
            stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)})
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"unit never logged {text!r}:\n{''.join(self.log)}") from None
            if text in line:
                return line

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def clean_env(tmp_path):
    """No TLA_BOARD from the caller's shell, and a config path that does not exist
    unless a test writes it."""
    return {"TLA_BOARD": "", "TLA_CONFIG": ""}


def test_run_on_the_sim_board_answers_smpmgr_and_tla_info_shows_board_and_seal(
        tmp_path, clean_env, capsys):
    link = tmp_path / "tla0"
    config = tmp_path / "unit.toml"
    config.write_text('keys = "stdin"\n', encoding="utf-8")
    unit = Unit(["--board", "sim", "--state", str(tmp_path / "state"), "--link", str(link)],
                {**clean_env, "TLA_CONFIG": str(config)})
    try:
        unit.wait_for("running board=sim")
        echoed = smpmgr("--port", str(link), "os", "echo", "hi")
        assert echoed.returncode == 0, echoed.stderr
        assert "r='hi'" in echoed.stdout

        def press_valider_when_the_code_shows() -> None:
            unit.wait_for("screen: Appairage PC")
            assert unit.proc.stdin is not None
            unit.proc.stdin.write("valider\n")
            unit.proc.stdin.flush()

        presser = threading.Thread(target=press_valider_when_the_code_shows, daemon=True)
        presser.start()
        keys = str(tmp_path / "host.json")
        assert tla(["--keys", keys, "pair", "--port", str(link), "--name", "Cabinet"]) == 0
        presser.join(30)
        capsys.readouterr()
        assert tla(["--keys", keys, "info", "--json", "--port", str(link)]) == 0
        info = json.loads(capsys.readouterr().out)
    finally:
        code = unit.stop()
    assert code == 0, "".join(unit.log)
    assert info["board"] == "sim" and len(info["seal"]) == 64
    [started] = [line for line in unit.log if "unit_started" in line]
    assert f"seal={info['seal'][:16]}" in started
    assert not link.is_symlink()  # removed on SIGTERM


def _bridge(a: int, b: int, stop: threading.Event) -> None:
    """Copy bytes both ways between two pty masters (what socat would do)."""
    while not stop.is_set():
        ready, _, _ = select.select([a, b], [], [], 0.05)
        for fd in ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                continue
            os.write(b if fd == a else a, data)


@pytest.fixture
def bridged_ptys():
    """Two ptys bridged: the unit opens the first's slave as its serial link
    (pyserial on a real tty), clients open the second's."""
    unit_master, unit_slave = os.openpty()
    client_master, client_slave = os.openpty()
    import tty

    for fd in (unit_slave, client_slave):
        tty.setraw(fd)
    stop = threading.Event()
    thread = threading.Thread(target=_bridge, args=(unit_master, client_master, stop),
                              daemon=True)
    thread.start()
    yield os.ttyname(unit_slave), os.ttyname(client_slave)
    stop.set()
    thread.join(5)
    for fd in (unit_master, unit_slave, client_master, client_slave):
        os.close(fd)


def test_run_on_the_pi_board_with_fakes_answers_on_its_serial_link(
        tmp_path, clean_env, bridged_ptys):
    unit_tty, client_tty = bridged_ptys
    config = tmp_path / "unit.toml"
    config.write_text(
        'board = "pi"\n'
        f'state_dir = "{tmp_path / "state"}"\n'
        'i2c_bus = "sim"\n'
        'card_uart = "loop://"\n'
        f'link = "{unit_tty}"\n', encoding="utf-8")
    unit = Unit(["--config", str(config)], {**clean_env, "GPIOZERO_PIN_FACTORY": "mock"})
    try:
        unit.wait_for("running board=pi")
        echoed = smpmgr("--port", client_tty, "os", "echo", "bonjour")
    finally:
        code = unit.stop()
    assert echoed.returncode == 0, echoed.stderr + "".join(unit.log)
    assert "r='bonjour'" in echoed.stdout
    assert code == 0, "".join(unit.log)


def test_a_bad_configuration_is_exit_2_naming_the_file_and_key(tmp_path, clean_env):
    config = tmp_path / "unit.toml"
    config.write_text('bord = "pi"\n', encoding="utf-8")
    unit = Unit(["--config", str(config)], clean_env)
    line = unit.wait_for("unknown key 'bord'")
    assert unit.proc.wait(timeout=60) == 2
    assert line.startswith(f"tla-unit run: {config}: unknown key 'bord'")
