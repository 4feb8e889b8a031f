"""Shared test helpers: a fake unit, and a way to talk to a sans-I/O server with bytes."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from firmware.office_link.events import Send
from firmware.office_link.framing import FrameDecoder, Packet, encode_packet
from firmware.office_link.services import UnitInfo


@dataclass
class FakeUnit:
    """In-test stand-in for the unit services (the real ones are written elsewhere)."""

    clock: datetime | None = None
    fail_clock_write: bool = False
    clock_writes: list[datetime] = field(default_factory=list)

    def unit_info(self) -> UnitInfo:
        return UnitInfo("TLA-42", "1.2.3", "ab" * 32, 55, 1000, 8000, False)

    def clock_now(self) -> datetime:
        if self.clock is None:
            raise RuntimeError("clock never set")
        return self.clock

    def set_clock(self, utc: datetime) -> None:
        if self.fail_clock_write:
            raise OSError("RTC did not answer")
        self.clock_writes.append(utc)
        self.clock = utc


@dataclass
class Reply:
    op: int
    version: int
    group: int
    seq: int
    command: int
    body: dict


def parse_reply(wire: bytes) -> Reply:
    [item] = FrameDecoder(1 << 16).feed(wire)
    assert isinstance(item, Packet)
    data = item.data
    # header by hand (Zephyr SMP spec): res|ver|op, flags, len(2), group(2), seq, id
    assert data[1] == 0 and int.from_bytes(data[2:4], "big") == len(data) - 8
    return Reply(
        data[0] & 7, (data[0] >> 3) & 3, int.from_bytes(data[4:6], "big"), data[6], data[7],
        cbor2.loads(data[8:]),
    )


def raw_request(op: int, group: int, command: int, body: dict, seq: int = 7, version: int = 1) -> bytes:
    """A request packet built by hand from the header layout (not with the code under test)."""
    payload = cbor2.dumps(body)
    first = (version << 3) | op
    return bytes([first, 0]) + len(payload).to_bytes(2, "big") + group.to_bytes(2, "big") + bytes(
        [seq, command]
    ) + payload


@dataclass
class DocSession:
    """The office's side of an open session, written from docs/protocol.md
    ("Authenticated requests") with hmac and cbor2 only, not with firmware.office_link.mac."""

    key: bytes
    counter: int = 0

    def _tag(self, label: bytes, head: bytes, body: dict) -> bytes:
        covered = label + b"\x00" + head[0:2] + head[4:8] + cbor2.dumps(body, canonical=True)
        return hmac.new(self.key, covered, hashlib.sha256).digest()[:16]

    def seal(self, packet: bytes, counter: int | None = None) -> bytes:
        """The packet with "_n" and "_mac" added (unchanged if its body is not a map)."""
        try:
            body = cbor2.loads(packet[8:]) if len(packet) > 8 else {}
        except Exception:  # a deliberately broken body: sent as it is
            return packet
        if not isinstance(body, dict) or int.from_bytes(packet[2:4], "big") != len(packet) - 8:
            return packet
        if counter is None:
            self.counter += 1
            counter = self.counter
        body = {**body, "_n": counter}
        body["_mac"] = self._tag(b"OpenTLA request v1 host", packet, body)
        payload = cbor2.dumps(body)
        return packet[:2] + len(payload).to_bytes(2, "big") + packet[4:8] + payload

    def open_reply(self, wire_packet: bytes, reply: Reply) -> Reply:
        """Check and strip the unit's MAC; a reply without one is returned as it is."""
        body = dict(reply.body)
        if "_mac" not in body:
            return reply
        tag = body.pop("_mac")
        assert tag == self._tag(b"OpenTLA reply v1 unit", wire_packet, body), "bad reply MAC"
        assert body.pop("_n") == self.counter
        return Reply(reply.op, reply.version, reply.group, reply.seq, reply.command, body)


def exchange(server, packet: bytes, now: float = 0.0, *, seal: bool = True) -> tuple[Reply | None, list]:
    """Send one packet; return the parsed reply (if any) and the other actions.

    When a test opened a session (``server.doc_session``), the packet is sealed with
    the session MAC first and the reply's MAC checked and stripped (``seal=False``
    sends it bare)."""
    session: DocSession | None = getattr(server, "doc_session", None)
    if session is not None and packet[4:6] == b"\x00\x50" and packet[7] in (0, 1, 2, 3):
        session = server.doc_session = None  # pairing and a new session go bare
    if session is not None and seal:
        packet = session.seal(packet)
        if packet[4:6] == b"\x00\x50" and packet[7] == 4:  # session end
            server.doc_session = None
    actions = server.receive_data(encode_packet(packet), now)
    sends = [a for a in actions if isinstance(a, Send)]
    assert len(sends) <= 1
    reply = None
    if sends:
        reply = parse_reply(sends[0].data)
        if session is not None and seal:
            [item] = FrameDecoder(1 << 16).feed(sends[0].data)
            reply = session.open_reply(item.data, reply)
    return reply, [a for a in actions if not isinstance(a, Send)]


# ---- the documented derivations, recomputed from docs/protocol.md with raw primitives ----
def doc_pairing_code(my_kx_private: bytes, peer_kx_public: bytes, transcript: bytes) -> str:
    secret = X25519PrivateKey.from_private_bytes(my_kx_private).exchange(
        X25519PublicKey.from_public_bytes(peer_kx_public)
    )
    okm = HKDF(
        hashes.SHA256(), 8, hashlib.sha256(transcript).digest(), b"OpenTLA pairing code v1"
    ).derive(secret)
    return f"{int.from_bytes(okm, 'big') % 1_000_000:06d}"


def now_utc() -> datetime:
    return datetime.now(UTC)
