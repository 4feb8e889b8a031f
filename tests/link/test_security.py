"""Pairing and session authentication, driven with bytes and a fake clock.

The host side here is written from docs/protocol.md with raw `cryptography`
primitives, not with firmware.office_link.security, so a change of the wire rules on one
side only makes these tests fail.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from firmware.office_link.events import (
    ClockSet,
    LinkError,
    PairingEnded,
    PairingRequested,
    SessionClosed,
    SessionOpened,
)
from firmware.office_link.security import Identity, MemoryPairedHosts
from firmware.office_link.server import SMPServer

from .helpers import DocSession, FakeUnit, doc_pairing_code, exchange, raw_request

WRITE, READ = 2, 0
SEC, OS = 80, 0
ACCESS_DENIED = {"rc": 11, "rsn": "pair and open a session first"}


def raw(key) -> bytes:
    return key.public_key().public_bytes_raw()


class DocHost:
    """A host that follows docs/protocol.md, built on raw primitives."""

    def __init__(self, name: str = "cabinet") -> None:
        self.sign = Ed25519PrivateKey.generate()
        self.kx = X25519PrivateKey.generate()
        self.name = name
        self.hid, self.hkx = raw(self.sign), raw(self.kx)

    def pair_begin(self, hn: bytes = b"H" * 16) -> bytes:
        self.hn = hn
        hc = hashlib.sha256(b"OpenTLA pairing commit v1" + self.hid + self.hkx + hn).digest()
        body = {"hid": self.hid, "hkx": self.hkx, "hc": hc, "name": self.name}
        return raw_request(WRITE, SEC, 0, body)

    def pair_finish(self, begun: dict) -> bytes:
        """Reveal hn and sign (the first one makes the unit show its code)."""
        self.unit = begun
        self.transcript = (
            b"OpenTLA pairing v1" + begun["uid"] + begun["ukx"] + self.hid + self.hkx + begun["un"] + self.hn
        )
        sig = self.sign.sign(b"OpenTLA pairing v1 host\x00" + self.transcript)
        return raw_request(WRITE, SEC, 1, {"hn": self.hn, "sig": sig})

    def begin_and_reveal(self, server, now: float = 0.0):
        """PAIR_BEGIN, then the first PAIR_FINISH: the unit shows the code and says wait."""
        begun, events = exchange(server, self.pair_begin(), now)
        assert events == [] and set(begun.body) == {"uid", "ukx", "un", "ttl"}
        pending, events = exchange(server, self.pair_finish(begun.body), now)
        assert pending.body == {"err": {"group": 80, "rc": 1}}
        return begun, [e for e in events if not isinstance(e, LinkError)]  # drop the rc 1 log line

    def session_begin(self, hn: bytes) -> bytes:
        self.hn = hn
        return raw_request(WRITE, SEC, 2, {"hid": self.hid, "hn": hn})

    def session_auth(self, challenge: dict, ukx: bytes, signer=None) -> bytes:
        t = b"OpenTLA session v1" + challenge["uid"] + self.hid + challenge["un"] + self.hn
        self.session_transcript = t
        secret = self.kx.exchange(X25519PublicKey.from_public_bytes(ukx))
        key = HKDF(hashes.SHA256(), 32, hashlib.sha256(t).digest(), b"OpenTLA session key v1").derive(secret)
        kc = hmac.new(key, b"OpenTLA key confirmation v1 host", hashlib.sha256).digest()
        self.session_key = key
        sig = (signer or self.sign).sign(b"OpenTLA session v1 host\x00" + t)
        return raw_request(WRITE, SEC, 3, {"sig": sig, "kc": kc})


@pytest.fixture
def unit():
    identity = Identity.generate()
    fake = FakeUnit()
    server = SMPServer(identity, MemoryPairedHosts(), fake)
    server.fake = fake
    return server


def pair(server, host: DocHost, now: float = 0.0) -> dict:
    begun, events = host.begin_and_reveal(server, now)
    assert events == [PairingRequested(events[0].code, host.name)]
    server.confirm_pairing(now + 1)
    done, _ = exchange(server, host.pair_finish(begun.body), now + 2)
    assert set(done.body) == {"sig"}
    return begun.body


def open_session(server, host: DocHost, ukx: bytes, now: float, hn: bytes = b"n" * 16):
    challenge, _ = exchange(server, host.session_begin(hn), now)
    auth = host.session_auth(challenge.body, ukx)
    reply, events = exchange(server, auth, now)
    if reply.body.get("ttl"):  # open: every further request of the test carries the MAC
        server.doc_session = DocSession(host.session_key)
    return challenge, auth, reply, events


def test_pairing_code_is_the_documented_derivation_and_unit_signs(unit):
    host = DocHost()
    begun, events = host.begin_and_reveal(unit)
    [requested] = events
    body = begun.body
    transcript = b"OpenTLA pairing v1" + body["uid"] + body["ukx"] + host.hid + host.hkx + body["un"] + host.hn
    assert requested.code == doc_pairing_code(host.kx.private_bytes_raw(), body["ukx"], transcript)
    assert "Code " + requested.code in requested.message_fr
    # before the key press the host is told to wait, and nothing is stored
    pending, _ = exchange(unit, host.pair_finish(body), 5.0)
    assert pending.body == {"err": {"group": 80, "rc": 1}}
    assert unit.confirm_pairing(6.0) == []
    done, events = exchange(unit, host.pair_finish(body), 7.0)
    assert events == [PairingEnded("paired", "cabinet")]
    # the unit's signature verifies with its identity key (raw Ed25519, RFC 8032)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(body["uid"]).verify(
        done.body["sig"], b"OpenTLA pairing v1 unit\x00" + transcript
    )


def test_rejected_and_expired_pairings_store_nothing(unit):
    host = DocHost()
    begun, _ = host.begin_and_reveal(unit)
    assert unit.reject_pairing(1.0) == [PairingEnded("rejected", "cabinet")]
    refused, _ = exchange(unit, host.pair_finish(begun.body), 2.0)
    assert refused.body == {"err": {"group": 80, "rc": 2}}
    begun, _ = host.begin_and_reveal(unit, 10.0)
    assert unit.tick(10.0 + 121) == [PairingEnded("expired", "cabinet")]
    assert unit.confirm_pairing(10.0 + 122) == []
    gone, _ = exchange(unit, host.pair_finish(begun.body), 10.0 + 123)
    assert gone.body == {"err": {"group": 80, "rc": 3}}
    challenge, _ = exchange(unit, host.session_begin(b"n" * 16), 200.0)
    assert challenge.body == {"err": {"group": 80, "rc": 5}}


def test_a_second_host_cannot_barge_into_a_pairing(unit):
    first, second = DocHost("a"), DocHost("b")
    exchange(unit, first.pair_begin())
    busy, _ = exchange(unit, second.pair_begin(), 1.0)
    assert busy.body == {"err": {"group": 80, "rc": 4}}


def test_requests_before_pairing_are_refused_and_change_nothing(unit):
    for packet in (
        raw_request(WRITE, OS, 4, {"datetime": "2026-01-31T14:05:00"}),
        raw_request(READ, OS, 4, {}),
        raw_request(WRITE, OS, 5, {}),
        raw_request(READ, 81, 0, {}),
        raw_request(WRITE, SEC, 4, {}),
    ):
        reply, events = exchange(unit, packet)
        assert reply.body == ACCESS_DENIED
        assert all(e.code == "smp.eaccessdenied" for e in events)
    assert unit.fake.clock_writes == []
    echo, _ = exchange(unit, raw_request(WRITE, OS, 0, {"d": "ok"}))
    assert echo.body == {"r": "ok"}


def test_session_opens_and_unlocks_commands(unit):
    host = DocHost()
    begun = pair(unit, host)
    challenge, _, reply, events = open_session(unit, host, begun["ukx"], 10.0)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(begun["uid"]).verify(
        challenge.body["sig"], b"OpenTLA session v1 unit\x00" + host.session_transcript
    )
    assert reply.body == {"ttl": 300} and events == [SessionOpened("cabinet")]
    done, events = exchange(unit, raw_request(WRITE, OS, 4, {"datetime": "2031-02-03T04:05:06+01:00"}), 11.0)
    assert done.body == {}
    assert unit.fake.clock.isoformat() == "2031-02-03T03:05:06+00:00"  # offset applied by hand
    assert isinstance(events[0], ClockSet)
    info, _ = exchange(unit, raw_request(READ, 81, 0, {}), 12.0)
    assert info.body["serial"] == "TLA-42" and info.body["clock"] == "2031-02-03T03:05:06"


def test_replayed_session_is_refused(unit):
    host = DocHost()
    begun = pair(unit, host)
    _, auth, reply, _ = open_session(unit, host, begun["ukx"], 10.0)
    assert reply.body == {"ttl": 300}
    # the same proof a second time: its nonce is spent
    again, _ = exchange(unit, auth, 11.0)
    assert again.body == {"err": {"group": 80, "rc": 7}}
    exchange(unit, raw_request(WRITE, SEC, 4, {}), 12.0)  # session end
    # a recorder replays the whole exchange: the unit picks a new nonce, the old proof fails
    exchange(unit, host.session_begin(b"n" * 16), 20.0)
    replayed, _ = exchange(unit, auth, 20.0)
    assert replayed.body == {"err": {"group": 80, "rc": 6}}
    refused, _ = exchange(unit, raw_request(WRITE, OS, 4, {"datetime": "2031-02-03T04:05:06"}), 21.0)
    assert refused.body == ACCESS_DENIED


def test_forged_session_is_refused(unit):
    host = DocHost()
    begun = pair(unit, host)
    challenge, _ = exchange(unit, host.session_begin(b"f" * 16), 10.0)
    forged = host.session_auth(challenge.body, begun["ukx"], signer=Ed25519PrivateKey.generate())
    reply, _ = exchange(unit, forged, 10.0)
    assert reply.body == {"err": {"group": 80, "rc": 6}}
    # right signature, wrong key confirmation (no X25519 private key)
    challenge, _ = exchange(unit, host.session_begin(b"g" * 16), 11.0)
    good = host.session_auth(challenge.body, begun["ukx"])
    tampered = good[:-1] + bytes([good[-1] ^ 1])
    reply, _ = exchange(unit, tampered, 11.0)
    assert reply.body == {"err": {"group": 80, "rc": 6}}
    refused, _ = exchange(unit, raw_request(READ, 81, 0, {}), 12.0)
    assert refused.body == ACCESS_DENIED


def test_v1_clients_get_translated_general_codes(unit):
    host = DocHost()
    reply, _ = exchange(unit, raw_request(WRITE, SEC, 2, {"hid": host.hid, "hn": b"n" * 16}, version=0))
    assert reply.version == 0 and reply.body == {"rc": 11, "rsn": "this host is not paired with the unit"}


def test_idle_timeout_link_reset_and_lockout(unit):
    host = DocHost()
    begun = pair(unit, host)
    open_session(unit, host, begun["ukx"], 10.0)
    assert unit.tick(10.0 + 299) == []
    assert unit.tick(10.0 + 300) == [SessionClosed("idle")]
    open_session(unit, host, begun["ukx"], 400.0)
    assert unit.link_reset(401.0) == [SessionClosed("reset")]
    for i in range(5):
        challenge, _ = exchange(unit, host.session_begin(b"x" * 16), 500.0 + i)
        forged = host.session_auth(challenge.body, begun["ukx"], signer=Ed25519PrivateKey.generate())
        exchange(unit, forged, 500.0 + i)
    locked, _ = exchange(unit, host.session_begin(b"y" * 16), 510.0)
    assert locked.body == {"err": {"group": 80, "rc": 9}}
    _, _, reply, _ = open_session(unit, host, begun["ukx"], 570.0)
    assert reply.body == {"ttl": 300}
