"""sd_notify (board/systemd.py) against a real AF_UNIX datagram socket standing in
for systemd: READY=1 once the unit serves, WATCHDOG=1 while its main loop turns,
nothing while a round hangs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from board.config import BoardConfig
from board.sim.parts import build as build_sim
from board.systemd import Notifier, socket_address
from firmware.app import UnitApp

ROOT = Path(__file__).parents[2]


@pytest.fixture
def systemd(tmp_path):
    """A datagram socket where systemd's would be; yields (path, socket)."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    yield path, sock
    sock.close()


def receive(sock: socket.socket, timeout: float) -> str | None:
    sock.settimeout(timeout)
    try:
        return sock.recv(4096).decode()
    except (TimeoutError, BlockingIOError):  # nothing within timeout (0: nothing queued)
        return None


def test_from_env_reads_the_socket_and_the_watchdog_meant_for_this_process():
    env = {"NOTIFY_SOCKET": "@sd-notify", "WATCHDOG_USEC": "30000000",
           "WATCHDOG_PID": str(os.getpid())}
    notifier = Notifier.from_env(env)
    assert notifier.address == "\0sd-notify"
    assert notifier.watchdog_s == 30.0
    other = Notifier.from_env({**env, "WATCHDOG_PID": str(os.getpid() + 1)})
    assert other.watchdog_s is None  # a watchdog for another process is not ours
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"


def test_without_notify_socket_nothing_is_sent():
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert notifier.notify("READY=1") is False
    notifier.after_step()  # no error, nowhere to send


def test_a_vanished_systemd_does_not_stop_the_unit(tmp_path):
    notifier = Notifier(str(tmp_path / "gone"), watchdog_s=1.0)
    assert notifier.notify("WATCHDOG=1") is False  # ENOENT logged, not raised


class StepClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_watchdog_kicks_at_half_the_period(systemd):
    path, sock = systemd
    clock = StepClock()
    notifier = Notifier(path, watchdog_s=10.0, clock=clock)
    notifier.after_step()
    assert receive(sock, 1) == "READY=1\nSTATUS=serving the office link"
    for t in (1.0, 4.9):  # less than half the period since READY
        clock.t = t
        notifier.after_step()
    assert receive(sock, 0.05) is None
    clock.t = 5.0
    notifier.after_step()
    assert receive(sock, 1) == "WATCHDOG=1"
    clock.t = 9.0
    notifier.after_step()
    assert receive(sock, 0.05) is None
    clock.t = 10.0
    notifier.after_step()
    assert receive(sock, 1) == "WATCHDOG=1"


def test_the_unit_main_loop_kicks_while_alive_and_stops_when_a_round_hangs(systemd, tmp_path):
    path, sock = systemd
    notifier = Notifier(path, watchdog_s=0.1)  # kicks every 50 ms of a turning loop
    stop = threading.Event()
    built: list[UnitApp] = []
    ready = threading.Event()

    def main() -> None:
        app = UnitApp(build_sim(BoardConfig(board="sim", state_dir=str(tmp_path))), tmp_path)
        built.append(app)
        ready.set()
        app.run(stop, after_step=notifier.after_step)

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        assert ready.wait(60)
        app = built[0]
        assert receive(sock, 30) == "READY=1\nSTATUS=serving the office link"
        kicks = [receive(sock, 5) for _ in range(3)]
        assert kicks == ["WATCHDOG=1"] * 3
        hang, release = threading.Event(), threading.Event()

        def stuck() -> None:  # a round that does not return (as a hung driver call)
            hang.set()
            release.wait(30)

        caller = threading.Thread(target=app.call, args=(stuck,), daemon=True)
        caller.start()
        assert hang.wait(10)
        while receive(sock, 0) is not None:  # kicks sent before the round hung
            pass
        assert receive(sock, 0.5) is None  # 10 watchdog half-periods: silence
        release.set()
        assert receive(sock, 5) == "WATCHDOG=1"  # the loop turns again
        caller.join(10)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()


def test_tla_unit_run_tells_systemd_ready_then_kicks_then_stopping(systemd, tmp_path):
    path, sock = systemd
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TLA_BOARD": "", "TLA_CONFIG": "",
           "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "board.main", "run", "--board", "sim",
         "--state", str(tmp_path / "state")], cwd=ROOT, env=env,
        stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first = receive(sock, 60)
        assert first == "READY=1\nSTATUS=serving the office link", proc.poll()
        assert [receive(sock, 10) for _ in range(2)] == ["WATCHDOG=1"] * 2
        proc.send_signal(signal.SIGTERM)
        last = None
        while (got := receive(sock, 30)) is not None:
            last = got
            if got == "STOPPING=1":
                break
        assert last == "STOPPING=1"
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=30)
    assert "watchdog_s=0.2" in err
