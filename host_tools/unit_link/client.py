"""Talking to a unit from the office PC: pairing, sessions and the first commands.

All calls take a connected ``smpclient.SMPClient``::

    async with connect(port) as client:
        await open_session(client, keys)
        info = await unit_info(client)
        await close_session(client)

Errors from the unit become :class:`LinkRefused` with a stable ``code``
(``mgmt.eaccessdenied``, ``security.not_paired``...) and an English message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smp import error as smperr
from smpclient import SMPClient
from smpclient.generics import error_v1, error_v2, success
from smpclient.requests.os_management import DateTimeRead, DateTimeWrite, EchoWrite

from firmware.office_link import security as sec
from firmware.office_link.chunks import DataErr
from firmware.office_link.groups import format_datetime
from firmware.office_link.pairing import SecurityErr

from .errors import LinkRefused
from .keystore import HostKeys, KnownUnit
from .messages import (
    PairBegin,
    PairFinish,
    SessionAuth,
    SessionBegin,
    SessionEnd,
    UnitInfoRead,
    UnitInfoResponse,
)
from .transport import LinkTransport


def check(response: Any) -> Any:
    """Return a success response; raise :class:`LinkRefused` for an error response."""
    if success(response):
        return response
    if error_v1(response):
        rc = smperr.MGMT_ERR(response.rc)
        reason = f": {response.rsn}" if response.rsn else ""
        raise LinkRefused(f"mgmt.{rc.name.lower()}", f"unit refused ({rc.name}{reason})")
    if error_v2(response):
        group, rc = int(response.err.group), response.err.rc
        name = rc.name if hasattr(rc, "name") else str(rc)
        explained = _EXPLAIN.get((group, int(rc)), f"group {group}, {name}")
        raise LinkRefused(f"group{group}.{name.lower()}", f"unit refused: {explained}")
    raise LinkRefused("link.unexpected", f"unexpected response {response!r}")


DATA_GROUPS = (82, 83, 84, 85)  # load, Vitale reads, FSE, traces (docs/protocol.md §3)

_EXPLAIN: dict[tuple[int, int], str] = {
    (80, SecurityErr.PAIRING_PENDING): "waiting for Valider on the unit",
    (80, SecurityErr.PAIRING_REJECTED): "pairing was refused on the unit",
    (80, SecurityErr.NO_PAIRING): "no pairing in progress (it expired?)",
    (80, SecurityErr.PAIRING_BUSY): "another PC is pairing with the unit",
    (80, SecurityErr.NOT_PAIRED): "this PC is not paired with the unit (run: tla pair)",
    (80, SecurityErr.BAD_SIGNATURE): "authentication failed",
    (80, SecurityErr.NO_CHALLENGE): "authentication expired, try again",
    (80, SecurityErr.BAD_KEY): "the unit rejected this PC's key",
    (80, SecurityErr.LOCKED_OUT): "too many failed attempts, wait a minute",
    (0, 4): "the unit's clock is not set (run: tla clock set)",
    (0, 5): "the unit could not write its clock",
    **{(g, DataErr.LOCKED): "unlock the unit with the CPS and its PIN first" for g in DATA_GROUPS},
    **{(g, DataErr.NOT_PROVISIONED): "the unit has no keys yet (run: tla pair)"
       for g in DATA_GROUPS},
    (82, DataErr.STORE_FULL): "the unit's storage is full: unload its FSEs first (tla unload)",
    (82, DataErr.BAD_SIGNATURE): "the unit refused this PC's signature of a record "
                                 "(is this PC the unit's paired office? run: tla pair)",
}


@contextlib.asynccontextmanager
async def connect(port: str, timeout_s: float = 2.5) -> AsyncIterator[SMPClient]:
    """An SMPClient on a serial port through :class:`LinkTransport` (stale replies
    skipped, session requests sealed); reads MCUmgr params first, as smpclient does."""
    client = SMPClient(LinkTransport(), port, timeout_s=timeout_s)
    await client.connect()
    try:
        yield client
    finally:
        await client.disconnect()


async def echo(client: SMPClient, text: str) -> str:
    return check(await client.request(EchoWrite(d=text))).r


@dataclass(frozen=True)
class PairingResult:
    unit: KnownUnit
    code: str


async def pair(
    client: SMPClient,
    keys: HostKeys,
    show_code: Callable[[str], None],
    *,
    wait_s: float = 120.0,
    poll_s: float = 0.5,
) -> PairingResult:
    """Pair with the unit: shows the code, waits for Valider at the unit, stores its keys."""
    me = keys.identity
    hn = os.urandom(sec.NONCE_SIZE)
    commitment = sec.pairing_commitment(me.id, me.kx_public, hn)  # hn stays secret until un is fixed
    begun = check(await client.request(PairBegin(hid=me.id, hkx=me.kx_public, hc=commitment,
                                                 name=keys.name)))
    transcript = sec.pairing_transcript(begun.uid, begun.ukx, me.id, me.kx_public, begun.un, hn)
    code = sec.pairing_code(me.shared_secret(begun.ukx), transcript)
    show_code(code)
    signature = me.sign(sec.LABEL_PAIR_HOST, transcript)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(wait_s, float(begun.ttl))
    while True:
        response = await client.request(PairFinish(hn=hn, sig=signature))
        pending = error_v2(response) and response.err.rc == SecurityErr.PAIRING_PENDING
        if not pending:
            break
        if loop.time() >= deadline:
            raise LinkRefused("security.timeout", "nobody pressed Valider on the unit in time")
        await asyncio.sleep(poll_s)
    response = check(response)
    if not sec.verify(begun.uid, sec.LABEL_PAIR_UNIT, transcript, response.sig):
        raise LinkRefused("security.bad_unit_signature", "the unit's pairing signature is wrong")
    unit = KnownUnit(begun.uid, begun.ukx)
    keys.remember(unit)
    return PairingResult(unit, code)


async def open_session(client: SMPClient, keys: HostKeys) -> KnownUnit:
    """Challenge-response with a paired unit; afterwards every request and reply on
    this client carries the session's MAC (``firmware/office_link/mac.py``)."""
    transport = _transport(client)
    transport.end_session()  # a new challenge ends any session the unit had
    me = keys.identity
    hn = os.urandom(sec.NONCE_SIZE)
    challenge = check(await client.request(SessionBegin(hid=me.id, hn=hn)))
    unit = keys.units.get(challenge.uid)
    if unit is None:
        raise LinkRefused("security.unknown_unit", "this unit is not paired with this PC (tla pair)")
    transcript = sec.session_transcript(unit.uid, me.id, challenge.un, hn)
    if not sec.verify(unit.uid, sec.LABEL_SESSION_UNIT, transcript, challenge.sig):
        raise LinkRefused("security.bad_unit_signature", "the unit failed to prove its identity")
    key = sec.session_key(me.shared_secret(unit.kx_public), transcript)
    proof = SessionAuth(sig=me.sign(sec.LABEL_SESSION_HOST, transcript), kc=sec.key_confirmation(key))
    check(await client.request(proof))
    transport.start_session(key)  # every request from now on carries a MAC
    return unit


async def close_session(client: SMPClient) -> None:
    try:
        check(await client.request(SessionEnd()))
    finally:
        _transport(client).end_session()


def _transport(client: SMPClient) -> LinkTransport:
    transport = client._transport
    if not isinstance(transport, LinkTransport):
        raise TypeError("sessions need a client made by host_tools.unit_link.client.connect")
    return transport


async def unit_info(client: SMPClient) -> UnitInfoResponse:
    return check(await client.request(UnitInfoRead()))


async def set_clock(client: SMPClient, when: datetime | None = None) -> str:
    """Set the unit's clock (UTC; default: this PC's clock). Returns the text sent."""
    text = format_datetime(when or datetime.now(UTC))
    check(await client.request(DateTimeWrite(datetime=text)))
    return text


async def read_clock(client: SMPClient) -> str:
    return check(await client.request(DateTimeRead())).datetime
