"""Request and reply authentication inside a session: one rule for the unit and the office.

A serial line cannot tell who is on the other end, so once a session is open every
request carries a MAC under the session key, and so does every reply to it. Both
travel inside the CBOR map as two reserved keys, so the packet stays a plain SMP
packet (standard tools such as smpmgr never send them: their routes are public)::

    "_n":   the counter, an unsigned integer; the host's first request in a session
            is 1 and each request uses a larger one (gaps allowed: a lost frame
            costs nothing); the reply carries the counter of the request it answers
    "_mac": 16 bytes, the first half of
            HMAC-SHA256(session key, label | 0x00 | header | canonical CBOR body)

``label`` is ``"OpenTLA request v1 host"`` for requests and ``"OpenTLA reply v1 unit"``
for replies (a request's MAC is never a valid reply's). ``header`` is the SMP header
without its length field: byte 0 (version and op), flags, group (2 bytes), sequence,
command: 6 bytes. The body is the map without ``"_mac"`` (``"_n"`` included) in
deterministic CBOR (RFC 8949 §4.2), so how the sender encoded it does not matter.

128 bits of HMAC-SHA256 (truncation as RFC 2104 §5 and NIST SP 800-107 allow, at least
half the output) leave a forger one chance in 2^128 per try, and every try costs a
round trip on a serial line. The unit refuses a counter not above the last one it
accepted in the session (replay, reordering), the office refuses a reply whose counter
is not its request's. See docs/protocol.md §"Authenticated requests" for an example.
"""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass
from typing import Any

import cbor2

from .header import Header, encode_body

MAC_KEY = "_mac"
COUNTER_KEY = "_n"
MAC_SIZE = 16
COUNTER_MAX = 2**64 - 1
LABEL_REQUEST = b"OpenTLA request v1 host"
LABEL_REPLY = b"OpenTLA reply v1 unit"
# bytes the two entries add to a map, at most (a 9-byte counter, a 1-byte map header growth)
OVERHEAD = len(cbor2.dumps({COUNTER_KEY: COUNTER_MAX, MAC_KEY: bytes(MAC_SIZE)})) - 1 + 1

_FIELDS = struct.Struct(">BBHBB")


class MacError(ValueError):
    """A request or reply whose MAC is missing, wrong or replayed (the peer's fault)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def header_fields(header: Header) -> bytes:
    """The 6 header bytes a MAC covers: everything but the length."""
    first = ((header.version & 0b11) << 3) | (header.op & 0b111)
    return _FIELDS.pack(first, header.flags, header.group, header.seq, header.command)


def reply_header(request: Header) -> Header:
    """The header of the reply to ``request`` (length left 0: the MAC does not cover it)."""
    return Header(request.op | 1, request.version, 0, 0, request.group, request.seq,
                  request.command)


def compute(key: bytes, label: bytes, header: Header, body: dict[str, Any]) -> bytes:
    """The MAC of ``body`` (without ``"_mac"``) under ``header`` and ``label``."""
    message = label + b"\x00" + header_fields(header) + encode_body(body)
    return hmac.digest(key, message, "sha256")[:MAC_SIZE]  # one-shot: OpenSSL's HMAC


def seal(key: bytes, label: bytes, header: Header, body: dict[str, Any],
         counter: int) -> dict[str, Any]:
    """``body`` with the counter and its MAC added."""
    sealed = {**body, COUNTER_KEY: counter}
    sealed[MAC_KEY] = compute(key, label, header, sealed)
    return sealed


def carries_mac(body: dict[str, Any]) -> bool:
    return MAC_KEY in body or COUNTER_KEY in body


@dataclass(frozen=True)
class Opened:
    counter: int
    body: dict[str, Any]  # without the two reserved keys


def open_sealed(key: bytes, label: bytes, header: Header, body: dict[str, Any]) -> Opened:
    """Check a sealed body; raises :class:`MacError` unless its MAC verifies."""
    tag = body.get(MAC_KEY)
    counter = body.get(COUNTER_KEY)
    if not isinstance(tag, bytes) or len(tag) != MAC_SIZE:
        raise MacError("link.no_mac", f"'{MAC_KEY}' must be a {MAC_SIZE}-byte byte string")
    if isinstance(counter, bool) or not isinstance(counter, int) or not 0 < counter <= COUNTER_MAX:
        raise MacError("link.bad_counter", f"'{COUNTER_KEY}' must be an integer 1..2^64-1")
    covered = {k: v for k, v in body.items() if k != MAC_KEY}
    if not hmac.compare_digest(tag, compute(key, label, header, covered)):
        raise MacError("link.bad_mac", "MAC does not verify under the session key")
    plain = {k: v for k, v in covered.items() if k != COUNTER_KEY}
    return Opened(counter, plain)
