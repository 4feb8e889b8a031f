"""Security review of the office link: pairing commitment, access table, key files.

The host messages are built by hand from docs/protocol.md (tests/link/test_security
DocHost), the commitment with hashlib, so these tests do not trust the code under test
for the expected bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.office_link.data_groups import data_groups
from firmware.office_link.events import PairingRequested
from firmware.office_link.group_fse import DeviceIdentity
from firmware.office_link.security import Identity, MemoryPairedHosts, write_atomically
from firmware.office_link.server import SMPServer
from host_tools.unit_link import client as link
from host_tools.unit_link.keystore import HostKeys
from host_tools.unit_link.messages import PairBegin, PairBeginResponse, PairFinishResponse

from .helpers import FakeUnit, exchange, raw_request
from .test_security import DocHost, open_session, pair

WRITE, READ = 2, 0
SEC = 80
COMMIT = b"OpenTLA pairing commit v1"


def new_unit() -> SMPServer:
    return SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit())


def finish_with(host: DocHost, begun: dict, hn: bytes) -> bytes:
    """A PAIR_FINISH that reveals ``hn`` and signs the transcript built with it."""
    host.hn = hn
    return host.pair_finish(begun)


# ---- F1: pairing codes could be ground by a man in the middle ----------------------------
@settings(max_examples=25, deadline=None)
@given(other=st.binary(min_size=16, max_size=16))
def test_a_nonce_other_than_the_committed_one_is_refused_and_shows_no_code(other):
    """A MITM posing as the host must fix hn (commitment) before seeing un; revealing
    any other hn (one it searched so the codes agree) is refused, with no code shown."""
    unit, mitm = new_unit(), DocHost("mitm")
    committed = b"C" * 16
    if other == committed:
        other = bytes(16)
    begun, _ = exchange(unit, mitm.pair_begin(committed))
    reply, events = exchange(unit, finish_with(mitm, begun.body, other), 1.0)
    assert reply.body == {"err": {"group": 80, "rc": 6}}
    assert not any(isinstance(e, PairingRequested) for e in events)
    assert unit.security.pairing_code is None
    assert unit.confirm_pairing(2.0) == [] and unit.security.pairing_code is None
    # the attempt is spent: even the committed nonce now finds no pairing
    again, _ = exchange(unit, finish_with(mitm, begun.body, committed), 3.0)
    assert again.body == {"err": {"group": 80, "rc": 3}}
    assert unit.security.trust.get(mitm.hid) is None


def test_no_code_before_the_reveal_and_the_nonce_cannot_change_afterwards():
    unit, host = new_unit(), DocHost()
    begun, events = exchange(unit, host.pair_begin(b"A" * 16))
    assert events == [] and unit.security.pairing_code is None
    assert unit.confirm_pairing(0.5) == []  # nothing to confirm yet
    _, events = host.begin_and_reveal(unit, 1.0)
    begun_body = host.unit
    [shown] = events
    assert shown.code == unit.security.pairing_code
    unit.confirm_pairing(2.0)
    changed, _ = exchange(unit, finish_with(host, begun_body, b"B" * 16), 3.0)
    assert changed.body == {"err": {"group": 80, "rc": 6}}
    assert unit.security.trust.get(host.hid) is None


class MitmAsUnit:
    """Answers the office PC as if it were the unit, recording what the PC sends."""

    def __init__(self) -> None:
        self.me = Identity.generate()
        self.sent: list = []

    async def request(self, message):
        self.sent.append(message)
        if isinstance(message, PairBegin):
            return PairBeginResponse(uid=self.me.id, ukx=self.me.kx_public, un=os.urandom(16), ttl=120)
        return PairFinishResponse(sig=bytes(64))


def test_the_office_pc_reveals_its_nonce_only_after_the_unit_nonce_is_fixed(tmp_path):
    fake = MitmAsUnit()
    keys = HostKeys.load_or_create(tmp_path / "host_keys.json")
    codes: list[str] = []
    try:
        asyncio.run(link.pair(fake, keys, codes.append, wait_s=1.0, poll_s=0.01))
    except link.LinkRefused as refused:
        assert refused.code == "security.bad_unit_signature"
    else:
        raise AssertionError("a unit with a bad signature was accepted")
    begin, finish = fake.sent
    hn = finish.hn
    assert len(hn) == 16 and hn not in begin.BYTES  # nothing to grind a code against
    assert begin.hc == hashlib.sha256(COMMIT + keys.identity.id + keys.identity.kx_public + hn).digest()
    assert keys.units == {}  # the impostor is not remembered


# ---- access table: only the doors are public ------------------------------------------
def test_only_echo_params_and_session_setup_answer_without_a_session():
    server = SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit(),
                       groups=data_groups(object(), DeviceIdentity("U", bytes(32)), 4096))
    public: list = []
    private: list = []
    for group in (0, 1, *range(80, 90)):
        for command in range(16):
            for op in (READ, WRITE):
                route = server.dispatcher.lookup((group, command, op))
                if route is not None:
                    (public if route.access.value == "public" else private).append((group, command, op))
    # docs/protocol.md §3: echo (W), params (R), pair begin/finish, session begin/auth
    assert set(public) == {(0, 0, WRITE), (0, 6, READ), (80, 0, WRITE), (80, 1, WRITE),
                      (80, 2, WRITE), (80, 3, WRITE)}
    assert len(private) >= 14  # os datetime/reset, session end, unit info, groups 82-85
    for group, command, op in private:
        body = {"id": "F1", "off": 10} if group in (83, 84) and command == 2 else {}  # resumed pull
        reply, _ = exchange(server, raw_request(op, group, command, body), 1.0)
        assert reply.body == {"rc": 11, "rsn": "pair and open a session first"}, (group, command, op)


def test_a_session_of_one_unit_does_not_open_another():
    """Replay across units: the proof binds the unit's id and nonce."""
    first, second, host = new_unit(), new_unit(), DocHost()
    begun = pair(first, host)
    challenge, auth, reply, _ = open_session(first, host, begun["ukx"], 10.0)
    assert reply.body == {"ttl": 300}
    pair(second, host, 20.0)
    exchange(second, host.session_begin(b"n" * 16), 30.0)
    replayed, _ = exchange(second, auth, 30.0)
    assert replayed.body == {"err": {"group": 80, "rc": 6}}
    refused, _ = exchange(second, raw_request(READ, 81, 0, {}), 31.0)
    assert refused.body == {"rc": 11, "rsn": "pair and open a session first"}


# ---- key files ----------------------------------------------------------------------
def test_key_file_is_0600_even_over_a_stale_world_readable_temporary(tmp_path):
    path = tmp_path / "host_keys.json"
    stale = tmp_path / "host_keys.json.tmp"
    stale.write_bytes(b"old")
    os.chmod(stale, 0o644)
    write_atomically(path, b'{"sign": "secret"}')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes() == b'{"sign": "secret"}'


def test_key_file_write_does_not_follow_a_planted_symlink(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"untouched")
    (tmp_path / "k.json.tmp").symlink_to(target)
    try:
        write_atomically(tmp_path / "k.json", b"secret")
    except OSError:
        pass  # refusing is fine; writing through the link is not
    assert target.read_bytes() == b"untouched"
