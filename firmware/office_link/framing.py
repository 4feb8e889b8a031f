"""SMP over a serial line ("SMP over console"), both directions, sans-I/O.

The wire rules (Zephyr, *SMP transport specification*, "Serial/console" section;
``subsys/mgmt/mcumgr/transport/src/serial_util.c``; the ``smp.packet`` module of the
Python ``smp`` package follows the same rules):

- an SMP packet (8-byte header + CBOR body) is wrapped as
  ``[u16 big-endian total length][packet][u16 big-endian CRC]`` where the total length
  counts the packet and the CRC, and the CRC is CRC16-CCITT as XMODEM computes it
  (polynomial 0x1021, initial value 0, no reflection) over the packet only;
- that buffer is base64-encoded (RFC 4648 §4, padded) and cut into lines;
- the first line starts with the bytes ``06 09``, every further line with ``04 14``;
  each line ends with ``\\n`` and is at most 127 bytes long, delimiter and newline
  included; each line carries a whole number of base64 quanta, so it decodes alone.

Anything outside a delimited line (console text, line noise) is ignored. A broken
frame is dropped with a :class:`FrameError` carrying a stable English code; the
decoder then waits for the next start delimiter. Memory is bounded: a line never
grows past ``line_max`` bytes and a frame never past ``buf_size`` decoded bytes.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass

START = b"\x06\x09"
CONTINUATION = b"\x04\x14"
NEWLINE = b"\n"
LINE_MAX = 127  # bytes per line on the wire, delimiter and newline included
_LENGTH = struct.Struct(">H")
_CRC = struct.Struct(">H")
HEADER_SIZE = 8
_DELIMITER = re.compile(re.escape(START) + b"|" + re.escape(CONTINUATION))


def _text_room(line_max: int) -> int:
    """Characters of base64 a line of ``line_max`` bytes holds (delimiter and newline out)."""
    return line_max - len(START) - len(NEWLINE)


def _text_per_line(line_max: int) -> int:
    """Characters of base64 the encoder puts on a whole line: whole 4-character quanta."""
    return _text_room(line_max) // 4 * 4


def crc16_xmodem(data: bytes) -> int:
    """CRC16-CCITT, XMODEM variant (poly 0x1021, init 0); ``binascii.crc_hqx`` is it."""
    return binascii.crc_hqx(data, 0)


def encode_packet(packet: bytes, line_max: int = LINE_MAX) -> bytes:
    """Frame one SMP packet as serial lines (see the module docstring for the rules)."""
    if line_max < 7:
        raise ValueError("line_max must leave room for at least one base64 quantum")
    if len(packet) + _CRC.size > 0xFFFF:
        raise ValueError(f"packet of {len(packet)} bytes does not fit a 16-bit length")
    body = _LENGTH.pack(len(packet) + _CRC.size) + packet + _CRC.pack(crc16_xmodem(packet))
    text = binascii.b2a_base64(body, newline=False)  # RFC 4648 §4, padded
    per_line = _text_per_line(line_max)
    lines = [text[offset : offset + per_line] for offset in range(0, len(text), per_line)]
    return START + (NEWLINE + CONTINUATION).join(lines) + NEWLINE


@dataclass(frozen=True)
class Packet:
    """One complete SMP packet (header + CBOR body) taken off the line, CRC checked."""

    data: bytes


@dataclass(frozen=True)
class FrameError:
    """A frame was dropped. ``code`` is stable (for logs and traces); ``detail`` says why."""

    code: str
    detail: str


class FrameDecoder:
    """Reassembles SMP packets from serial bytes; never raises on what the line brings.

    >>> d = FrameDecoder()
    >>> d.feed(b"noise" + encode_packet(bytes(8)))
    [Packet(data=b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00')]
    """

    def __init__(self, buf_size: int = 2048, line_max: int = LINE_MAX) -> None:
        # buf_size bounds the decoded frame: length field + packet + CRC (as Zephyr's
        # CONFIG_MCUMGR_TRANSPORT_NETBUF_SIZE, which smpclient reads as MCUmgr params).
        if buf_size < 2 + HEADER_SIZE + 2:
            raise ValueError("buf_size too small for one SMP header")
        self.buf_size = buf_size
        self.line_max = line_max
        self._raw = bytearray()  # unconsumed wire bytes (bounded, see feed)
        self._line_kind: bytes | None = None  # delimiter of the line being collected
        self._frame: bytearray | None = None  # decoded bytes after the length field
        self._expected = 0  # the length field of the frame in progress
        # base64 characters on a whole line, as encode_packet fills it
        self._per_line = _text_per_line(line_max)

    @property
    def busy(self) -> bool:
        """True while a frame is partly received."""
        return self._frame is not None

    def reset(self) -> None:
        """Forget any partial line or frame (the link was reset)."""
        self._raw.clear()
        self._line_kind = None
        self._frame = None

    def feed(self, data: bytes) -> list[Packet | FrameError]:
        """Take bytes from the line; return the packets and errors they complete.

        Every search starts where the last one stopped and looks no further than one
        line, so a feed costs time in proportion to its bytes. Inside a frame, a run
        of whole continuation lines is checked and decoded in one piece
        (:meth:`_take_run`); anything irregular in it goes through the line-by-line
        rules, which decide alone what a broken line means."""
        out: list[Packet | FrameError] = []
        raw = self._raw
        raw.extend(data)
        room = _text_room(self.line_max)
        pos, size, runs = 0, len(raw), True
        while pos < size:
            if self._line_kind is None:
                if runs and self._frame is not None and raw.startswith(CONTINUATION, pos):
                    taken = self._take_run(raw, pos)
                    if taken:
                        pos += taken
                        done = self._check(self._frame)
                        if done is not None:
                            out.append(done)
                        continue
                    if taken == 0:
                        break  # a whole line is on its way: it is taken with the next bytes
                    runs = False  # not a run: line by line to the end of this feed
                found = _DELIMITER.search(raw, pos)
                if found is None:
                    # keep a last byte that may be the first half of a delimiter
                    pos = size - 1 if raw[-1] in (START[0], CONTINUATION[0]) else size
                    break
                at = found.start()
                self._line_kind = START if raw[at] == START[0] else CONTINUATION
                pos = at + len(START)
                continue
            end = raw.find(NEWLINE, pos, pos + room + 1)  # a longer line is refused anyway
            if end < 0:
                if size - pos <= room:
                    break  # the rest of the line is still on its way
                end = raw.find(NEWLINE, pos)
                out.append(self._drop("line.too_long", f"line longer than {self.line_max} bytes"))
                self._line_kind = None
                if end < 0:
                    pos = size
                    break
                pos = end + 1
                continue
            text = bytes(raw[pos:end])
            pos = end + 1
            kind, self._line_kind = self._line_kind, None
            out.extend(self._take_line(kind, text))
        del raw[:pos]
        return out

    def _take_run(self, raw: bytearray, pos: int) -> int | None:
        """Whole continuation lines of the frame in progress from ``pos``, as the
        encoder writes them (each as long as a line can be): checked and decoded at
        once, returns the bytes taken; 0 when the next such line is still arriving
        (the frame needs a whole line more and no newline is there yet); None when
        what follows is not such a run (a short last line, anything irregular).

        Same result as line by line: every line sits where it must, has its delimiter
        and newline, and their text decodes as one strict base64 string only when each
        line's text would alone (whole quanta, no padding but at the very end)."""
        stride = len(CONTINUATION) + self._per_line + len(NEWLINE)
        frame = self._frame
        if frame is None or not self._per_line:
            return None
        whole = self._per_line // 4 * 3  # decoded bytes of a whole line
        needed = self._expected - len(frame)
        lines = min((len(raw) - pos) // stride, needed // whole)
        if lines < 1:
            return 0 if needed >= whole and raw.find(NEWLINE, pos) < 0 else None
        block = raw[pos : pos + lines * stride]
        if (block[0::stride] != CONTINUATION[:1] * lines
                or block[1::stride] != CONTINUATION[1:] * lines
                or block[stride - 1 :: stride] != NEWLINE * lines):
            return None
        text = block.replace(NEWLINE + CONTINUATION, b"")
        if len(text) != len(block) - (lines - 1) * (len(NEWLINE) + len(CONTINUATION)):
            return None  # a line's own text holds a newline and a delimiter
        try:
            chunk = binascii.a2b_base64(memoryview(text)[2:-1], strict_mode=True)
        except binascii.Error:
            return None
        frame.extend(chunk)
        return len(block)

    def _drop(self, code: str, detail: str) -> FrameError:
        self._frame = None
        return FrameError(code, detail)

    def _take_line(self, kind: bytes, text: bytes) -> list[Packet | FrameError]:
        out: list[Packet | FrameError] = []
        if kind == START and self._frame is not None:
            # the previous frame is lost; report it, then go on with the new one
            out.append(self._drop("frame.interrupted", "a new frame started before the last ended"))
        try:
            chunk = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            return out + [self._drop("frame.bad_base64", f"line is not base64: {exc}")]
        if kind == START:
            if len(chunk) < _LENGTH.size:
                return out + [self._drop("frame.bad_length", "first line shorter than the length field")]
            (length,) = _LENGTH.unpack_from(chunk)
            if length < HEADER_SIZE + _CRC.size:
                return out + [self._drop("frame.too_short", f"frame length {length} < header + CRC")]
            if length + _LENGTH.size > self.buf_size:
                detail = f"frame of {length + _LENGTH.size} bytes exceeds buffer of {self.buf_size}"
                return out + [self._drop("frame.too_large", detail)]
            frame = self._frame = bytearray(chunk[_LENGTH.size :])
            self._expected = length
        elif self._frame is None:
            return [FrameError("frame.orphan_continuation", "continuation line without a start")]
        else:
            frame = self._frame
            frame.extend(chunk)
        done = self._check(frame)
        return out + ([done] if done is not None else [])

    def _check(self, frame: bytearray) -> Packet | FrameError | None:
        """``frame``: the frame being assembled (``self._frame``)."""
        if len(frame) < self._expected:
            return None
        if len(frame) > self._expected:
            return self._drop("frame.length_mismatch", f"{len(frame)} bytes for length {self._expected}")
        self._frame = None
        packet, (crc,) = bytes(frame[: -_CRC.size]), _CRC.unpack_from(frame, len(frame) - _CRC.size)
        if crc16_xmodem(packet) != crc:
            return FrameError("frame.bad_crc", f"CRC {crc:04x} != computed {crc16_xmodem(packet):04x}")
        return Packet(packet)
