"""smpclient's serial transport, made safe for a unit's session.

Three things on top of :class:`smpclient.transport.serial.SMPSerialTransport`:

- **stale bytes are dropped**: the input buffer is flushed when the port opens
  (smpclient does it) and this transport's own buffers are cleared, so a reply meant
  for a previous client is never taken for ours;
- **resynchronisation**: a frame that does not decode (the unit's own rules,
  :class:`firmware.office_link.framing.FrameDecoder`: bad delimiter, base64 or CRC, a
  cut frame...) or a reply that does not answer the request just sent (other
  sequence, group or command) is skipped, and reading goes on until the right reply
  or the request's timeout;
- **no polling**: a request's frame goes out in one write, and its reply is read as
  soon as the port has bytes (the base class sleeps 5 ms between empty reads);
- **session MACs** (``firmware/office_link/mac.py``, docs/protocol.md): once
  :meth:`start_session` has the session key, every request is sealed with the next
  counter and every reply must carry the unit's MAC over that counter; a success reply
  without one, or with a wrong one, raises :class:`LinkRefused`, so nobody on the line
  can forge the unit's answer (an unauthenticated *error* reply is let through: the
  worst it can do is stop us).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import cbor2
from smpclient.transport.serial import SMPSerialTransport

from firmware.office_link import mac
from firmware.office_link.framing import FrameDecoder, FrameError, encode_packet
from firmware.office_link.header import HEADER_SIZE, Header

from .errors import LinkRefused

log = logging.getLogger("opentla.host.link")

REPLY_MAX = 2 + 0xFFFF  # the largest frame a 16-bit length field announces (length included)
WAKE_S = 0.25  # a wait for bytes lasts this at most; the request's own timeout bounds the rest


class LinkTransport(SMPSerialTransport):
    """The office's transport to a unit (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key = b""
        self._counter = 0
        self._expect: tuple[Header, int] | None = None  # the request in flight, its counter
        self._decoder = FrameDecoder(REPLY_MAX)  # the unit's rules for the line's frames
        self._frames: deque[bytes] = deque()  # decoded, not yet taken by receive
        # the next request, sealed and framed ahead (prepare): its bytes, header, counter, frame
        self._prepared: tuple[bytes, Header, int, bytes] | None = None

    # ---- session ------------------------------------------------------------------
    def start_session(self, key: bytes) -> None:
        """From now on seal every request under ``key`` (counters restart at 1)."""
        self._key, self._counter, self._prepared = key, 0, None

    def end_session(self) -> None:
        self._key, self._counter, self._prepared = b"", 0, None

    @property
    def in_session(self) -> bool:
        return bool(self._key)

    @property
    def max_unencoded_size(self) -> int:
        """What smpclient may hand us, leaving room for the MAC entries we add (the
        sealed packet itself may then use the whole room: see :meth:`send`)."""
        return super().max_unencoded_size - mac.OVERHEAD

    # ---- the line -------------------------------------------------------------------
    def _reset_state(self) -> None:
        super()._reset_state()
        self._decoder.reset()
        self._frames.clear()
        self.end_session()
        self._expect = None

    def prepare(self, data: bytes) -> None:
        """Seal and frame ``data``, the request that goes out next, now (while the unit
        still works on the one in flight): :meth:`send` then only writes it. A prepared
        request that is never sent costs its counter (gaps are allowed)."""
        self._prepared = (data, *self._frame(data))

    async def send(self, data: bytes) -> None:
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared[0] == data:
            _, header, counter, frame = prepared
        else:
            header, counter, frame = self._frame(data)
        self._expect = (header, counter)
        with self._serial_exception_to_disconnected():
            self._conn.write(frame)
            await self._drain_tx()

    def _frame(self, data: bytes) -> tuple[Header, int, bytes]:
        """``data`` sealed with the next counter (in a session) and framed for the line."""
        header = Header.parse(data)
        if self._key:
            self._counter += 1
            body = cbor2.loads(data[HEADER_SIZE:]) if len(data) > HEADER_SIZE else {}
            body = mac.seal(self._key, mac.LABEL_REQUEST, header, body, self._counter)
            payload = cbor2.dumps(body)
            header = Header(header.op, header.version, header.flags, len(payload),
                            header.group, header.seq, header.command)
            data = header.pack() + payload
        room = super().max_unencoded_size  # the sealed packet may fill the unit's buffer
        if len(data) > room:
            raise ValueError(f"Data size {len(data)} exceeds maximum unencoded size {room}")
        # the base class writes each 127-byte line with its own write (one syscall, one
        # select each: 360 for a 32 KiB frame); the frame's lines go out in one write.
        # The same lines as smp.packet.encode(data, line_length): it puts
        # (line_length - 4) // 4 quanta on a line, a line of line_length - 1 bytes.
        return header, self._counter, encode_packet(data, self._line_length - 1)

    async def receive(self) -> bytes:
        """The reply to the request just sent: frames that do not decode (garbled, cut,
        foreign) and replies to another request are skipped. Bytes are read as soon as
        the port has them (no polling sleep between a request and its answer)."""
        woke = False
        while True:
            while self._frames:
                frame = self._frames.popleft()
                header = Header.parse(frame)  # the decoder keeps only frames of 8 bytes or more
                if self._expect is not None and not _answers(header, self._expect[0]):
                    log.debug("skipped a stale reply (seq %d, group %d)", header.seq, header.group)
                    continue
                return self._check_reply(header, frame)
            data = await self._read_all()
            if data:
                woke = False
                for item in self._decoder.feed(data):
                    if isinstance(item, FrameError):
                        log.debug("skipped a frame that does not decode: %s", item.code)
                    else:
                        self._frames.append(item.data)
            elif woke:  # ready but nothing to read (the other end hung up): do not spin
                woke = False
                await asyncio.sleep(self._POLLING_INTERVAL_S)
            else:
                woke = await self._readable()

    async def _readable(self) -> bool:
        """Wait until the port has bytes (True), or ``WAKE_S`` (False)."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[bool] = loop.create_future()
        fd = self._conn.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(True)

        loop.add_reader(fd, wake)
        try:
            return await asyncio.wait_for(ready, WAKE_S)
        except TimeoutError:
            return False
        finally:
            loop.remove_reader(fd)

    def _check_reply(self, header: Header, frame: bytes) -> bytes:
        if not self._key or self._expect is None:
            return frame
        try:
            body = cbor2.loads(frame[HEADER_SIZE:])
        except Exception:  # cbor2 raises several types; smpclient then reports it
            return frame
        if not isinstance(body, dict):
            return frame
        if not mac.carries_mac(body):
            if _is_error(body):
                return frame
            raise LinkRefused("link.reply_not_authenticated",
                              "the unit's answer carries no session MAC (someone else on the line?)")
        try:
            opened = mac.open_sealed(self._key, mac.LABEL_REPLY, header, body)
        except mac.MacError as exc:
            raise LinkRefused("link.bad_reply_mac", f"the unit's answer fails its MAC: {exc}") from None
        if opened.counter != self._expect[1]:
            raise LinkRefused("link.bad_reply_mac",
                              f"the answer is for request {opened.counter}, not {self._expect[1]}")
        payload = cbor2.dumps(opened.body)
        plain = Header(header.op, header.version, header.flags, len(payload), header.group,
                       header.seq, header.command)
        return plain.pack() + payload


def _answers(reply: Header, request: Header) -> bool:
    return (reply.op == request.op | 1 and reply.seq == request.seq
            and reply.group == request.group and reply.command == request.command)


def _is_error(body: dict[str, Any]) -> bool:
    rc = body.get("rc", 0)
    return "err" in body or (isinstance(rc, int) and rc != 0)
