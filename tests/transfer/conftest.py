"""Fixtures of the transfer tests: a real store behind the data groups, with a session."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from link.helpers import FakeUnit
from link.test_security import DocHost, open_session, pair

from firmware.office_link.data_groups import data_groups
from firmware.office_link.group_fse import DeviceIdentity
from firmware.office_link.security import Identity, MemoryPairedHosts
from firmware.office_link.server import SMPServer

from .helpers import PROF, UNIT_ID, make_store, sign_fse

BUF = 4096


@pytest.fixture
def unit(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    store, proof = make_store(tmp_path / "unit.db")
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    server = SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit(), buf_size=BUF,
                       groups=data_groups(store, DeviceIdentity(UNIT_ID, public), BUF))
    fses = {}
    for _ in range(3):
        n = store.next_fse_number(PROF)
        fses[f"F{n}"] = sign_fse(key, n)
        store.signed_fse(f"F{n}", PROF, n, fses[f"F{n}"])
    server.store, server.fses, server.public, server.proof = store, fses, public, proof
    yield server
    store.close()


@pytest.fixture
def session(unit):
    host = DocHost()
    begun = pair(unit, host)
    open_session(unit, host, begun["ukx"], 10.0)
    unit.store.trust_office(host.hid)  # paired while unlocked (board/sim/unit.py)
    unit.host = host
    return unit
