"""docs/protocol.md §4 "Authenticated requests": the example's bytes, recomputed with
hmac and cbor2 only, are what the doc shows and what firmware/office_link/mac.py computes."""

from __future__ import annotations

import hashlib
import hmac

import cbor2

from firmware.office_link import mac
from firmware.office_link.header import Header

from .helpers import PROTOCOL

KEY = bytes(range(32))


def spaced(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


def test_the_documented_request_and_reply_macs():
    body = {"datetime": "2031-02-03T04:05:06", "_n": 1}
    canonical = cbor2.dumps(body, canonical=True)
    h6 = bytes([0x0A, 0x00, 0x00, 0x00, 0x07, 0x04])  # v2 write, group 0, seq 7, cmd 4
    tag = hmac.new(KEY, b"OpenTLA request v1 host\x00" + h6 + canonical,
                   hashlib.sha256).digest()[:16]
    assert spaced(tag) == "a3 55 d9 1d 06 4b 36 f0 a5 a3 0c cf 18 2c 68 8e"
    assert f"_mac          {spaced(tag)}" in PROTOCOL
    assert spaced(canonical[:25]) in PROTOCOL and "H6            0a 00 00 00 07 04" in PROTOCOL
    assert mac.compute(KEY, mac.LABEL_REQUEST, Header(2, 1, 0, 0, 0, 7, 4), body) == tag
    sealed = cbor2.dumps({**body, "_mac": tag}, canonical=True)
    assert "sent body     " + spaced(sealed[:13]) + " … 8e" in PROTOCOL

    reply = {"_n": 1}
    r6 = bytes([0x0B, 0x00, 0x00, 0x00, 0x07, 0x04])
    rtag = hmac.new(KEY, b"OpenTLA reply v1 unit\x00" + r6 + cbor2.dumps(reply, canonical=True),
                    hashlib.sha256).digest()[:16]
    assert f"_mac          {spaced(rtag)}" in PROTOCOL
    assert mac.compute(KEY, mac.LABEL_REPLY, Header(3, 1, 0, 0, 0, 7, 4), reply) == rtag


def test_the_documented_overhead_bounds_the_two_entries():
    worst = cbor2.dumps({"_n": mac.COUNTER_MAX, "_mac": bytes(16)})
    assert len(worst) - 1 <= mac.OVERHEAD <= 35 and "at most 35 bytes" in PROTOCOL
