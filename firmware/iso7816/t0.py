"""T=0, reader side: a sans-I/O engine carrying one short APDU per exchange.

ISO/IEC 7816-3:2006 §10 (character protocol) and §12.2 / ISO/IEC 7816-4:1995
Annex A (mapping APDU cases 1-4 onto T=0 TPDUs). The engine follows the
contract of :mod:`firmware.iso7816.actions`: it is fed logical characters and
times, and returns actions; it never sleeps, reads or writes.

Two layers live here:

- the *TPDU layer* sends ``CLA INS P1 P2 P3 [data]`` and reads the procedure
  bytes (§10.3.3) until SW1 SW2; its logic is the table :data:`PROCEDURE`;
- the *APDU layer* (:meth:`T0Engine._tpdu_done`) decides what the status of a
  TPDU means for the APDU: re-issue on 6Cxx, GET RESPONSE on 61xx or after
  9000 in case 4, or complete.

Misuse policy (see docs/t0.md): calls that would corrupt an exchange raise
:class:`LinkUsageError` and leave the engine unchanged; harmless races (a late
timer, a stray character while idle) give a :class:`Note` and are ignored.

>>> from firmware.iso7816.timing import LinkTiming
>>> e = T0Engine(LinkTiming(clock_hz=3_571_200))
>>> e.start(bytes.fromhex("00a40400023f00"), 0.0)
[Deadline(at=None), Transmit(data=b'\\x00\\xa4\\x04\\x00\\x02', not_before=0.0)]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .actions import Complete, Deadline, Failed, Note, Transmit
from .apdu import ApduError, CommandAPDU
from .errors import CardError, CardMute, CardProtocolError, LinkUsageError
from .timing import LinkTiming

NULL = 0x60
INS_GET_RESPONSE = 0xC0
# A character still wrong after this many repetitions ends the exchange (§7.3).
MAX_PARITY_REPETITIONS = 5
# Each GET RESPONSE must bring at least one byte of at most 256 wanted.
MAX_GET_RESPONSE = 257


class State(Enum):
    IDLE = "idle"  # no exchange
    SENDING = "sending"  # a Transmit is out, waiting for transmitted()
    PROCEDURE = "procedure"  # waiting for a procedure byte or SW1 (§10.3.3)
    SW2 = "sw2"  # SW1 received, waiting for SW2
    DATA_ALL = "data_all"  # after ACK=INS: receiving all remaining bytes
    DATA_ONE = "data_one"  # after ACK=~INS: receiving one byte


@dataclass
class Tpdu:
    """One command TPDU and what has moved so far."""

    header: bytes  # CLA INS P1 P2 P3
    out: bytes = b""  # data we send (incoming transfer, cases 3 and 4)
    ne: int = 0  # bytes the card sends (outgoing transfer, P3 or 256)
    kind: str = "command"  # "command", "get_response" or "probe" (4S.2)
    reissued: bool = False  # already re-sent once on 6Cxx
    sent: int = 0
    got: bytes = b""
    sw1: int = 0

    @property
    def ins(self) -> int:
        return self.header[1]


@dataclass
class _Exchange:
    """One APDU under way: the command, the TPDU in flight and what came back."""

    cmd: CommandAPDU
    tpdu: Tpdu
    state: State = State.SENDING
    collected: bytearray = field(default_factory=bytearray)
    rounds: int = 0  # GET RESPONSE sent so far


def _proc_kind(byte: int, ins: int) -> str:
    """Classify a byte received where a procedure byte is due (§10.3.3)."""
    if byte == NULL:
        return "null"
    if byte == ins:
        return "ack_all"
    if byte == ins ^ 0xFF:
        return "ack_one"
    if byte & 0xF0 in (0x60, 0x90):
        return "sw1"
    return "invalid"


# (procedure kind, transfer direction) -> what the engine does. Direction is
# "in" when we still have data to send, "out" when the card still has data to
# send, "none" when nothing is left to move.
PROCEDURE: dict[tuple[str, str], str] = {
    ("null", "in"): "wait",
    ("null", "out"): "wait",
    ("null", "none"): "wait",
    ("sw1", "in"): "await_sw2",
    ("sw1", "out"): "await_sw2",
    ("sw1", "none"): "await_sw2",
    ("ack_all", "in"): "send_rest",
    ("ack_all", "out"): "receive_rest",
    ("ack_all", "none"): "error",
    ("ack_one", "in"): "send_one",
    ("ack_one", "out"): "receive_one",
    ("ack_one", "none"): "error",
    ("invalid", "in"): "error",
    ("invalid", "out"): "error",
    ("invalid", "none"): "error",
}


def _first_tpdu(cmd: CommandAPDU) -> Tpdu:
    """ISO 7816-4 Annex A / 7816-3 §12.2: the command TPDU of each case."""
    if cmd.data:  # A.3 and A.4: P3 = Lc, the data follow; Le is not sent in T=0.
        return Tpdu(cmd.header + bytes((len(cmd.data),)), out=cmd.data)
    if cmd.le is not None:  # case 2
        return Tpdu(cmd.header + bytes((cmd.le & 0xFF,)), ne=cmd.le)  # A.2: P3 = Le
    return Tpdu(cmd.header + b"\x00")  # case 1, A.1: P3 = 00


class T0Engine:
    """The reader's half of T=0 for one slot. Not thread-safe; one exchange at
    a time. See :mod:`firmware.iso7816.actions` for the calling contract."""

    def __init__(self, timing: LinkTiming):
        self.timing = timing
        self.deadline: float | None = None
        self.last_rx: float | None = None  # leading edge of the last char received
        self._ex: _Exchange | None = None  # None: IDLE
        self._bad_parity = 0

    @property
    def state(self) -> State:
        return State.IDLE if self._ex is None else self._ex.state

    # ---- public contract --------------------------------------------------
    def start(self, apdu: bytes, now: float) -> list:
        """Begin one exchange. Raises :class:`LinkUsageError` (engine unchanged)
        when busy, or for an APDU T=0 cannot carry here (malformed, extended)."""
        if self.state is not State.IDLE:
            raise LinkUsageError(f"start() while {self.state.value}: one exchange at a time")
        try:
            cmd = CommandAPDU.from_bytes(bytes(apdu))
        except ApduError as exc:
            raise LinkUsageError(f"malformed APDU: {exc}", code="apdu_malformed") from exc
        if cmd.extended:
            raise LinkUsageError(
                "extended-length APDU: T=0 carries short APDUs only (no ENVELOPE in this profile)",
                code="apdu_extended_unsupported",
            )
        ex = self._ex = _Exchange(cmd, _first_tpdu(cmd))
        self._bad_parity = 0
        return self._send_tpdu(ex, ex.tpdu, now)

    def transmitted(self, now: float) -> list:
        """The leading edge of the last character we sent was at ``now``."""
        ex = self._ex
        if ex is None or ex.state is not State.SENDING:
            raise LinkUsageError(f"transmitted() while {self.state.value}: nothing was sent")
        ex.state = State.PROCEDURE
        return self._arm(now)

    def receive(self, byte: int, now: float, parity_ok: bool = True) -> list:
        """One logical character from the card, leading edge at ``now``."""
        ex = self._ex
        if ex is None:
            return [Note("stray_byte", f"{byte:02X} received with no exchange; ignored")]
        if ex.state is State.SENDING:
            raise LinkUsageError("receive() before transmitted(): report our last character first")
        if not parity_ok:  # §7.3: error signalled, the card repeats the character
            self._bad_parity += 1
            if self._bad_parity > MAX_PARITY_REPETITIONS:
                return self._fail(
                    CardProtocolError(
                        f"character still has a parity error after {MAX_PARITY_REPETITIONS} "
                        "repetitions",
                        code="t0_parity",
                    )
                )
            return [Note("parity_error", f"repetition {self._bad_parity}"), *self._arm(now)]
        self._bad_parity = 0
        self.last_rx = now
        tpdu = ex.tpdu
        if ex.state is State.SW2:
            return self._tpdu_done(ex, bytes((tpdu.sw1, byte)), now)
        if ex.state in (State.DATA_ALL, State.DATA_ONE):
            tpdu.got += bytes((byte,))
            if ex.state is State.DATA_ONE or len(tpdu.got) == tpdu.ne:
                ex.state = State.PROCEDURE
            return self._arm(now)
        return self._procedure(ex, byte, now)

    def timeout(self, now: float) -> list:
        """The armed Deadline passed without a character: the card is mute."""
        if self.deadline is None or self.state in (State.IDLE, State.SENDING):
            return [Note("stale_timeout", f"timeout() while {self.state.value}; ignored")]
        if now < self.deadline:
            return [Note("early_timeout", f"timeout at {now!r} before {self.deadline!r}")]
        return self._fail(
            CardMute(f"no character within WWT={self.timing.wwt:.6f}s", code="t0_wwt_expired")
        )

    @property
    def busy(self) -> bool:
        return self._ex is not None

    # ---- TPDU layer ---------------------------------------------------------
    def _direction(self, tpdu: Tpdu) -> str:
        if tpdu.sent < len(tpdu.out):
            return "in"
        if len(tpdu.got) < tpdu.ne:
            return "out"
        return "none"

    def _procedure(self, ex: _Exchange, byte: int, now: float) -> list:
        tpdu = ex.tpdu
        kind = _proc_kind(byte, tpdu.ins)
        move = PROCEDURE[(kind, self._direction(tpdu))]
        if move == "wait":
            return [Note("null_byte", "card asks for more time (WWT restarts)"), *self._arm(now)]
        if move == "await_sw2":
            tpdu.sw1 = byte
            ex.state = State.SW2
            return self._arm(now)
        if move == "receive_rest":
            ex.state = State.DATA_ALL
            return self._arm(now)
        if move == "receive_one":
            ex.state = State.DATA_ONE
            return self._arm(now)
        if move in ("send_rest", "send_one"):
            end = len(tpdu.out) if move == "send_rest" else tpdu.sent + 1
            chunk = tpdu.out[tpdu.sent : end]
            tpdu.sent = end
            return self._transmit(ex, chunk, now)
        what = "procedure byte" if kind == "invalid" else f"ACK {byte:02X} with nothing left"
        return self._fail(
            CardProtocolError(
                f"unexpected {what} {byte:02X} for INS {tpdu.ins:02X}", code="t0_bad_procedure"
            )
        )

    def _send_tpdu(self, ex: _Exchange, tpdu: Tpdu, now: float) -> list:
        ex.tpdu = tpdu
        return self._transmit(ex, tpdu.header, now)

    def _transmit(self, ex: _Exchange, data: bytes, now: float) -> list:
        """Send ``data`` honouring the 16 etu turnaround (§10.2 / §7.2)."""
        not_before = now
        if self.last_rx is not None:
            not_before = max(now, self.last_rx + self.timing.turnaround_etu * self.timing.etu)
        ex.state = State.SENDING
        self.deadline = None
        return [Deadline(None), Transmit(bytes(data), not_before)]

    def _arm(self, edge: float) -> list:
        """WWT (§10.2) runs from the leading edge of the last character either way."""
        self.deadline = edge + self.timing.wwt
        return [Deadline(self.deadline)]

    def _finish(self) -> None:
        self._ex = None
        self.deadline = None

    def _fail(self, error: CardError) -> list:
        self._finish()
        return [Deadline(None), Failed(error)]

    # ---- APDU layer (ISO 7816-4 Annex A, 7816-3 §12.2) -----------------------
    def _tpdu_done(self, ex: _Exchange, sw: bytes, now: float) -> list:
        cmd, tpdu = ex.cmd, ex.tpdu
        sw1, sw2 = sw
        want = cmd.le or 0
        room = want - len(ex.collected)
        ex.collected += tpdu.got[:room]  # A.2S.3: keep only the first Le bytes
        room = want - len(ex.collected)
        outgoing = tpdu.ne > 0
        if sw1 == 0x6C and outgoing and not tpdu.reissued:
            # A.2S.3: Le not accepted, La = SW2: re-issue the same header, P3 = La.
            again = Tpdu(
                tpdu.header[:4] + bytes((sw2,)), ne=sw2 or 256, kind=tpdu.kind, reissued=True
            )
            return [Note("reissue_6c", f"P3={sw2:02X}"), *self._send_tpdu(ex, again, now)]
        if sw1 == 0x61 and room > 0:
            # A.4S.3 / §12.2.4 and 7816-4 §5.3.4 response chaining.
            return self._get_response(ex, min(room, sw2 or 256), "get_response", now)
        if sw == b"\x90\x00" and cmd.case == 4 and tpdu.kind == "command":
            # A.4S.2: command accepted: ask for the response data with P3 = Le.
            return self._get_response(ex, want, "probe", now)
        if tpdu.kind == "probe" and not tpdu.got and sw1 not in (0x90, 0x61, 0x6C):
            # The card had no response data after 9000: the command's own 9000 stands.
            self._finish()
            return [
                Note("probe_empty", f"GET RESPONSE answered {sw.hex().upper()}"),
                Deadline(None),
                Complete(b"\x90\x00"),
            ]
        response = bytes(ex.collected) + sw
        self._finish()
        return [Deadline(None), Complete(response)]

    def _get_response(self, ex: _Exchange, ne: int, kind: str, now: float) -> list:
        cmd = ex.cmd
        ex.rounds += 1
        if ex.rounds > MAX_GET_RESPONSE:
            return self._fail(
                CardProtocolError(
                    "card keeps answering 61xx: response chaining does not end",
                    code="t0_chaining_endless",
                )
            )
        # CLA of the command; interindustry classes drop the chaining bit b5.
        cla = cmd.cla & ~0x10 if cmd.cla < 0x80 else cmd.cla
        header = bytes((cla, INS_GET_RESPONSE, 0, 0, ne & 0xFF))
        return [
            Note(kind, f"P3={ne & 0xFF:02X}"),
            *self._send_tpdu(ex, Tpdu(header, ne=ne, kind=kind), now),
        ]
