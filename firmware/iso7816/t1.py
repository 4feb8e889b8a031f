"""T=1 block protocol, interface-device (reader) side, as a sans-I/O engine.

ISO/IEC 7816-3:2006 §11. The engine implements the protocol-engine contract of
:mod:`firmware.iso7816.actions`: it is fed time and logical characters and answers
with :class:`Transmit`, :class:`Deadline`, :class:`Complete`, :class:`Failed`
and :class:`Note` actions. It never sleeps, reads or writes.

The protocol is the table :data:`TRANSITIONS` of (state, block received) ->
(next state, handler, rule), in the spirit of libccid's ``proto-t1.c`` (states
SENDING, RECEIVING, RESYNCH, DEAD) plus IDLE (no exchange) and IFS (our S(IFS
request) pending); h11's ``_state.py`` is the model for the shape. Handlers
return a :class:`Step` and never assign the state: ``_apply`` is the one place
the engine moves. A pair not in the table is an invalid block, handled by the
error recovery of §11.6.3, which ends in the dead state ``DEAD`` when the card
cannot be resynchronised. Every decision cites its rule of §11.6.2 (error-free
operation) or §11.6.3 (error handling); ``docs/t1.md`` lists them.

>>> from firmware.iso7816.timing import LinkTiming
>>> e = T1Engine(LinkTiming(clock_hz=4_800_000, protocol=1), ifsc=32)
>>> [a.data.hex(" ") for a in e.start(bytes.fromhex("00a4040000"), 0.0)]
['00 00 05 00 a4 04 00 00 a5']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .actions import Complete, Deadline, Failed, Note, Transmit
from .errors import CardMute, CardProtocolError, LinkUsageError
from .t1_block import (
    MAX_INF,
    R_EDC_ERROR,
    R_OTHER_ERROR,
    Block,
    BlockCollector,
    Kind,
    SType,
    encode,
)
from .timing import DEFAULT_IFSC, LinkTiming

MAX_RETRIES = 3  # rule 7.4.2: after 3 failed retransmissions, resynchronise
MAX_RESYNCHS = 3  # rule 6.4: after 3 failed S(RESYNCH request), give the card up


class State(Enum):
    IDLE = "IDLE"  # no exchange in progress
    SENDING = "SENDING"  # our I-block (chain) is not yet acknowledged
    RECEIVING = "RECEIVING"  # the card is sending its I-block (chain)
    IFS = "IFS"  # our S(IFS request) awaits its response
    RESYNCH = "RESYNCH"  # our S(RESYNCH request) awaits its response
    DEAD = "DEAD"  # resynchronisation failed: only a new activation helps


T1Action = Transmit | Deadline | Complete | Failed | Note


@dataclass(frozen=True)
class Step:
    """What a handler decided: the actions, and the state to go to (``None``: the
    table's next state for that block)."""

    actions: list[T1Action]
    to: State | None = None


Handler = Callable[["T1Engine", Block, float], Step]


@dataclass(frozen=True)
class Transition:
    to: State  # next state when the block is what the rule expects
    handler: Handler
    rule: str  # ISO/IEC 7816-3:2006 clause


def event_name(block: Block) -> str:
    """The column of :data:`TRANSITIONS` a received block falls in: ``I`` (last or
    only block of the card's answer), ``I+`` (M=1: more follows), ``R``, or the S
    block's type and direction."""
    if block.kind is Kind.I:
        return "I+" if block.more else "I"
    if block.kind is Kind.R or block.stype is None:  # invalid S types never parse
        return block.kind.value
    return f"S({block.stype.name} {'response' if block.response else 'request'})"


def swap_nibbles(nad: int) -> int:
    """The NAD the card answers with: SAD and DAD exchanged (§11.3.2.1)."""
    return (nad >> 4 | nad << 4) & 0xFF


class T1Engine:
    """Reader-side T=1 for one card; one exchange at a time.

    ``ifsc`` is the card's initial IFS (TA3 of the ATR, default 32), ``ifsd``
    the size we announce with :meth:`negotiate_ifsd`. N(S) of both sides are kept
    across exchanges; after a resynchronisation they restart at 0, IFSC
    returns to ``ifsc`` and the card's IFSD to 32 (rule 6.3), so IFSD is
    announced again before the exchange restarts."""

    def __init__(
        self, timing: LinkTiming, *, ifsc: int, ifsd: int = 254, checksum: str = "LRC",
        nad: int = 0,
    ):
        if not 1 <= ifsc <= MAX_INF or not 1 <= ifsd <= MAX_INF:
            raise LinkUsageError(f"IFSC={ifsc} / IFSD={ifsd} outside 1..254")
        self.timing = timing
        self.checksum = checksum
        self.nad = nad
        self.ifsc0 = self.ifsc = ifsc
        self.ifsd = ifsd
        self._collector = BlockCollector(checksum)
        self.state = State.IDLE
        self.ns = 0  # N(S) of our next I-block
        self.nr = 0  # N(S) we expect in the card's next I-block
        self._goal = "apdu"  # what a resynchronisation restarts: "apdu" or "ifs"
        self._cmd = b""
        self._off = 0  # bytes of the command the card has acknowledged
        self._resp = bytearray()
        self._last: Block | None = None  # last block sent
        self._last_i: Block | None = None  # last I-block sent
        self._retries = 0
        self._resynchs = 0
        self._resynch_first = False  # set after an ABORT: next exchange resyncs
        self._wtx = 1  # BWT multiplier for the next wait only (rule 3)
        self._rx_edge: float | None = None  # leading edge of the last char received
        self._deadline: float | None = None
        self._waiting = False  # a block from the card is expected
        self._draining: tuple[int, str] | None = None  # bad block: (error bits, why),
        # answered once the line has been quiet for CWT (see receive())
        self._mute = False  # last failure was a timeout
        self._dead_error: CardMute | CardProtocolError | None = None

    # ---- contract -------------------------------------------------------------
    def start(self, apdu: bytes, now: float) -> list[T1Action]:
        """Begin one APDU exchange (§11.6.2 rule 1: the reader sends the first block)."""
        if self._dead_error is not None:  # DEAD (set with it in _die)
            return [Failed(self._dead_error)]
        self._begin("apdu")
        self._cmd = bytes(apdu)
        if self._resynch_first:  # §11.6.3 rule 9: after an abort, resynchronise first
            return self._apply(self._resynch(now, "after abort"))
        return self._apply(Step(self._send_chunk(now), State.SENDING))

    def negotiate_ifsd(self, now: float) -> list[T1Action]:
        """Announce IFSD with S(IFS request) (§11.6.2 rule 4); ends with ``Complete(b"")``."""
        if self._dead_error is not None:  # DEAD (set with it in _die)
            return [Failed(self._dead_error)]
        self._begin("ifs")
        if self._resynch_first:
            return self._apply(self._resynch(now, "after abort"))
        block = Block.s(SType.IFS, inf=bytes([self.ifsd]), nad=self.nad)
        return self._apply(Step(self._send(block, now), State.IFS))

    def transmitted(self, now: float) -> list[T1Action]:
        """The leading edge of our last character was at ``now``: arm BWT (x WTX, §11.4.3)."""
        if self.state in (State.IDLE, State.DEAD):
            return []
        self._deadline = now + self.timing.bwt * self._wtx
        self._wtx = 1
        self._waiting = True
        self._draining = None
        self._collector.reset()
        return [Deadline(self._deadline)]

    def receive(self, byte: int, now: float, parity_ok: bool = True) -> list[T1Action]:
        if not self._waiting:
            return [Note("t1_stray_char", f"{byte:02X} in {self.state.value}")]
        self._rx_edge = now
        self._deadline = now + self.timing.cwt  # CWT, leading edge to leading edge
        if self._draining is not None:
            return [Deadline(self._deadline)]
        got = self._collector.feed(byte, parity_ok)
        if got is None:
            return [Deadline(self._deadline)]
        if got.error is not None or got.block is None:
            # A block that fails its checks may be framed wrongly (a lost or
            # corrupted prologue character): the card may still be sending.
            # The line is half duplex and the end of a block is only certain
            # after CWT of silence (§11.4.3), so the R-block of rule 7.1 goes
            # out only then; sending at once would collide with the card.
            bits = R_EDC_ERROR if got.edc_class else R_OTHER_ERROR
            self._draining = (bits, got.error or "no block")
            return [Note("t1_bad_block", got.error or "no block"), Deadline(self._deadline)]
        self._waiting, self._deadline = False, None
        return [Deadline(None), *self._on_block(got.block, now)]

    def timeout(self, now: float) -> list[T1Action]:
        if not self._waiting or self._deadline is None or now < self._deadline:
            return []  # stale timer
        self._waiting, self._deadline = False, None
        if self._draining is not None:  # CWT of silence after a bad block (§11.4.3)
            (bits, why), self._draining = self._draining, None
            self._collector.reset()
            return self._apply(self._error(bits, now, why))
        if self._collector.started:  # §11.6.3 rule 7.1: a block cut short by CWT is invalid
            self._collector.reset()
            return self._apply(self._error(R_OTHER_ERROR, now, "CWT exceeded"))
        return self._apply(self._error(R_OTHER_ERROR, now, "BWT exceeded", mute=True))

    # ---- dispatch: the only place the state changes -----------------------------
    def _on_block(self, block: Block, now: float) -> list[T1Action]:
        if block.nad != swap_nibbles(self.nad):  # §11.3.2.1: NAD must name us
            return self._apply(self._error(R_OTHER_ERROR, now, f"NAD {block.nad:02X}"))
        move = TRANSITIONS.get((self.state, event_name(block)))
        if move is None:
            return self._apply(self._invalid(block, now))
        return self._apply(move.handler(self, block, now), move.to)

    def _apply(self, step: Step, to: State | None = None) -> list[T1Action]:
        """Move to the step's state (or the table's ``to``) and hand its actions out."""
        target = step.to if step.to is not None else to
        if target is not None:
            self.state = target
        return step.actions

    # ---- handlers (see TRANSITIONS) -------------------------------------------
    def _acknowledged_by_i(self, block: Block, now: float) -> Step:
        if self._last_i is None or self._last_i.more:  # rule 5: chain needs R acks
            return self._invalid(block, now, "I-block during our chain")
        self._off = len(self._cmd)
        self.ns ^= 1
        return self._take_i(block, now)

    def _take_i(self, block: Block, now: float) -> Step:
        if block.ns != self.nr:  # §11.6.3 rule 7.1
            return self._error(R_OTHER_ERROR, now, f"N(S)={block.ns}, expected {self.nr}",
                               stay=State.RECEIVING)
        if len(block.inf) > self.ifsd:  # §11.6.3 rule 7.1
            return self._error(R_OTHER_ERROR, now, f"LEN {len(block.inf)} > IFSD",
                               stay=State.RECEIVING)
        self._retries = 0
        self._resp += block.inf
        self.nr ^= 1
        if block.more:  # rule 5: acknowledge a chained block with R(N(R))
            return Step(self._send(Block.r(self.nr, nad=self.nad), now))
        return Step([Complete(bytes(self._resp))])

    def _r_while_sending(self, block: Block, now: float) -> Step:
        last = self._last_i
        if last is None:  # no I-block of ours to acknowledge
            return self._invalid(block, now, "R-block before any I-block")
        if block.nr != last.ns and last.more:  # rule 5: chain block acknowledged
            self._retries = 0
            self._off += len(last.inf)
            self.ns ^= 1
            return Step(self._send_chunk(now))
        if block.nr == last.ns:  # §11.6.3 rule 7.1 seen from the card: resend our I-block
            return self._retry(now, "card asks for our I-block again", last)
        return self._invalid(block, now, "R-block acknowledging an unchained block")

    def _resend_r(self, block: Block, now: float) -> Step:
        resend = self._last if self._last and self._last.kind is Kind.R else None
        return self._retry(now, "card missed our R-block", resend or Block.r(self.nr))

    def _answer_ifs(self, block: Block, now: float) -> Step:
        self._retries = 0
        self.ifsc = block.inf[0]
        note = Note("t1_ifsc", str(self.ifsc))
        return Step([note, *self._send(Block.s(SType.IFS, True, block.inf, self.nad), now)])

    def _answer_wtx(self, block: Block, now: float) -> Step:
        self._retries = 0
        self._wtx = block.inf[0]  # applies to the next wait only
        note = Note("t1_wtx", str(self._wtx))
        return Step([note, *self._send(Block.s(SType.WTX, True, block.inf, self.nad), now)])

    def _answer_abort(self, block: Block, now: float) -> Step:
        # Rule 9: the card gives up its chain. We answer S(ABORT response) and end
        # the exchange; the next one starts with a RESYNCH so that both sides are
        # back to N(S)=0 whatever part of the chain each had seen.
        sent = self._send(Block.s(SType.ABORT, True, nad=self.nad), now)
        self._resynch_first = True
        error = CardProtocolError("card sent S(ABORT request)", code="t1_aborted")
        return Step([*sent, Failed(error)])

    def _ifsd_accepted(self, block: Block, now: float) -> Step:
        if block.inf[0] != self.ifsd:
            return self._invalid(block, now, f"IFS response {block.inf[0]} != {self.ifsd}")
        self._retries = 0
        note = Note("t1_ifsd", str(self.ifsd))
        if self._goal == "apdu":  # renegotiated after a resynch: resume the APDU
            return Step([note, *self._send_chunk(now)])
        return Step([note, Complete(b"")], State.IDLE)

    def _resynchronised(self, block: Block, now: float) -> Step:
        # Rule 6.3: N(S) of both sides back to 0, IFSC/IFSD to their initial values;
        # the exchange in progress starts again from its first block.
        self.ns = self.nr = 0
        self.ifsc = self.ifsc0
        self._retries = 0
        self._resynch_first = False
        note = Note("t1_resynch_ok", f"attempt {self._resynchs}")
        self._off = 0
        self._resp.clear()
        if self._goal == "ifs" or self.ifsd != DEFAULT_IFSC:
            # The card is back to IFSD = 32: announce ours again first (rule 4);
            # an APDU exchange then resumes from its first block.
            block = Block.s(SType.IFS, inf=bytes([self.ifsd]), nad=self.nad)
            return Step([note, *self._send(block, now)], State.IFS)
        return Step([note, *self._send_chunk(now)])

    def _invalid(self, block: Block, now: float, why: str = "") -> Step:
        return self._error(R_OTHER_ERROR, now, why or f"unexpected {block.describe()}")

    # ---- ERROR RECOVERY (§11.6.3) -----------------------------------------------
    def _error(self, bits: int, now: float, why: str, mute: bool = False,
               stay: State | None = None) -> Step:
        """Recovery from an error found in ``stay`` (default: the current state)."""
        self._mute = mute
        here = self.state if stay is None else stay
        if self.state is State.RESYNCH:  # rule 6.4: repeat S(RESYNCH request)
            return self._resynch(now, why)
        if self.state is State.IFS:  # rule 7.3: repeat the S(... request)
            return self._retry(now, why, self._last, here)
        if self._last is not None and self._last.kind is Kind.R:
            return self._retry(now, why, self._last, here)  # rule 7.2: repeat our R-block
        return self._retry(now, why, Block.r(self.nr, bits, self.nad), here)  # rule 7.1

    def _retry(self, now: float, why: str, block: Block | None,
               stay: State | None = None) -> Step:
        self._retries += 1
        if self._retries > MAX_RETRIES or block is None:  # rule 7.4.2
            return self._resynch(now, why)
        note = Note("t1_retry", f"{why}; attempt {self._retries}: {block.describe()}")
        return Step([note, *self._send(block, now)], self.state if stay is None else stay)

    def _resynch(self, now: float, why: str) -> Step:
        if self._resynchs >= MAX_RESYNCHS:  # rule 6.4: the card is given up
            return self._die(why)
        self._resynchs += 1
        self._retries = 0
        note = Note("t1_resynch", f"{why}; attempt {self._resynchs}")
        return Step([note, *self._send(Block.s(SType.RESYNCH, nad=self.nad), now)],
                    State.RESYNCH)

    def _die(self, why: str) -> Step:
        """The dead state (rule 6.4): only a new activation helps."""
        self._waiting = False
        if self._mute:
            self._dead_error = CardMute(f"T=1: no answer after resynch ({why})")
        else:
            self._dead_error = CardProtocolError(f"T=1: resynch failed ({why})")
        return Step([Note("t1_dead", why), Failed(self._dead_error)], State.DEAD)

    # ---- sending --------------------------------------------------------------
    def _begin(self, goal: str) -> None:
        if self.state is not State.IDLE:
            raise LinkUsageError(f"T=1 exchange already in progress ({self.state.value})")
        self._goal = goal
        self._off = 0
        self._resp.clear()
        self._retries = 0
        self._resynchs = 0
        self._mute = False

    def _send_chunk(self, now: float) -> list[T1Action]:
        """Rule 5: the next piece of the command, at most IFSC bytes, M=1 if more."""
        chunk = self._cmd[self._off:self._off + self.ifsc]
        more = self._off + len(chunk) < len(self._cmd)
        block = Block.i(self.ns, chunk, more, self.nad)
        self._last_i = block
        return self._send(block, now)

    def _send(self, block: Block, now: float) -> list[T1Action]:
        """Transmit ``block`` no earlier than BGT after the card's last character (§11.4.3)."""
        self._last = block
        self._waiting = False
        not_before = now
        if self._rx_edge is not None:
            bgt = self.timing.bgt_etu * self.timing.etu
            not_before = max(now, self._rx_edge + bgt)
        return [Transmit(encode(block, self.checksum), not_before)]

S = State  # short names for the table below
E = T1Engine
# (state, block received) -> next state, handler, rule. A handler may end elsewhere
# only to recover from an error (ERROR RECOVERY below: the retry keeps the state,
# RESYNCH, DEAD) or where the line says so: S(IFS response) ends ``negotiate_ifsd``
# in IDLE; a resynchronisation goes IFS first when IFSD must be announced again.
TRANSITIONS: dict[tuple[State, str], Transition] = {
    (S.SENDING, "I"): Transition(S.IDLE, E._acknowledged_by_i, "§11.6.2 rule 2"),
    (S.SENDING, "I+"): Transition(S.RECEIVING, E._acknowledged_by_i, "§11.6.2 rules 2, 5"),
    (S.SENDING, "R"): Transition(S.SENDING, E._r_while_sending, "§11.6.2 rule 5; §11.6.3 rule 7.1"),
    (S.RECEIVING, "I"): Transition(S.IDLE, E._take_i, "§11.6.2 rule 2"),
    (S.RECEIVING, "I+"): Transition(S.RECEIVING, E._take_i, "§11.6.2 rule 5"),
    (S.RECEIVING, "R"): Transition(S.RECEIVING, E._resend_r, "§11.6.3 rule 7.2"),
    (S.SENDING, "S(IFS request)"): Transition(S.SENDING, E._answer_ifs, "§11.6.2 rule 4"),
    (S.RECEIVING, "S(IFS request)"): Transition(S.RECEIVING, E._answer_ifs, "§11.6.2 rule 4"),
    (S.SENDING, "S(WTX request)"): Transition(S.SENDING, E._answer_wtx, "§11.6.2 rule 3"),
    (S.RECEIVING, "S(WTX request)"): Transition(S.RECEIVING, E._answer_wtx, "§11.6.2 rule 3"),
    (S.SENDING, "S(ABORT request)"): Transition(S.IDLE, E._answer_abort, "§11.6.3 rule 9"),
    (S.RECEIVING, "S(ABORT request)"): Transition(S.IDLE, E._answer_abort, "§11.6.3 rule 9"),
    (S.IFS, "S(IFS response)"): Transition(S.SENDING, E._ifsd_accepted, "§11.6.2 rule 4"),
    (S.RESYNCH, "S(RESYNCH response)"): Transition(S.SENDING, E._resynchronised,
                                                   "§11.6.3 rules 6.2, 6.3"),
    # anything else is an invalid block: E._invalid (§11.6.3 rules 7.1, 7.2, 7.3, 6.4;
    # S(RESYNCH request) from the card: rule 6.1, only the reader resynchronises)
}
