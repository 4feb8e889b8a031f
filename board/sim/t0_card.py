"""T=0, card side: what a T=0 card OS does between its UART and its commands.

Implements :class:`board.sim.card_side.CardProtocol` for the simulator
(ISO/IEC 7816-3:2006 §10.3). It collects the reader's 5-byte header, answers
with procedure bytes, moves the data, calls ``card.process`` once per complete
command and answers SW1 SW2. It also plays the card's part of the
ISO 7816-4 Annex A mapping: 6Cxx when P3 does not fit the data of an outgoing
command, 61xx plus a GET RESPONSE buffer when response data must wait.

Direction. A T=0 header does not say whether data flow in or out: a real card
knows it from INS. Here an INS in ``outgoing_ins`` (default: the ISO 7816-4
commands that only return data, GET RESPONSE included) is *outgoing*: P3 is Le
and P3 = 00 means 256 (§10.3.2). Any other INS is *incoming*: P3 is Lc and
P3 = 00 means no data (case 1). Incoming commands reach ``card.process`` as the
bytes that came on the wire (case 1 or case 3 form, never an Le): a card OS used
behind T=0 returns whatever data it has and this layer announces them by 61xx.

Fault hooks for tests: ``null_bytes`` NULLs (60) before each answer that
follows processing, each ``null_interval_etu`` late (a slow card);
``reply_delay_etu`` extra delay before every answer; ``char_delay_etu`` extra
spacing inside an answer; ``mangle(index, byte) -> byte | None`` sees every
character the card sends (index counts from 0 since construction) and may
change it or lose it (None).

>>> class Echo:
...     atr = b";"
...     def power_on(self): pass
...     def process(self, c): return c[5:] + b"\\x90\\x00" if len(c) > 5 else b"\\x90\\x00"
>>> side = T0CardSide(Echo())
>>> [side.receive(b) for b in bytes.fromhex("0012000002")][-1][0].data.hex()
'12'
>>> side.receive(0xAA), side.receive(0xBB)[0].data.hex()
([], '6102')
"""

from __future__ import annotations

from collections.abc import Callable

from .card_side import CardReply, EmulatedCard

NULL = 0x60
INS_GET_RESPONSE = 0xC0
# ISO 7816-4 commands whose data flow out of the card (case 2): READ BINARY,
# READ RECORD(S), GET RESPONSE, GET CHALLENGE, GET DATA, SEARCH BINARY excluded.
DEFAULT_OUTGOING_INS = frozenset({0xB0, 0xB1, 0xB2, 0xB3, 0xC0, 0x84, 0xCA, 0xCB})
SW_NO_PENDING_DATA = b"\x69\x85"  # GET RESPONSE with nothing to give
SW_BAD_INS = b"\x6d\x00"  # INS 6X / 9X cannot be sent in T=0 (§10.3.2)


class T0CardSide:
    """The card's half of T=0 around an :class:`EmulatedCard`."""

    def __init__(
        self,
        card: EmulatedCard,
        *,
        mode: str = "ack",
        null_bytes: int = 0,
        null_interval_etu: float = 0.0,
        reply_delay_etu: float = 0.0,
        char_delay_etu: float = 0.0,
        outgoing_ins: frozenset[int] = DEFAULT_OUTGOING_INS,
        mangle: Callable[[int, int], int | None] | None = None,
    ):
        if mode not in ("ack", "byte"):
            raise ValueError(f"mode must be 'ack' or 'byte', not {mode!r}")
        self.card = card
        self.mode = mode
        self.null_bytes = null_bytes
        self.null_interval_etu = null_interval_etu
        self.reply_delay_etu = reply_delay_etu
        self.char_delay_etu = char_delay_etu
        self.outgoing_ins = outgoing_ins
        self.mangle = mangle
        self.sent = 0  # characters sent since construction (index for mangle)
        self.commands: list[bytes] = []  # every APDU given to card.process
        self._header = bytearray()
        self._data = bytearray()
        self._lc = 0
        self._pending = b""  # response data waiting for GET RESPONSE
        self._pending_sw = b""

    # ---- CardProtocol ---------------------------------------------------------
    def reset(self) -> None:
        self._header.clear()
        self._data.clear()
        self._pending = b""
        self._pending_sw = b""

    def receive(self, byte: int, parity_ok: bool = True) -> list[CardReply]:
        if not parity_ok:
            return []  # error signal sent: the reader repeats the character (§7.3)
        if len(self._header) < 5:
            self._header.append(byte)
            return self._header_done() if len(self._header) == 5 else []
        self._data.append(byte)
        if len(self._data) < self._lc:
            return self._replies([], bytes((self._ins ^ 0xFF,))) if self.mode == "byte" else []
        return self._run_incoming()

    # ---- command handling ---------------------------------------------------
    @property
    def _ins(self) -> int:
        return self._header[1]

    def _header_done(self) -> list[CardReply]:
        ins, p3 = self._ins, self._header[4]
        if ins & 0xF0 in (0x60, 0x90):
            return self._end(SW_BAD_INS)
        if ins in self.outgoing_ins or ins == INS_GET_RESPONSE:
            return self._run_outgoing(p3 or 256)
        self._pending = b""
        self._lc = p3
        if p3 == 0:
            return self._run_incoming()
        ack = ins if self.mode == "ack" else ins ^ 0xFF
        return self._replies(self._nulls(), bytes((ack,)))

    def _run_incoming(self) -> list[CardReply]:
        """Case 1 or 3 on the wire; any response data wait behind 61xx (A.4S.3)."""
        command = bytes(self._header[:4])
        if self._lc:
            command += bytes((self._lc,)) + bytes(self._data)
        data, sw = self._process(command)
        if data:
            self._pending, self._pending_sw = data, sw
            return self._end(bytes((0x61, min(len(data), 256) & 0xFF)), self._nulls())
        return self._end(sw, self._nulls())

    def _run_outgoing(self, ne: int) -> list[CardReply]:
        if self._ins == INS_GET_RESPONSE:
            if not self._pending:
                return self._end(SW_NO_PENDING_DATA, self._nulls())
            data, sw = self._pending, self._pending_sw
        else:
            self._pending = b""
            data, sw = self._process(bytes(self._header))
        if not data:
            return self._end(sw, self._nulls())
        if len(data) < ne:  # A.2S.3: Le not accepted, La indicated
            self._pending = data if self._ins == INS_GET_RESPONSE else b""
            return self._end(bytes((0x6C, len(data) & 0xFF)), self._nulls())
        rest = data[ne:]
        self._pending, self._pending_sw = rest, sw
        final = bytes((0x61, min(len(rest), 256) & 0xFF)) if rest else sw
        if self.mode == "ack":
            body = bytes((self._ins,)) + data[:ne]
        else:
            body = b"".join(bytes((self._ins ^ 0xFF, b)) for b in data[:ne])
        return self._end(final, self._nulls(), body)

    def _process(self, command: bytes) -> tuple[bytes, bytes]:
        self.commands.append(command)
        response = self.card.process(command)
        return response[:-2], response[-2:]

    # ---- replies ------------------------------------------------------------------
    def _nulls(self) -> list[CardReply]:
        return [
            CardReply(bytes((NULL,)), delay_etu=self.null_interval_etu)
            for _ in range(self.null_bytes)
        ]

    def _end(self, sw: bytes, before: list | None = None, body: bytes = b"") -> list[CardReply]:
        """Last answer of a command: ``body`` then SW1 SW2; ready for a header."""
        self._header.clear()
        self._data.clear()
        self._lc = 0
        return self._replies(before or [], body + sw)

    def _replies(self, before: list[CardReply], data: bytes) -> list[CardReply]:
        delay = self.null_interval_etu if before else 0.0
        out = [*before, CardReply(data, delay_etu=delay)]
        out[0] = CardReply(out[0].data, out[0].delay_etu + self.reply_delay_etu)
        mangled = [CardReply(self._mangled(r.data), r.delay_etu, self.char_delay_etu) for r in out]
        return [r for r in mangled if r.data]

    def _mangled(self, data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            m = b if self.mangle is None else self.mangle(self.sent, b)
            self.sent += 1
            if m is not None:
                out.append(m)
        return bytes(out)
