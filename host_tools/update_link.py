"""The office side of the image group (SMP group 1, Zephyr's ``img_mgmt``): what
``tla update`` says to a unit (docs/update-office.md).

    async with link.connect(port) as client:
        await link.open_session(client, keys)           # upload, test and reset need it
        await upload(client, image, progress=show)      # resumes where the unit stopped
        await mark_test(client, image_hash)
        await reset(client)
    outcome = await wait_for_outcome(port, image_hash, wait_s=120)

Every call raises :class:`~host_tools.unit_link.errors.LinkRefused` with the unit's code
(``group1.<name>``, ``mgmt.<name>``) when the unit says no.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass

import cbor2
from smp.exceptions import SMPException
from smpclient import SMPClient
from smpclient.exceptions import SMPClientException
from smpclient.requests.image_management import ImageStatesRead, ImageStatesWrite, ImageUploadWrite
from smpclient.requests.os_management import ResetWrite
from smpclient.transport import SMPTransportDisconnected

from firmware.office_link.header import HEADER_SIZE, Header, Op

from .unit_link import client as link
from .unit_link.errors import LinkRefused

GROUP_IMAGE = 1
SLOT_INFO = 6  # Zephyr img_mgmt command 6 (smp has no model for it)
FIRST_PACKET_TIMEOUT_S = 30.0  # the unit may erase its other slot before answering
LAST_PACKET_TIMEOUT_S = 60.0  # ... and checks the whole image before the last answer
STALLED_ANSWERS = 3  # the same offset this many times in a row: the unit is stuck

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SlotState:
    """One slot as state read reports it (docs/update-office.md, Status)."""

    image: int
    slot: int
    version: str
    hash: bytes
    bootable: bool
    pending: bool
    confirmed: bool
    active: bool
    permanent: bool

    @property
    def flags(self) -> str:
        names = ("active", "confirmed", "pending", "bootable", "permanent")
        return " ".join(n for n in names if getattr(self, n)) or "-"


async def read_states(client: SMPClient) -> list[SlotState]:
    """Image state read: open to any host, as echo (the unit need not be paired)."""
    answer = link.check(await client.request(ImageStatesRead()))
    return [SlotState(int(s.image or 0), int(s.slot), str(s.version), bytes(s.hash or b""),
                      bool(s.bootable), bool(s.pending), bool(s.confirmed), bool(s.active),
                      bool(s.permanent)) for s in answer.images]


# ---- slot info (command 6) --------------------------------------------------------------
async def slot_info(client: SMPClient) -> list[dict]:
    """Slot info: per image ``{"image", "slots": [{"slot", "size"}...], "max_image_size"}``.

    The ``smp`` package refuses command 6 of group 1 (it knows commands 0-5 only), so
    this request is written by hand: the header, an empty CBOR map, and the reply read
    back through the same transport (stale replies skipped, as for every request)."""
    body = cbor2.dumps({})
    header = Header(Op.READ, 1, 0, len(body), GROUP_IMAGE, _next_seq(), SLOT_INFO)
    frame = await asyncio.wait_for(client._transport.send_and_receive(header.pack() + body),
                                   client._timeout_s)
    answer = cbor2.loads(frame[HEADER_SIZE:]) if len(frame) > HEADER_SIZE else {}
    if not isinstance(answer, dict):
        raise LinkRefused("update.bad_answer", "slot info: the answer is not a map")
    rc, err = answer.get("rc", 0), answer.get("err")
    if rc or err:
        code = f"group1.rc{err.get('rc')}" if isinstance(err, dict) else f"mgmt.rc{rc}"
        raise LinkRefused(code, f"unit refused slot info ({code})")
    images = answer.get("images", [])
    return [i for i in images if isinstance(i, dict)] if isinstance(images, list) else []


_SEQ = [0x80]


def _next_seq() -> int:
    _SEQ[0] = (_SEQ[0] + 1) & 0xFF
    return _SEQ[0]


# ---- upload ------------------------------------------------------------------------------
def _packet(client: SMPClient, image: bytes, off: int, sha: bytes, upgrade: bool,
            rooms: dict[tuple[bool, int], int]) -> ImageUploadWrite:
    """The upload request at ``off``, as much data as the unit's buffer takes.

    At ``off`` 0 (a new upload, or the unit asking to start over) the request carries
    ``image``, ``len``, ``sha`` and ``upgrade``, as the Zephyr spec wants; later ones
    only ``off`` and ``data``. ``rooms`` keeps the room for data per kind of request
    (first or not, and the CBOR size of ``off``: all that changes it on one link)."""
    def request(data: bytes) -> ImageUploadWrite:
        if off == 0:
            return ImageUploadWrite(off=0, data=data, image=0, len=len(image), sha=sha,
                                    upgrade=upgrade)
        return ImageUploadWrite(off=off, data=data)

    kind = (off == 0, len(cbor2.dumps(off)))
    if kind not in rooms:
        rooms[kind] = client.get_max_cbor_and_data_size(request(b""))[1]
    room = rooms[kind]
    if room <= 0:
        raise LinkRefused("update.buffer_too_small",
                          "the unit's SMP buffer leaves no room for upload data")
    return request(image[off:off + room])


async def upload(client: SMPClient, image: bytes, *, upgrade: bool = True,
                 answer_s: float = 2.5, progress: Progress | None = None) -> int:
    """Upload ``image`` to the unit's other slot; returns the offset the unit started
    from (0 for a fresh upload, more when it resumed an upload a cut cable stopped).

    The first packet always goes out at offset 0 with the file's SHA-256: a unit that
    holds part of this very file answers with the offset it has (Zephyr's upload
    continuation), and the upload goes on from there. ``upgrade`` asks the unit to
    refuse a version that is not newer than the running one."""
    sha = hashlib.sha256(image).digest()
    off, started, same = 0, -1, 0
    rooms: dict[tuple[bool, int], int] = {}
    request = _packet(client, image, off, sha, upgrade, rooms)
    while True:
        end = off + len(request.data) >= len(image)
        timeout: float | None = (FIRST_PACKET_TIMEOUT_S if off == 0
                                 else LAST_PACKET_TIMEOUT_S if end else None)
        timeout = answer_s if timeout is None else max(timeout, answer_s)
        answer, following = await _request_ahead(
            client, request, timeout, None if end else
            functools.partial(_packet, client, image, off + len(request.data), sha, upgrade,
                              rooms))
        answer = link.check(answer)
        got = answer.off
        if got is None or not 0 <= got <= len(image):
            raise LinkRefused("update.bad_offset", f"the unit answered offset {got!r} for an "
                              f"upload of {len(image)} bytes")
        if started < 0:  # the first answer: past this packet's data, or where the unit was
            started = 0 if got == off + len(request.data) else got
        same = same + 1 if got == off and got != 0 else 0
        if same >= STALLED_ANSWERS:
            raise LinkRefused("update.stalled", f"the unit keeps answering offset {got}")
        off = got
        if progress is not None:
            progress(off, len(image))
        if off == len(image):
            if answer.match is False:
                raise LinkRefused("update.sha_mismatch", "the unit's copy does not match the "
                                  "bundle's SHA-256 (run tla update again)")
            return started
        request = (following if following is not None and following.off == off
                   else _packet(client, image, off, sha, upgrade, rooms))


async def _request_ahead(client: SMPClient, request: ImageUploadWrite, timeout: float,
                         ahead: Callable[[], ImageUploadWrite] | None
                         ) -> tuple[object, ImageUploadWrite | None]:
    """``request``'s answer, and the request ``ahead`` makes, sealed and framed by the
    transport while the unit reads and answers this one (the unit and the office then
    work at the same time; SMP over serial still has one request on the line)."""
    pending = asyncio.ensure_future(client.request(request, timeout_s=timeout))
    try:
        following = None
        if ahead is not None:
            await asyncio.sleep(0)  # the request runs until it waits for the answer
            following = ahead()
            prepare = getattr(client._transport, "prepare", None)
            if prepare is not None and not pending.done():
                prepare(following.BYTES)
        return await pending, following
    finally:
        if not pending.done():
            pending.cancel()


async def mark_test(client: SMPClient, image_hash: bytes) -> list[SlotState]:
    """State write ``{hash, confirm: false}``: boot that image once, on the next reset;
    the unit confirms it itself after its health check."""
    link.check(await client.request(ImageStatesWrite(hash=image_hash, confirm=False)))
    return await read_states(client)


async def reset(client: SMPClient) -> None:
    """OS reset (session route): the unit restarts into the image marked for test."""
    link.check(await client.request(ResetWrite()))


# ---- after the reset -----------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What the unit runs once it decided: the new image confirmed, or rolled back."""

    confirmed: bool
    active: SlotState | None
    states: list[SlotState]
    line_went_down: bool


def decide(states: list[SlotState], image_hash: bytes) -> bool | None:
    """True: the new image runs, confirmed. False: the unit runs another image and the
    new one is no longer pending (rolled back, or refused at boot). None: not yet
    (still pending before the reset, or running on test before its health check)."""
    active = next((s for s in states if s.active), None)
    new = next((s for s in states if s.hash == image_hash), None)
    if active is not None and active.hash == image_hash:
        return True if active.confirmed else None
    if new is not None and new.pending:
        return None
    return False


# what a unit restarting, or a port that vanished and is not back, raises on connect or read
LINE_DOWN = (OSError, TimeoutError, SMPTransportDisconnected, SMPClientException, SMPException,
             struct.error, ValueError)


async def wait_for_outcome(port: str, image_hash: bytes, *, wait_s: float, answer_s: float,
                           poll_s: float = 0.5,
                           on_line: Callable[[str], None] | None = None) -> Outcome:
    """Poll state read on ``port`` (reconnecting: the unit drops the line when it
    restarts, a USB port vanishes and comes back) until :func:`decide` says, or
    ``wait_s`` ends (``LinkRefused`` ``update.no_outcome``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    down = went_down = False
    last: list[SlotState] = []
    while loop.time() < deadline:
        try:
            async with link.connect(port, answer_s) as client:
                last = await read_states(client)
        except LINE_DOWN:
            if not down and on_line is not None:
                on_line("down")
            down = went_down = True
            await asyncio.sleep(poll_s)
            continue
        if down and on_line is not None:
            on_line("up")
            down = False
        verdict = decide(last, image_hash)
        if verdict is not None:
            active = next((s for s in last if s.active), None)
            return Outcome(verdict, active, last, went_down)
        await asyncio.sleep(poll_s)
    with contextlib.suppress(StopIteration):
        active = next(s for s in last if s.active)
        raise LinkRefused("update.no_outcome", f"the unit did not confirm the new image within "
                          f"{wait_s:g} s (it runs {active.version}; tla update --status)")
    raise LinkRefused("update.no_outcome", f"the unit did not come back within {wait_s:g} s")
