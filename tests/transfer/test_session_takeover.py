"""Issue 9 defect 2: a session does not outlive its host.

The office program opens a session and dies without ending it; a second program opens
the same pty and tries every session route with a standard SMP client (no session
key). With the pty's hang-up detection the unit has already reset the link; with it
switched off (a line that cannot tell, as a UART without modem lines) the session is
still open on the unit, and the per-request MAC alone refuses the stranger."""

from __future__ import annotations

import pytest
from smp.error import MGMT_ERR
from smpclient import SMPClient
from smpclient.generics import error_v1, success
from smpclient.requests.os_management import DateTimeWrite, ResetWrite
from smpclient.transport.serial import SMPSerialTransport

from board.sim.link_port import PtyLinkPort
from firmware.office_link.events import ResetRequested, SessionClosed
from firmware.parts import Received
from host_tools.transfer_messages import FseAck, FseList, FsePull, LoadRange
from host_tools.unit_link import client as link

from .helpers import PROF, SimUnit, UnitPort, pair_host, run


class DeafPty(PtyLinkPort):
    """A pty that never reports the host opening or closing it: bytes only."""

    def poll(self, timeout):
        return [e for e in super().poll(timeout) if isinstance(e, Received)]


class DeafPort(UnitPort):
    pty_class = DeafPty


SESSION_ROUTES = [
    ("fse list", lambda ids: FseList()),
    ("fse pull", lambda ids: FsePull(id=ids[0], off=0)),
    ("fse ack", lambda ids: FseAck(acks=[[i, "stolen"] for i in ids])),
    ("clock write", lambda ids: DateTimeWrite(datetime="2030-01-01T00:00:00")),
    ("reset", lambda ids: ResetWrite()),
    ("range load", lambda ids: LoadRange(ranges=[["R9", PROF, 200_000, 200_100]])),
]


async def _first_office_dies_in_session(path: str, keys) -> list[str]:
    async with link.connect(path, 5) as client:
        await link.open_session(client, keys)
        listed = link.check(await client.request(FseList()))
        return [rec[0] for rec in listed.recs]
    # leaving the block closes the port without SESSION_END: the program died


async def _stranger(path: str, ids: list[str]) -> dict[str, object]:
    answers = {}
    async with SMPClient(SMPSerialTransport(), path, timeout_s=5) as client:
        for name, request in SESSION_ROUTES:
            answers[name] = await client.request(request(ids))
    return answers


@pytest.mark.parametrize("port_class", [UnitPort, DeafPort], ids=["line detected", "deaf line"])
def test_a_second_client_cannot_ride_the_dead_hosts_session(tmp_path, port_class):
    unit = SimUnit(tmp_path, 2, port_class=port_class)
    try:
        keys = run(pair_host(unit.path, tmp_path / "keys.json"))
        ids = run(_first_office_dies_in_session(unit.path, keys))
        assert sorted(ids) == sorted(unit.fses)
        if port_class is UnitPort:  # let the unit see the hang-up (a quicker stranger
            for _ in range(500):    # meets the MAC instead: the deaf-line case)
                if SessionClosed("reset") in unit.call(lambda: list(unit.port.events)):
                    break
        answers = run(_stranger(unit.path, ids))
        for name, answer in answers.items():
            assert error_v1(answer) and answer.rc == MGMT_ERR.EACCESSDENIED, (name, answer)
        rsn = {answer.rsn for answer in answers.values()}
        events = unit.call(lambda: list(unit.port.events))
        if port_class is UnitPort:  # the hang-up reset the link: no session any more
            assert SessionClosed("reset") in events
            assert rsn == {"pair and open a session first"}
        else:  # the session is still open on the unit: only the MAC keeps him out
            assert not any(isinstance(e, SessionClosed) for e in events)
            assert rsn == {"session request without a MAC"}
        assert not any(isinstance(e, ResetRequested) for e in events)
        # nothing the stranger asked for happened
        assert unit.statuses() == {i: ("signed", None) for i in unit.fses}
        assert unit.services.clock_writes == []
        # the office itself opens a new session and carries on
        async def office_again():
            async with link.connect(unit.path, 5) as client:
                await link.open_session(client, keys)
                answer = await client.request(FseList())
                await link.close_session(client)
                return answer
        assert success(run(office_again()))
    finally:
        unit.stop()
