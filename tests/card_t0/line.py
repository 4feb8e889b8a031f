"""Test helpers: a card OS stub and a simulated I/O line with a fake clock that
couples a reader-side engine to a card-side protocol, character by character.

Times follow ISO 7816-3: characters in one direction 12 etu apart (leading
edges), the other side answering 16 etu after the last leading edge it saw.
The line also checks the engine's turnaround (Transmit.not_before).
"""

from __future__ import annotations

import hashlib
from collections import deque

from firmware.iso7816.actions import Complete, Deadline, Failed, Note, Transmit

SW_OK = b"\x90\x00"


class BufferCard:
    """A tiny card OS written for these tests (not the project's card OSes).

    - B0 READ BINARY: P1P2 offset, Le (00 = 256); returns up to Le bytes left
      in the file, 6B00 past the end.
    - D6 UPDATE BINARY: writes the data at P1P2.
    - 88 "sign": returns SHA-256 of the data, stretched to P2 bytes (P2=0: none).
    - 84 GET CHALLENGE: always 8 bytes, whatever Le.
    - 44 "status": case 1, answers SW = P1 P2 when P1 is 62/63/69/6A, else 9000.
    """

    atr = bytes.fromhex("3b0200")

    def __init__(self, content: bytes = bytes(range(256)) * 2):
        self.file = bytearray(content)
        self.seen: list[bytes] = []

    def power_on(self) -> None:
        pass

    def process(self, command: bytes) -> bytes:
        self.seen.append(command)
        _, ins, p1, p2 = command[:4]
        body = command[4:]
        offset = (p1 << 8) | p2
        if ins == 0xB0:
            le = (body[0] or 256) if body else 256
            if offset >= len(self.file):
                return b"\x6b\x00"
            return bytes(self.file[offset : offset + le]) + SW_OK
        if ins == 0xD6:
            data = body[1:]
            self.file[offset : offset + len(data)] = data
            return SW_OK
        if ins == 0x88:
            return sign_response(body[1:], p2) + SW_OK
        if ins == 0x84:
            return bytes(range(0xA0, 0xA8)) + SW_OK
        if ins == 0x44:
            return bytes((p1, p2)) if p1 in (0x62, 0x63, 0x69, 0x6A) else SW_OK
        return b"\x6d\x00"


def sign_response(data: bytes, length: int) -> bytes:
    """What BufferCard's INS 88 returns (computed independently of T=0)."""
    out = b""
    block = hashlib.sha256(data).digest()
    while len(out) < length:
        out += block
        block = hashlib.sha256(block).digest()
    return out[:length]


class Line:
    """Engine <-> card-side coupling on a fake clock.

    ``card_bad`` / ``reader_bad`` map the index of a character (counted from 0
    over the whole life of the line, per direction) to how many times it arrives
    with a parity error before arriving right (the sender repeats it, §7.3).
    """

    def __init__(self, engine, card_side, *, card_bad=None, reader_bad=None):
        self.engine = engine
        self.card_side = card_side
        self.etu = engine.timing.etu
        self.card_bad = dict(card_bad or {})
        self.reader_bad = dict(reader_bad or {})
        self.card_count = 0
        self.reader_count = 0
        self.clock = 0.0
        self.last_card_edge: float | None = None
        self.deadline: float | None = None
        self.reader_sent = bytearray()  # characters that reached the card
        self.card_sent = bytearray()  # characters that reached the reader
        self.tpdus: list[bytes] = []  # each Transmit's data
        self.notes: list[Note] = []
        self.turnaround_violations = 0

    def exchange(self, apdu: bytes):
        pending = deque(self.engine.start(apdu, self.clock))
        queue: deque[list] = deque()  # [time, byte, bad repetitions left]
        while True:
            while pending:
                action = pending.popleft()
                if isinstance(action, (Complete, Failed)):
                    return action
                if isinstance(action, Deadline):
                    self.deadline = action.at
                elif isinstance(action, Note):
                    self.notes.append(action)
                elif isinstance(action, Transmit):
                    assert not queue, "engine sent while the card was still sending"
                    edge = self._send(action, queue)
                    pending.extend(self.engine.transmitted(edge))
            if not queue:
                assert self.deadline is not None, "engine waits with no deadline armed"
                self.clock = self.deadline
                pending.extend(self.engine.timeout(self.deadline))
                continue
            t, byte, bad = queue[0]
            if self.deadline is not None and t > self.deadline:
                queue.clear()
                self.clock = self.deadline
                pending.extend(self.engine.timeout(self.deadline))
                continue
            self.clock = t
            if bad:
                queue[0] = [t, byte, bad - 1]
                for item in queue:  # the repetition pushes everything 12 etu later
                    item[0] += 12 * self.etu
                pending.extend(self.engine.receive(byte, t, parity_ok=False))
                continue
            queue.popleft()
            self.last_card_edge = t
            self.card_sent.append(byte)
            pending.extend(self.engine.receive(byte, t))

    def _send(self, action: Transmit, queue: deque) -> float:
        if self.last_card_edge is not None:
            if action.not_before < self.last_card_edge + 16 * self.etu - 1e-12:
                self.turnaround_violations += 1
        self.tpdus.append(action.data)
        t = max(self.clock, action.not_before)
        edge = t
        next_card = None
        for byte in action.data:
            bad = self.reader_bad.pop(self.reader_count, 0)
            self.reader_count += 1
            for _ in range(bad):
                assert self.card_side.receive(byte, parity_ok=False) == []
                t += 12 * self.etu
            edge = t
            self.reader_sent.append(byte)
            for reply in self.card_side.receive(byte):
                start = edge + (16 + reply.delay_etu) * self.etu
                if next_card is not None:
                    start = max(start, next_card + reply.delay_etu * self.etu)
                for i, b in enumerate(reply.data):
                    at = start + i * (12 + reply.char_delay_etu) * self.etu
                    queue.append([at, b, self.card_bad.pop(self.card_count, 0)])
                    self.card_count += 1
                    next_card = at + 12 * self.etu
            t += 12 * self.etu
        self.clock = edge
        return edge
