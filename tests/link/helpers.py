"""Shared test helpers: a fake unit, and a way to talk to a sans-I/O server with bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from firmware.link.events import Send
from firmware.link.framing import FrameDecoder, Packet, encode_packet
from firmware.link.services import UnitInfo


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
    [item] = FrameDecoder(4096).feed(wire)
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


def exchange(server, packet: bytes, now: float = 0.0) -> tuple[Reply | None, list]:
    """Send one packet; return the parsed reply (if any) and the other actions."""
    actions = server.receive_data(encode_packet(packet), now)
    sends = [a for a in actions if isinstance(a, Send)]
    assert len(sends) <= 1
    return (parse_reply(sends[0].data) if sends else None), [a for a in actions if not isinstance(a, Send)]


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
