"""SMP request/response models for the OpenTLA user groups, in smpclient's pattern.

Each request class names its ``_Response``, ``_ErrorV1`` and ``_ErrorV2`` so
``SMPClient.request`` returns a typed, validated object (see ``smpclient.generics``).
Group and command numbers come from the firmware modules, so both ends agree.
"""

from __future__ import annotations

from smp import error as smperr
from smp import message as smpmsg

from firmware.office_link.groups import GROUP_UNIT, UnitCommand
from firmware.office_link.pairing import GROUP_SECURITY, SecurityCommand, SecurityErr


class SecurityErrorV1(smperr.ErrorV1):
    _GROUP_ID = GROUP_SECURITY


class SecurityErrorV2(smperr.ErrorV2[SecurityErr]):
    _GROUP_ID = GROUP_SECURITY


class _Security:
    _ErrorV1 = SecurityErrorV1
    _ErrorV2 = SecurityErrorV2


# ---- pairing -------------------------------------------------------------------------
class PairBeginRequest(smpmsg.WriteRequest):
    _GROUP_ID = GROUP_SECURITY
    _COMMAND_ID = SecurityCommand.PAIR_BEGIN

    hid: bytes  # host Ed25519 public key
    hkx: bytes  # host X25519 public key
    hc: bytes  # commitment to the host nonce: SHA-256("OpenTLA pairing commit v1" | hid | hkx | hn)
    name: str  # host name shown on the unit


class PairBeginResponse(smpmsg.WriteResponse):
    _GROUP_ID = GROUP_SECURITY
    _COMMAND_ID = SecurityCommand.PAIR_BEGIN

    uid: bytes
    ukx: bytes
    un: bytes
    ttl: int


class PairBegin(PairBeginRequest, _Security):
    _Response = PairBeginResponse


class PairFinishRequest(smpmsg.WriteRequest):
    _GROUP_ID = GROUP_SECURITY
    _COMMAND_ID = SecurityCommand.PAIR_FINISH

    hn: bytes  # the host nonce, revealed now that the unit's nonce is fixed
    sig: bytes


class PairFinishResponse(smpmsg.WriteResponse):
    _GROUP_ID = GROUP_SECURITY
    _COMMAND_ID = SecurityCommand.PAIR_FINISH

    sig: bytes


class PairFinish(PairFinishRequest, _Security):
    _Response = PairFinishResponse


# ---- session -------------------------------------------------------------------------
class SessionBeginRequest(smpmsg.WriteRequest):
    _GROUP_ID = GROUP_SECURITY
    _COMMAND_ID = SecurityCommand.SESSION_BEGIN

    hid: bytes
    hn: bytes


class SessionBeginResponse(smpmsg.WriteResponse):
    _GROUP_ID = GROUP_SECURITY
    _COMMAND_ID = SecurityCommand.SESSION_BEGIN

    uid: bytes
    un: bytes
    sig: bytes


class SessionBegin(SessionBeginRequest, _Security):
    _Response = SessionBeginResponse


class SessionAuthRequest(smpmsg.WriteRequest):
    _GROUP_ID = GROUP_SECURITY
    _COMMAND_ID = SecurityCommand.SESSION_AUTH

    sig: bytes
    kc: bytes


class SessionAuthResponse(smpmsg.WriteResponse):
    _GROUP_ID = GROUP_SECURITY
    _COMMAND_ID = SecurityCommand.SESSION_AUTH

    ttl: int


class SessionAuth(SessionAuthRequest, _Security):
    _Response = SessionAuthResponse


class SessionEndRequest(smpmsg.WriteRequest):
    _GROUP_ID = GROUP_SECURITY
    _COMMAND_ID = SecurityCommand.SESSION_END


class SessionEndResponse(smpmsg.WriteResponse):
    _GROUP_ID = GROUP_SECURITY
    _COMMAND_ID = SecurityCommand.SESSION_END


class SessionEnd(SessionEndRequest, _Security):
    _Response = SessionEndResponse


# ---- unit ----------------------------------------------------------------------------
class UnitErrorV1(smperr.ErrorV1):
    _GROUP_ID = GROUP_UNIT


class UnitErrorV2(smperr.ErrorV2[smperr.MGMT_ERR]):
    _GROUP_ID = GROUP_UNIT


class UnitInfoRequest(smpmsg.ReadRequest):
    _GROUP_ID = GROUP_UNIT
    _COMMAND_ID = UnitCommand.INFO


class UnitInfoResponse(smpmsg.ReadResponse):
    _GROUP_ID = GROUP_UNIT
    _COMMAND_ID = UnitCommand.INFO

    serial: str
    fw: str
    seal: str
    clock: str
    store_used: int
    store_total: int
    locked: bool
    battery: int | None = None
    board: str | None = None


class UnitInfoRead(UnitInfoRequest):
    _Response = UnitInfoResponse
    _ErrorV1 = UnitErrorV1
    _ErrorV2 = UnitErrorV2
