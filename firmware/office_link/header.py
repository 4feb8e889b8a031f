"""The SMP packet: 8-byte header, CBOR body, and the two error forms.

Header layout (Zephyr *SMP protocol specification*, "SMP frame"; big-endian)::

    byte 0   : 3 reserved bits | 2 version bits (0 = v1, 1 = v2) | 3 op bits
    byte 1   : flags (none defined, 0)
    byte 2-3 : length of the CBOR body
    byte 4-5 : group id
    byte 6   : sequence number (the response echoes the request's)
    byte 7   : command id

Ops: 0 read, 1 read response, 2 write, 3 write response.

Errors (same specification, "Minimal response" and "Version 2 error response"):
general management errors (``MGMT_ERR``) are ``{"rc": n}`` (optionally ``"rsn"``);
errors that belong to a group are, for a v2 request, ``{"err": {"group": g, "rc": n}}``
and, for a v1 request, translated to a general code and sent as ``{"rc": n}``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import cbor2

HEADER = struct.Struct(">BBHHBB")
HEADER_SIZE = HEADER.size


class Op(IntEnum):
    READ = 0
    READ_RSP = 1
    WRITE = 2
    WRITE_RSP = 3


class MgmtErr(IntEnum):
    """General SMP error codes (Zephyr ``enum mcumgr_err_t``)."""

    EOK = 0
    EUNKNOWN = 1
    ENOMEM = 2
    EINVAL = 3
    ETIMEOUT = 4
    ENOENT = 5
    EBADSTATE = 6
    EMSGSIZE = 7
    ENOTSUP = 8
    ECORRUPT = 9
    EBUSY = 10
    EACCESSDENIED = 11
    UNSUPPORTED_TOO_OLD = 12
    UNSUPPORTED_TOO_NEW = 13


class HeaderError(ValueError):
    """The peer sent bytes that are not an SMP header (its fault, not ours)."""

    code = "smp.bad_header"


@dataclass(frozen=True)
class Header:
    op: int
    version: int
    flags: int
    length: int
    group: int
    seq: int
    command: int

    def pack(self) -> bytes:
        first = ((self.version & 0b11) << 3) | (self.op & 0b111)
        return HEADER.pack(first, self.flags, self.length, self.group, self.seq, self.command)

    @classmethod
    def parse(cls, data: bytes) -> Header:
        if len(data) < HEADER_SIZE:
            raise HeaderError(f"packet of {len(data)} bytes is shorter than the 8-byte header")
        first, flags, length, group, seq, command = HEADER.unpack_from(data)
        return cls(first & 0b111, (first >> 3) & 0b11, flags, length, group, seq, command)


@dataclass(frozen=True)
class Request:
    """A request taken off the link: its header and its decoded CBOR map."""

    header: Header
    body: dict[str, Any]

    @property
    def key(self) -> tuple[int, int, int]:
        """(group, command, op): what the dispatch table is indexed by."""
        return (self.header.group, self.header.command, self.header.op)


@dataclass
class GroupError(Exception):
    """An error that belongs to a group; ``v1`` is the general code sent to v1 clients."""

    group: int
    rc: int
    v1: MgmtErr
    reason: str = ""


@dataclass
class MgmtError(Exception):
    """A general management error, sent as ``{"rc": n, "rsn": reason}``."""

    rc: MgmtErr
    reason: str = ""


def encode_body(body: dict[str, Any]) -> bytes:
    """CBOR body in deterministic (core) encoding, RFC 8949 §4.2."""
    return cbor2.dumps(body, canonical=True)


def response(request_header: Header, body: dict[str, Any]) -> bytes:
    """A response packet: op + 1, same version, group, sequence and command."""
    data = encode_body(body)
    h = request_header
    rsp = Header(h.op | 1, h.version, 0, len(data), h.group, h.seq, h.command)
    return rsp.pack() + data


def error_body(request_header: Header, error: GroupError | MgmtError) -> dict[str, Any]:
    """The error map for this request's version (see the module docstring)."""
    if isinstance(error, GroupError):
        if request_header.version >= 1:
            return {"err": {"group": error.group, "rc": error.rc}}
        body: dict[str, Any] = {"rc": int(error.v1)}
    else:
        body = {"rc": int(error.rc)}
    if error.reason:
        body["rsn"] = error.reason
    return body
