"""The office's transport (host_tools/unit_link/transport.py) against a unit whose line
misbehaves: stale and garbled frames are skipped, a reply that is not the unit's
(no MAC, wrong MAC) is refused, and `tla` reports a garbled answer in one line."""

from __future__ import annotations

import asyncio

import cbor2
import pytest
from smp.exceptions import SMPBadStartDelimiter
from smpclient.requests.os_management import EchoWrite

from firmware.office_link.events import Send
from firmware.office_link.framing import FrameDecoder, encode_packet
from firmware.office_link.security import Identity, MemoryPairedHosts
from firmware.office_link.server import SMPServer
from host_tools import cli
from host_tools.unit_link import client as link
from host_tools.unit_link.keystore import HostKeys

from .helpers import FakeUnit
from .pty_unit import PtyUnit


class Line:
    """Sits between the unit's server and the runner and rewrites the unit's output."""

    def __init__(self, server, rewrite) -> None:
        self.server, self.rewrite = server, rewrite

    def receive_data(self, data, now):
        return [self.rewrite(a) if isinstance(a, Send) else a
                for a in self.server.receive_data(data, now)]

    def __getattr__(self, name):  # tick, link_reset, confirm/reject_pairing
        return getattr(self.server, name)


def stale_then_real(action: Send) -> Send:
    [packet] = FrameDecoder(1 << 16).feed(action.data)
    data = packet.data
    stale = data[:6] + bytes([(data[6] + 100) % 256]) + data[7:]  # another request's reply
    long_reply = encode_packet(data[:8] + bytes(1000))
    cut = long_reply[: long_reply.index(b"\n") + 1]  # a cable pulled after its first line
    return Send(b"\x06\x09!!not base64!!\n" + encode_packet(stale) + cut + action.data)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_stale_and_garbled_frames_before_the_answer_are_skipped():
    server = Line(SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit()), stale_then_real)

    async def body(path):
        async with link.connect(path, 5) as client:
            return [await link.echo(client, text) for text in ("un", "deux")]

    with PtyUnit(server) as unit:
        assert run(body(unit.path)) == ["un", "deux"]


def strip_mac(action: Send) -> Send:
    [packet] = FrameDecoder(1 << 16).feed(action.data)
    body = cbor2.loads(packet.data[8:])
    if "_mac" not in body or "err" in body or body.get("rc"):
        return action
    forged = {k: v for k, v in body.items() if k not in ("_mac", "_n")}
    payload = cbor2.dumps(forged)
    return Send(encode_packet(packet.data[:2] + len(payload).to_bytes(2, "big")
                              + packet.data[4:8] + payload))


def flip_mac(action: Send) -> Send:
    [packet] = FrameDecoder(1 << 16).feed(action.data)
    body = cbor2.loads(packet.data[8:])
    if "_mac" not in body:
        return action
    body["_mac"] = bytes([body["_mac"][0] ^ 1]) + body["_mac"][1:]
    payload = cbor2.dumps(body)
    return Send(encode_packet(packet.data[:2] + len(payload).to_bytes(2, "big")
                              + packet.data[4:8] + payload))


@pytest.mark.parametrize("rewrite, code", [(strip_mac, "link.reply_not_authenticated"),
                                           (flip_mac, "link.bad_reply_mac")])
def test_a_session_reply_that_is_not_the_units_is_refused(tmp_path, rewrite, code):
    keys = HostKeys.load_or_create(tmp_path / "keys.json")
    inner = SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit())
    forging = {"on": False}
    server = Line(inner, lambda a: rewrite(a) if forging["on"] else a)

    async def body(path):
        async with link.connect(path, 5) as client:
            await link.pair(client, keys, lambda code: None, poll_s=0.05)
            await link.open_session(client, keys)
            forging["on"] = True  # from here someone on the line answers for the unit
            with pytest.raises(link.LinkRefused) as refused:
                await link.unit_info(client)
            return refused.value.code

    with PtyUnit(server, auto_confirm=True) as unit:
        assert run(body(unit.path)) == code


def test_tla_reports_a_garbled_answer_in_one_line(tmp_path, capsys, monkeypatch):
    server = SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit())

    async def garbled(client, keys):
        raise SMPBadStartDelimiter("Bad start delimiter 0a0d")

    monkeypatch.setattr(link, "open_session", garbled)
    with PtyUnit(server) as unit:
        code = cli.main(["--keys", str(tmp_path / "k.json"), "info", "--port", unit.path])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [
        f"error: unexpected answer on {unit.path}: SMPBadStartDelimiter: Bad start delimiter 0a0d"]


def test_a_prepared_request_goes_out_sealed_as_prepared_and_an_unused_one_costs_a_counter(
        tmp_path):
    keys = HostKeys.load_or_create(tmp_path / "keys.json")
    inner = SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit())
    counters: list[int] = []

    def note_counter(action: Send) -> Send:  # the counter each sealed reply answers
        [packet] = FrameDecoder(1 << 16).feed(action.data)
        counters.append(cbor2.loads(packet.data[8:]).get("_n", 0))
        return action

    async def body(path):
        async with link.connect(path, 5) as client:
            await link.pair(client, keys, lambda code: None, poll_s=0.05)
            await link.open_session(client, keys)
            transport = link._transport(client)
            counters.clear()
            unused, used = EchoWrite(d="jamais"), EchoWrite(d="prête")
            transport.prepare(unused.BYTES)  # then another request goes out instead
            answers = [link.check(await client.request(EchoWrite(d="un"))).r]
            transport.prepare(used.BYTES)
            answers.append(link.check(await client.request(used)).r)
            return answers

    with PtyUnit(Line(inner, note_counter), auto_confirm=True) as unit:
        assert run(body(unit.path)) == ["un", "prête"]
    # "un" went out with counter 2 (1 was the unused one's), the prepared one with 3
    assert counters == [2, 3]
