"""Real clients against the unit over a pty: smpclient, the `tla` CLI and smpmgr.

The simulated link port (board/sim/link_port.py) serves the firmware server through the
real LinkRunner on a background thread; every test stops it (the fixture's context
manager ends the thread and closes the pty).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from smp.error import MGMT_ERR
from smpclient import SMPClient
from smpclient.generics import error_v1, success
from smpclient.requests.image_management import ImageStatesRead
from smpclient.requests.os_management import DateTimeRead, DateTimeWrite, EchoWrite
from smpclient.transport.serial import SMPSerialTransport

from firmware.office_link.events import ClockSet, PairingRequested
from firmware.office_link.security import Identity, MemoryPairedHosts
from firmware.office_link.server import SMPServer
from host_tools.cli import main as tla
from host_tools.unit_link import client as link
from host_tools.unit_link.keystore import HostKeys

from .helpers import FakeUnit
from .pty_unit import PtyUnit

VENV_BIN = Path(sys.executable).parent
PLUGINS = Path(__file__).parent / "smpmgr_plugins"


@pytest.fixture
def port():
    services = FakeUnit()
    server = SMPServer(Identity.generate(), MemoryPairedHosts(), services)
    with PtyUnit(server, auto_confirm=True) as p:
        p.services = services
        yield p


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def with_client(path: str, body):
    """smpclient exactly as a third party uses it (its own serial transport)."""
    async with SMPClient(SMPSerialTransport(), path, timeout_s=5) as client:
        return await body(client)


async def with_office_client(path: str, body):
    """The office's client (session MACs on every request, docs/protocol.md)."""
    async with link.connect(path, 5) as client:
        return await body(client)


def test_smpclient_echo_params_and_unpaired_refusal(port):
    async def body(client: SMPClient):
        # smpclient read MCUmgr params on connect: the transport sized itself from them
        assert client._transport.max_unencoded_size == 2048 - 4
        long_text = "é" * 700  # 1400 bytes: many lines each way
        echoed = await client.request(EchoWrite(d=long_text))
        assert success(echoed) and echoed.r == long_text
        refused = await client.request(DateTimeWrite(datetime="2026-01-31T14:05:00"))
        assert error_v1(refused) and refused.rc == MGMT_ERR.EACCESSDENIED
        image = await client.request(ImageStatesRead())
        assert error_v1(image) and image.rc == MGMT_ERR.ENOTSUP

    run(with_client(port.path, body))
    assert port.services.clock_writes == []


def test_smpclient_pairing_session_info_and_clock(port, tmp_path):
    keys = HostKeys.load_or_create(tmp_path / "keys.json")
    shown: list[str] = []

    async def body(client: SMPClient):
        result = await link.pair(client, keys, shown.append, poll_s=0.05)
        unit = await link.open_session(client, keys)
        assert unit.uid == result.unit.uid
        info = await link.unit_info(client)
        written = await client.request(DateTimeWrite(datetime="2031-07-14T10:00:00"))
        assert success(written)
        read = await client.request(DateTimeRead())
        await link.close_session(client)
        after = await client.request(DateTimeRead())
        return info, read, after

    info, read, after = run(with_office_client(port.path, body))
    # the code the PC showed is the code the unit put on its screen
    [requested] = [e for e in port.events if isinstance(e, PairingRequested)]
    assert shown == [requested.code]
    assert (info.serial, info.fw, info.battery, info.locked) == ("TLA-42", "1.2.3", 55, False)
    assert port.services.clock_writes == [datetime(2031, 7, 14, 10, tzinfo=UTC)]
    assert read.datetime.startswith("2031-07-14T10:00:0")
    assert error_v1(after) and after.rc == MGMT_ERR.EACCESSDENIED  # session ended
    # the keys file now knows the unit
    assert HostKeys.load_or_create(tmp_path / "keys.json").units.keys() == {result_uid(keys)}


def result_uid(keys: HostKeys) -> bytes:
    [uid] = keys.units
    return uid


def test_tla_cli_pair_info_clock_units(port, tmp_path, capsys):
    keys = str(tmp_path / "host.json")
    assert tla(["--keys", keys, "info", "--port", port.path]) == 1
    assert "not paired" in capsys.readouterr().err.lower()
    assert tla(["--keys", keys, "pair", "--port", port.path, "--name", "Cabinet Dupont"]) == 0
    out = capsys.readouterr().out
    [requested] = [e for e in port.events if isinstance(e, PairingRequested)]
    assert f"Pairing code: {requested.code}" in out and requested.host_name == "Cabinet Dupont"
    assert tla(["--keys", keys, "info", "--json", "--port", port.path]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["serial"] == "TLA-42" and info["store_total"] == 8000
    assert tla(["--keys", keys, "clock", "set", "--port", port.path, "--time", "2030-05-06T07:08:09Z"]) == 0
    assert [e.utc for e in port.events if isinstance(e, ClockSet)] == [datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)]
    assert tla(["--keys", keys, "clock", "set", "--port", port.path, "--time", "soon"]) == 2
    assert tla(["--keys", keys, "units", "--probe", port.path]) == 0
    assert f"{port.path}\tunit TLA-42 (paired" in capsys.readouterr().out


def test_pairing_refused_at_the_unit(tmp_path):
    server = SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit())
    with PtyUnit(server) as p:
        p.on_event = lambda e: p.runner.press_annuler() if isinstance(e, PairingRequested) else None
        code = tla(["--keys", str(tmp_path / "k.json"), "pair", "--port", p.path])
    assert code == 1
    assert HostKeys.load_or_create(tmp_path / "k.json").units == {}


def smpmgr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "smpmgr"), *args], capture_output=True, text=True, timeout=60,
        env={"COLUMNS": "200", "PATH": str(VENV_BIN), "TERM": "dumb"},
    )


def test_smpmgr_command_line_echo_and_refused_clock(port):
    echoed = smpmgr("--port", port.path, "os", "echo", "salut")
    assert echoed.returncode == 0, echoed.stderr
    assert "r='salut'" in echoed.stdout
    refused = smpmgr(f"--plugin-path={PLUGINS}", "--port", port.path, "clock", "set", "2026-01-31T14:05:00")
    assert refused.returncode == 0, refused.stderr
    assert "EACCESSDENIED" in refused.stdout
    assert port.services.clock_writes == []
