"""The card's half of T=1 (ISO/IEC 7816-3:2006 §11) for the simulated board.

:class:`T1CardSide` implements :class:`board.sim.card_side.CardProtocol`: it is
fed the reader's logical characters one by one, assembles blocks, calls the
card OS (:class:`EmulatedCard`) for each complete command APDU and answers with
:class:`CardReply` blocks. It chains long responses in IFSD-sized pieces,
answers S(IFS request) and S(RESYNCH request), and follows the card's side of
the error rules (7.1: R-block naming the expected N(S); 7.2: repeat our
R-block; 7.3: repeat our S(... request)).

Fault hooks, for tests and the simulator (each counts down as it is used):

- :meth:`request_wtx` — ask for a waiting time extension before the next answer
  and then answer late (``delay_etu``);
- :meth:`request_ifs` — announce a new IFSC with S(IFS request) before the next
  answer;
- :meth:`request_abort` — send S(ABORT request) instead of the next answer;
- :meth:`corrupt_edc` — spoil the EDC of the next ``n`` blocks sent;
- :meth:`stay_mute` — ignore the next ``n`` complete blocks received;
- :meth:`send_invalid_pcb` — replace the next ``n`` blocks sent by a block
  whose PCB is not a valid coding.
"""

from __future__ import annotations

from firmware.iso7816.t1_block import (
    R_EDC_ERROR,
    R_OTHER_ERROR,
    Block,
    BlockCollector,
    Kind,
    SType,
    encode,
)

from .card_side import CardReply, EmulatedCard

DEFAULT_IFSD = 32  # what the card assumes until the reader's S(IFS request)
INVALID_PCB = 0xA0  # R-block coding with b6 set: invalid (§11.3.2.2)


class T1CardSide:
    """Card-side T=1. ``ifsc`` is the card's IFS (its ATR's TA3)."""

    def __init__(
        self, card: EmulatedCard, *, ifsc: int, checksum: str = "LRC", nad: int = 0,
        ifsd: int = DEFAULT_IFSD, quiet_before_error: bool = False,
    ):
        self.card = card
        self.ifsc0 = ifsc
        self.ifsd0 = ifsd
        self.checksum = checksum
        self.quiet_before_error = quiet_before_error  # see quiet()
        self.nad = nad  # NAD the reader uses; the card answers with nibbles swapped
        self.commands: list[bytes] = []  # every command APDU passed to the card OS
        self.received: list[Block] = []  # every good block received (for tests)
        self._wtx: list[tuple[int, float]] = []
        self._ifs: list[int] = []
        self._abort = 0
        self._corrupt = 0
        self._mute = 0
        self._bad_pcb = 0
        self.reset()

    # ---- fault hooks ----------------------------------------------------------
    def request_wtx(self, multiplier: int, delay_etu: float = 0.0) -> None:
        """Before the next answer, send S(WTX request, multiplier); once it is
        granted, send the answer ``delay_etu`` late."""
        self._wtx.append((multiplier, delay_etu))

    def request_ifs(self, ifsc: int) -> None:
        """Before the next answer, announce IFSC=``ifsc`` with S(IFS request)."""
        self._ifs.append(ifsc)

    def request_abort(self) -> None:
        """Send S(ABORT request) instead of the next answer (rule 9)."""
        self._abort += 1

    def corrupt_edc(self, n: int = 1) -> None:
        self._corrupt += n

    def stay_mute(self, n: int = 1) -> None:
        self._mute += n

    def send_invalid_pcb(self, n: int = 1) -> None:
        self._bad_pcb += n

    # ---- CardProtocol ---------------------------------------------------------
    def reset(self) -> None:
        self._collector = BlockCollector(self.checksum)
        self._held: list[CardReply] | None = None  # answer to a bad block, see quiet()
        self._restart()

    def _restart(self) -> None:
        """Initial state after ATR or RESYNCH (rule 6.3)."""
        self.ifsc = self.ifsc0
        self.ifsd = self.ifsd0
        self.ns = 0  # N(S) of our next I-block
        self.nr = 0  # N(S) we expect from the reader
        self._cmd = bytearray()
        self._resp = b""
        self._off = 0  # bytes of the response the reader acknowledged
        self._last: Block | None = None
        self._last_i: Block | None = None
        self._pending: tuple[Block, float] | None = None  # answer held behind an S-request

    def idle(self) -> None:
        """The line was quiet longer than CWT: a partial block is dropped, as a
        card does when CWT runs out (§11.4.3). Optional for the line model: call
        it when the gap before a reader character exceeds CWT, so that a lost
        character cannot shift the framing of the next blocks."""
        self._collector.reset()

    def quiet(self) -> list[CardReply]:
        """The line has been quiet for CWT since the reader's last character.

        With ``quiet_before_error`` the card answers a block that fails its
        checks only then: such a block may be framed wrongly (a lost or
        corrupted prologue character) while the reader is still sending, and
        the half-duplex line allows no answer before the block's end, which is
        only certain after CWT of silence (§11.4.3). Characters received in
        between are dropped. Returns the held answer (rules 7.1-7.3), if any."""
        held, self._held = self._held, None
        self._collector.reset()
        return held or []

    def receive(self, byte: int, parity_ok: bool = True) -> list[CardReply]:
        if self._held is not None:  # waiting for the line to go quiet
            return []
        got = self._collector.feed(byte, parity_ok)
        if got is None:
            return []
        if self._mute:
            self._mute -= 1
            return []
        if got.error is not None or got.block is None:
            bits = R_EDC_ERROR if got.edc_class else R_OTHER_ERROR
            return self._on_error(bits)
        block = got.block
        if block.nad != self.nad or (block.kind is Kind.I and len(block.inf) > self.ifsc):
            return self._on_error(R_OTHER_ERROR)
        self.received.append(block)
        if block.kind is Kind.I:
            return self._on_i(block)
        if block.kind is Kind.R:
            return self._on_r(block)
        return self._on_s(block)

    # ---- blocks ----------------------------------------------------------------
    def _on_i(self, block: Block) -> list[CardReply]:
        if block.ns != self.nr or (self._last_i is not None and self._last_i.more):
            return self._on_error(R_OTHER_ERROR)
        if self._last_i is not None:  # the reader's I-block acknowledges ours
            self.ns ^= 1
            self._last_i = None
        self.nr ^= 1
        self._cmd += block.inf
        if block.more:  # rule 5: acknowledge, ask for the next piece
            return self._answer(Block.r(self.nr, nad=self._nad_out))
        command, self._cmd = bytes(self._cmd), bytearray()
        self.commands.append(command)
        self._resp, self._off = self.card.process(command), 0
        return self._answer(self._chunk())

    def _on_r(self, block: Block) -> list[CardReply]:
        last = self._last_i
        if last is not None and block.nr != last.ns and last.more:  # rule 5
            self._off += len(last.inf)
            self.ns ^= 1
            return self._send(self._chunk())
        if last is not None and block.nr == last.ns:  # rule 7.1: resend our I-block
            return self._send(last)
        if self._last is not None and self._last.kind is not Kind.I:
            return self._send(self._last)  # rules 7.2/7.3: repeat our R or S block
        return self._send(Block.r(self.nr, R_OTHER_ERROR, self._nad_out))

    def _on_s(self, block: Block) -> list[CardReply]:
        if block.is_s(SType.RESYNCH, False):  # rule 6.2/6.3
            self._restart()
            return self._send(Block.s(SType.RESYNCH, True, nad=self._nad_out))
        if block.is_s(SType.IFS, False):  # rule 4: the reader's IFSD
            self.ifsd = block.inf[0]
            return self._send(Block.s(SType.IFS, True, block.inf, self._nad_out))
        if block.is_s(SType.ABORT, False):  # rule 9
            self._cmd, self._resp, self._last_i = bytearray(), b"", None
            return self._send(Block.s(SType.ABORT, True, nad=self._nad_out))
        last, stype = self._last, block.stype
        if last is None or stype is None or not last.is_s(stype, False) or block.response is False:
            return self._on_error(R_OTHER_ERROR)
        if stype is SType.ABORT:  # our abort granted: the exchange is dropped
            self._pending, self._last = None, None
            self._cmd, self._resp, self._last_i = bytearray(), b"", None
            return []
        held = self._pending
        if held is None:  # only our S(IFS) and S(WTX) requests hold an answer back
            return self._on_error(R_OTHER_ERROR)
        if stype is SType.IFS:
            if block.inf != last.inf:
                return self._on_error(R_OTHER_ERROR)
            self.ifsc = block.inf[0]
        pending, delay = held
        self._pending = None
        return self._answer(pending, delay)

    def _on_error(self, bits: int) -> list[CardReply]:
        reply = self._error_reply(bits)
        if self.quiet_before_error:
            self._held = reply
            return []
        return reply

    def _error_reply(self, bits: int) -> list[CardReply]:
        last = self._last
        if last is not None and last.kind is not Kind.I:
            if last.kind is Kind.R or not last.response:
                return self._send(last)  # rule 7.2 (our R) / rule 7.3 (our S request)
        return self._send(Block.r(self.nr, bits, self._nad_out))  # rule 7.1

    # ---- sending ---------------------------------------------------------------
    @property
    def _nad_out(self) -> int:
        return (self.nad >> 4 | self.nad << 4) & 0xFF

    def _chunk(self) -> Block:
        piece = self._resp[self._off:self._off + self.ifsd]
        more = self._off + len(piece) < len(self._resp)
        return Block.i(self.ns, piece, more, self._nad_out)

    def _answer(self, block: Block, delay_etu: float = 0.0) -> list[CardReply]:
        """Send an answer, or first the S-request a fault hook asked for."""
        if self._abort:
            self._abort -= 1
            return self._send(Block.s(SType.ABORT, nad=self._nad_out))
        if self._ifs:
            self._pending = (block, delay_etu)
            inf = bytes([self._ifs.pop(0)])
            return self._send(Block.s(SType.IFS, inf=inf, nad=self._nad_out))
        if self._wtx:
            multiplier, late = self._wtx.pop(0)
            self._pending = (block, late)
            inf = bytes([multiplier])
            return self._send(Block.s(SType.WTX, inf=inf, nad=self._nad_out))
        return self._send(block, delay_etu)

    def _send(self, block: Block, delay_etu: float = 0.0) -> list[CardReply]:
        self._last = block
        if block.kind is Kind.I:
            self._last_i = block
        data = encode(block, self.checksum)
        if self._bad_pcb:
            self._bad_pcb -= 1
            data = encode(Block(block.nad, INVALID_PCB), self.checksum)
        if self._corrupt:
            self._corrupt -= 1
            data = data[:-1] + bytes([data[-1] ^ 0x01])
        return [CardReply(data, delay_etu=delay_etu)]
