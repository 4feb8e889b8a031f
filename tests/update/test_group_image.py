"""The image group (SMP group 1) over a pty with plain smpclient: state read, the
update-mode gate, upload with resume after a cut, match, and refusals that change
nothing."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from smp.error import MGMT_ERR
from smp.image_management import IMG_MGMT_ERR
from smpclient import SMPClient
from smpclient.generics import error_v1, error_v2, success
from smpclient.requests.image_management import (
    ImageErase,
    ImageStatesRead,
    ImageStatesWrite,
    ImageUploadWrite,
)
from smpclient.requests.os_management import ResetWrite
from smpclient.transport.serial import SMPSerialTransport

from firmware.office_link.group_image import ImageGroup
from firmware.office_link.security import Identity, MemoryPairedHosts
from firmware.office_link.server import SMPServer
from firmware.update.bundle import builtin_keys
from firmware.update.service import UpdateService
from firmware.update.slots import SlotInfo, SlotStore
from host_tools.unit_link import client as link
from host_tools.unit_link.keystore import HostKeys
from tests.link.helpers import FakeUnit
from tests.link.pty_unit import PtyUnit

from .helpers import imgtool, make_bundle

FACTORY = SlotInfo("0.1.0", "11" * 32)


@pytest.fixture
def unit(tmp_path):
    slots = SlotStore(tmp_path / "update", FACTORY)
    service = UpdateService(slots, "a", builtin_keys(), board="sim")
    server = SMPServer(Identity.generate(), MemoryPairedHosts(), FakeUnit(),
                       groups=[ImageGroup(service)], update_open=service.mode.active)
    with PtyUnit(server, auto_confirm=True) as p:
        p.service, p.slots = service, slots  # type: ignore[attr-defined]
        yield p


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def client_do(path, body):
    async with SMPClient(SMPSerialTransport(), path, timeout_s=10) as client:
        return await body(client)


def test_only_state_read_and_slot_info_are_public():
    group = ImageGroup(None)  # type: ignore[arg-type]
    routes = {(r.command, r.op): r.access.value for r in group.routes()}
    assert routes == {(0, 0): "public", (6, 0): "public", (0, 2): "update", (1, 2): "update",
                      (5, 2): "update"}


def test_state_read_is_open_and_writes_need_session_or_update_mode(unit, tmp_path):
    data = make_bundle(tmp_path, "0.2.0").read_bytes()

    async def body(client: SMPClient):
        state = await client.request(ImageStatesRead())
        assert success(state)
        [image] = state.images
        assert (image.slot, image.version, image.hash) == (0, "0.1.0", bytes.fromhex("11" * 32))
        assert image.active and image.confirmed and image.permanent and not image.pending
        for request in (ImageUploadWrite(off=0, data=data[:100], len=len(data), image=0),
                        ImageStatesWrite(hash=bytes(32)), ImageErase(), ResetWrite()):
            refused: Any = await client.request(request)
            assert error_v1(refused) and refused.rc == MGMT_ERR.EACCESSDENIED
            assert refused.rsn and "update mode" in refused.rsn

    run(client_do(unit.path, body))
    assert not unit.slots.staging.exists() and unit.slots.load().slots["b"] is None


def test_upload_in_update_mode_resumes_after_a_cut_and_matches(unit, tmp_path):
    data = make_bundle(tmp_path, "0.2.0").read_bytes()
    sha = hashlib.sha256(data).digest()
    unit.call(lambda: unit.service.mode.open(unit.runner.clock()))
    first = 1000

    async def cut(client: SMPClient):  # the first packet, then the cable is pulled
        r = await client.request(ImageUploadWrite(off=0, data=data[:first], len=len(data),
                                                  image=1, sha=sha))
        assert success(r) and r.off == first

    run(client_do(unit.path, cut))

    async def resume(client: SMPClient):
        offsets = [off async for off in client.upload(data, slot=1)]
        return offsets

    offsets = run(client_do(unit.path, resume))
    assert offsets[0] == first  # the unit answered the first packet with where it was
    assert offsets[-1] == len(data)
    state = unit.slots.load()
    assert state.slots["b"].version == "0.2.0"
    expected = imgtool("verify", str(tmp_path / "opentla-0.2.0-sim-dev-ed25519.bin")).stdout
    assert state.slots["b"].hash in expected  # the image's SHA256 TLV, as imgtool reads it
    assert (unit.slots.slot_dir("b") / "site" / "firmware" / "slot_marker.py").is_file()

    async def test_it(client: SMPClient):
        r = await client.request(ImageStatesWrite(hash=bytes.fromhex(state.slots["b"].hash)))
        assert success(r)
        by_slot = {i.slot: i for i in r.images}
        assert by_slot[1].pending and not by_slot[1].active and by_slot[0].active

    run(client_do(unit.path, test_it))
    assert unit.slots.load().pending == "b"


def test_wrong_offset_gets_the_current_one(unit, tmp_path):
    data = make_bundle(tmp_path, "0.2.0").read_bytes()
    unit.call(lambda: unit.service.mode.open(unit.runner.clock()))

    async def body(client: SMPClient):
        r = await client.request(ImageUploadWrite(off=0, data=data[:300], len=len(data)))
        assert success(r) and r.off == 300
        r = await client.request(ImageUploadWrite(off=900, data=data[900:1000]))
        assert success(r) and r.off == 300
        while r.off < len(data):
            r = await client.request(ImageUploadWrite(off=r.off, data=data[r.off:r.off + 1500]))
            assert success(r)
        assert r.off == len(data) and r.match is True

    run(client_do(unit.path, body))
    assert unit.slots.load().slots["b"].version == "0.2.0"


@pytest.mark.parametrize("case, rc", [
    ("other_key", IMG_MGMT_ERR.INVALID_TLV),
    ("other_board", IMG_MGMT_ERR.INVALID_FLASH_ADDRESS),
    ("older", IMG_MGMT_ERR.CURRENT_VERSION_IS_NEWER),
    ("truncated", IMG_MGMT_ERR.INVALID_IMAGE_HEADER),
    ("not_newer_upgrade", IMG_MGMT_ERR.CURRENT_VERSION_IS_NEWER),
])
def test_refused_bundles_change_nothing(unit, tmp_path, case, rc):
    if case == "other_key":
        key = tmp_path / "k.pem"
        imgtool("keygen", "-k", str(key), "-t", "ed25519")
        data = make_bundle(tmp_path, "0.2.0", key=key).read_bytes()
    elif case == "other_board":
        data = make_bundle(tmp_path, "0.2.0", boards=("pi",)).read_bytes()
    elif case == "older":
        data = make_bundle(tmp_path, "0.0.9").read_bytes()
    elif case == "truncated":
        data = make_bundle(tmp_path, "0.2.0").read_bytes()[:-30]
    else:
        data = make_bundle(tmp_path, "0.1.0").read_bytes()
    before = unit.slots.load()
    unit.call(lambda: unit.service.mode.open(unit.runner.clock()))

    async def body(client: SMPClient):
        upgrade = case == "not_newer_upgrade"
        r: Any = await client.request(ImageUploadWrite(off=0, data=data[:200], len=len(data),
                                                       upgrade=upgrade))
        while success(r) and r.off < len(data):
            r = await client.request(ImageUploadWrite(off=r.off, data=data[r.off:r.off + 1500]))
        return r

    r = run(client_do(unit.path, body))
    assert error_v2(r) and r.err.group == 1 and r.err.rc == rc
    assert unit.slots.load() == before
    assert not unit.slots.staging.exists() and not unit.slots.slot_dir("b").exists()


def test_a_paired_host_in_its_session_may_upload_without_update_mode(unit, tmp_path):
    data = make_bundle(tmp_path, "0.2.0").read_bytes()
    keys = HostKeys.load_or_create(tmp_path / "keys.json")

    async def body(client: SMPClient):
        await link.pair(client, keys, lambda code: None, poll_s=0.05)
        await link.open_session(client, keys)  # every request now carries the session MAC
        r: Any = await client.request(ImageUploadWrite(off=0, data=data[:1500], len=len(data),
                                                       sha=hashlib.sha256(data).digest()))
        offsets = [r.off]
        while success(r) and r.off < len(data):
            r = await client.request(ImageUploadWrite(off=r.off, data=data[r.off:r.off + 1500]))
            offsets.append(r.off)
        assert r.match is True
        state = await client.request(ImageStatesRead())
        await link.close_session(client)
        after = await client.request(ImageErase())
        return offsets, state, after

    offsets, state, after = run(asyncio.wait_for(_office(unit.path, body), 60))
    assert offsets[-1] == len(data) and not unit.service.mode.active()
    assert {i.slot: i.version for i in state.images} == {0: "0.1.0", 1: "0.2.0"}
    assert error_v1(after) and after.rc == MGMT_ERR.EACCESSDENIED  # the session ended
    assert unit.slots.load().slots["b"].version == "0.2.0"


async def _office(path, body):
    async with link.connect(path, 5) as client:
        return await body(client)


def test_erase_takes_the_other_slot_only_and_slot_info_answers(unit, tmp_path):
    data = make_bundle(tmp_path, "0.2.0").read_bytes()
    unit.call(lambda: unit.service.mode.open(unit.runner.clock()))

    async def body(client: SMPClient):
        r: Any = await client.request(ImageUploadWrite(off=0, data=data[:1500], len=len(data)))
        while r.off < len(data):
            r = await client.request(ImageUploadWrite(off=r.off, data=data[r.off:r.off + 1500]))
        running: Any = await client.request(ImageErase(slot=0))
        other = await client.request(ImageErase())
        state: Any = await client.request(ImageStatesRead())
        return running, other, state

    running, other, state = run(client_do(unit.path, body))
    assert error_v2(running) and running.err.rc == IMG_MGMT_ERR.INVALID_SLOT
    assert success(other) and [i.slot for i in state.images] == [0]
    assert not unit.slots.slot_dir("b").exists() and unit.slots.load().slots["b"] is None
    # slot info (cmd 6; neither smp nor smpclient has a request for it): both slots
    info = ImageGroup(unit.service).slot_info(None, None)
    assert info == {"images": [{"image": 0, "max_image_size": 64 << 20, "slots": [
        {"slot": 0, "size": 64 << 20}, {"slot": 1, "size": 64 << 20}]}]}
