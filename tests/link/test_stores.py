"""Keys and paired hosts survive a restart; a broken key file gives a clear error."""

from __future__ import annotations

import stat

from firmware.office_link.identity_file import load_identity
from firmware.office_link.security import JsonPairedHosts
from firmware.office_link.server import SMPServer
from host_tools.cli import main as tla
from host_tools.unit_link.keystore import HostKeys

from .helpers import FakeUnit, exchange, raw_request
from .test_security import DocHost, open_session, pair


def test_paired_host_survives_a_unit_restart(tmp_path):
    identity = load_identity(tmp_path / "unit.json")
    assert stat.S_IMODE((tmp_path / "unit.json").stat().st_mode) == 0o600
    first = SMPServer(identity, JsonPairedHosts(tmp_path / "hosts.json"), FakeUnit())
    host = DocHost()
    begun = pair(first, host)
    # "restart": new server objects, keys and hosts read back from the files
    again = SMPServer(load_identity(tmp_path / "unit.json"), JsonPairedHosts(tmp_path / "hosts.json"), FakeUnit())
    challenge, _, reply, _ = open_session(again, host, begun["ukx"], 5.0)
    assert challenge.body["uid"] == begun["uid"] and reply.body == {"ttl": 300}
    info, _ = exchange(again, raw_request(0, 81, 0, {}), 6.0)
    assert info.body["serial"] == "TLA-42"


def test_host_keys_round_trip_and_broken_file(tmp_path, capsys):
    path = tmp_path / "sub" / "keys.json"
    keys = HostKeys.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert HostKeys.load_or_create(path).identity.id == keys.identity.id
    path.write_text("{not json")
    assert tla(["--keys", str(path), "info", "--port", "/nonexistent"]) == 2
    assert "unusable" in capsys.readouterr().err
