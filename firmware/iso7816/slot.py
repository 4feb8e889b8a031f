"""The card slot engine: activation, ATR, PPS, protocol dispatch (sans-I/O).

ISO/IEC 7816-3:2006 §6 (activation, reset, deactivation), §8 (ATR), §9 (PPS),
then T=0 (:class:`~firmware.iso7816.t0.T0Engine`) or T=1
(:class:`~firmware.iso7816.t1.T1Engine`). Like h11's ``Connection`` it never does
I/O: every input takes ``now`` and returns actions of
:mod:`firmware.iso7816.actions` for a driver (``firmware.iso7816.link.CardLink``).

The whole behaviour is the table :data:`TRANSITIONS` of (state, event) ->
(handler, next state, clause), shaped after h11's ``_state.py``. The next state
is where the event leads when all goes well; where the outcome depends on what
the card sent (an ATR character may complete the ATR and lead to PPS, SETUP or
READY) the column says ``None`` and the handler chooses. Either way the state
changes in one place, :meth:`SlotEngine._move`. A failure ends in the error
state INACTIVE (deactivated, §6.4: the card's state is unknown; only a new
activation leaves it), a pulled card in ABSENT. An event with no row is either
our misuse (a command such as ``transmit`` in the wrong state:
:class:`LinkUsageError`) or noise from the line (a stray character, a stale
timer: a :class:`Note`).

Raw bytes: the UART reads every character in the direct convention. After a TS
read as 03 (inverse convention, §8.1) the engine switches the UART to odd parity
and decodes/encodes every byte with :mod:`firmware.iso7816.convention`. With TX
and RX tied (``echo=True``) each byte we send comes back first: it is checked
and dropped; a different byte is a collision on the line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from . import actions as act
from . import convention as conv
from .atr import Atr, AtrCollector
from .errors import AtrError, CardAbsent, CardError, CardGone, CardProtocolError, LinkUsageError
from .port import IoLine, SlotConfig
from .pps import PpsCollector, PpsOutcome, check_pps_response, choose_parameters
from .t0 import T0Engine
from .t1 import T1Engine
from .timing import ATR_CHAR_MAX_ETU, ATR_START_MAX_CYCLES, RST_LOW_MIN_CYCLES, LinkTiming

INITIAL_WAIT_ETU = 9600  # §9.1 / §8.1: PPS answer and ATR characters within 9600 etu
PPS_TURNAROUND_ETU = 16  # after the last ATR character, as in T=0 (§10.2)


class State(Enum):
    ABSENT = "absent"  # no card in the slot
    INACTIVE = "inactive"  # card present, powered down; also where every failure ends
    RESET_LOW = "reset_low"  # VCC and clock on, RST low for 400 clocks (§6.2.2)
    ATR = "atr"  # RST high, collecting the ATR (§8)
    PPS = "pps"  # PPS request sent, collecting the answer (§9)
    SETUP = "setup"  # T=1: our S(IFS request) announcing IFSD
    READY = "ready"  # accepts APDUs
    BUSY = "busy"  # one APDU exchange in progress


S = State
POWERED = (S.RESET_LOW, S.ATR, S.PPS, S.SETUP, S.READY, S.BUSY)
PENDING = (S.RESET_LOW, S.ATR, S.PPS, S.SETUP, S.BUSY)  # a caller awaits the outcome
COMMANDS = ("activate", "transmit", "warm_reset")  # misuse raises; others are notes
SlotAction = act.Action
Handler = Callable[..., list[SlotAction]]


@dataclass(frozen=True)
class Transition:
    handler: Handler
    to: State | None  # where the event leads when all goes well; None: the handler decides
    clause: str  # ISO/IEC 7816-3:2006


class SlotEngine:
    """One card slot. See the module docstring and :data:`TRANSITIONS`."""

    def __init__(self, config: SlotConfig | None = None):
        self.config = config or SlotConfig()
        self.state = State.ABSENT  # initial state, before any event
        self.atr: Atr | None = None
        self.timing = LinkTiming(self.config.clock_hz)
        self.protocol: int | None = None
        self.pps_outcome: PpsOutcome | None = None
        self.line = IoLine(self.config.echo)
        self.deadline: float | None = None
        self.fallback = False  # a PPS failed: next activation without PPS
        self._engine: T0Engine | T1Engine | None = None
        self._warm_tried = False
        self._got_any = False
        self._collector = AtrCollector()
        self._pps_request = b""
        self._pps = PpsCollector()

    def card_inserted(self, now: float) -> list[SlotAction]:
        return self._dispatch("card_inserted", now)

    def card_removed(self, now: float) -> list[SlotAction]:
        """The card left: whatever the state, power down (§6.4)."""
        if self.state is S.ABSENT:
            return []
        out: list[SlotAction] = [act.Note("card_removed")]
        if self.state in POWERED:
            out += self._deactivation("card_removed")
        if self.state in PENDING:
            out.append(act.Failed(CardGone("card removed during " + self.state.value)))
        self._move(S.ABSENT)
        return out

    def activate(self, now: float) -> list[SlotAction]:
        """Cold reset and everything up to Ready (or Failed)."""
        return self._dispatch("activate", now)

    def warm_reset(self, now: float) -> list[SlotAction]:
        return self._dispatch("warm_reset", now)

    def deactivate(self, now: float) -> list[SlotAction]:
        if self.state not in POWERED:
            return []
        out = self._deactivation("requested")
        if self.state in PENDING:
            out.append(act.Failed(CardGone("slot powered down on request")))
        self._move(S.INACTIVE)
        return out

    def transmit(self, apdu: bytes, now: float) -> list[SlotAction]:
        return self._dispatch("transmit", now, apdu)

    def transmitted(self, now: float) -> list[SlotAction]:
        return self._dispatch("transmitted", now)

    def timeout(self, now: float) -> list[SlotAction]:
        if self.deadline is None or now < self.deadline:
            return [act.Note("stale_timer", f"{now:.6f}")]
        out = self._dispatch("timeout", now)
        if self.deadline is not None and self.deadline <= now:
            self.deadline = None  # consumed: a timer fires once
        return out

    def receive(self, raw: bytes, times, parity_ok=None) -> list[SlotAction]:
        """Raw UART bytes; ``times`` is one leading-edge time per byte (or the
        first one, the others then 12 etu apart); ``parity_ok`` per byte."""
        if isinstance(times, int | float):
            step = self.timing.char_etu * self.timing.etu
            times = [times + i * step for i in range(len(raw))]
        flags = list(parity_ok) if parity_ok is not None else [True] * len(raw)
        out: list[SlotAction] = []
        for byte, at, ok in zip(raw, times, flags, strict=True):
            expected = self.line.echo_due()
            if expected is not None:
                if byte != expected or not ok:
                    out += self._collision(expected, byte, at)
                continue
            self.line.last_rx = at
            out += self._dispatch("char", at, byte, ok)
        return out

    def _dispatch(self, event: str, now: float, *args) -> list[SlotAction]:
        move = TRANSITIONS.get((self.state, event))
        if move is None:
            if event in COMMANDS:
                raise LinkUsageError(f"{event} while the slot is {self.state.value}")
            return [act.Note("slot_ignored", f"{event} in {self.state.value}")]
        return move.handler(self, now, *args)

    def _move(self, to: State) -> None:
        """The one place the slot's state changes."""
        self.state = to

    def _inserted(self, now: float) -> list[SlotAction]:
        self._move(S.INACTIVE)
        return [act.Note("card_inserted")]

    def _absent(self, now: float) -> list[SlotAction]:
        return [act.Failed(CardAbsent("no card in the slot"))]

    def _cold_reset(self, now: float) -> list[SlotAction]:
        self._warm_tried = False
        self.fallback = False
        return self._power_up(now)

    def _power_up(self, now: float) -> list[SlotAction]:
        self._reset_session()
        # §6.2.2: RST low, VCC, I/O in reception mode, clock; RST high later.
        return [act.SetRst(False), act.SetVcc(True), act.SetUart(self.timing.baud, "E", 0.0),
                act.SetClock(self.config.clock_hz),
                *self._arm(now + RST_LOW_MIN_CYCLES / self.config.clock_hz)]

    def _warm_reset(self, now: float) -> list[SlotAction]:
        self._reset_session()
        return [act.SetRst(False), act.SetUart(self.timing.baud, "E", 0.0),
                *self._arm(now + RST_LOW_MIN_CYCLES / self.config.clock_hz)]

    def _reset_session(self) -> None:
        self._move(S.RESET_LOW)
        self.timing = LinkTiming(self.config.clock_hz)
        self.line.reset()
        self.atr = None
        self.protocol = None
        self.pps_outcome = None
        self._engine = None
        self._got_any = False
        self._collector = AtrCollector()

    def _rst_high(self, now: float) -> list[SlotAction]:
        self._move(S.ATR)
        return [act.SetRst(True), *self._arm(now + ATR_START_MAX_CYCLES / self.config.clock_hz)]

    def _atr_char(self, now: float, byte: int, parity_ok: bool) -> list[SlotAction]:
        out: list[SlotAction] = []
        first = not self._got_any
        self._got_any = True
        self._collector.feed(byte)
        if first and self._collector.convention == conv.INVERSE:
            # TS read as 03 (its parity reads wrong under 'E'): §8.1 inverse.
            self.line.convention = conv.INVERSE
            out.append(act.SetUart(self.timing.baud, "O", 0.0))
        elif not parity_ok and not first:
            return out + self._atr_failed(now, AtrError("parity error in the ATR", code="atr_parity"))
        if not self._collector.done:
            return out + self._arm(now + ATR_CHAR_MAX_ETU * self.timing.etu)
        atr = self._collector.result()
        if not atr.ok:
            why = atr.error or "atr_invalid"
            return out + self._atr_failed(now, AtrError(why, code=why.split(":", 1)[0]))
        self.atr = atr
        return out + self._negotiate(now, atr)

    def _atr_timeout(self, now: float) -> list[SlotAction]:
        if not self._got_any:
            err = AtrError("no ATR within 40000 clocks", code="atr_mute", message_fr="Carte muette")
        else:
            got = self._collector.received.hex(" ").upper()
            err = AtrError(f"ATR stopped after {got}", code="atr_truncated")
        return self._atr_failed(now, err)

    def _atr_failed(self, now: float, error: AtrError) -> list[SlotAction]:
        if not self._warm_tried:  # §6.2.3: one warm reset before giving up
            self._warm_tried = True
            return [act.Note("atr_retry", str(error)), *self._warm_reset(now)]
        return self._fail(error)

    def _negotiate(self, now: float, atr: Atr) -> list[SlotAction]:
        cfg = self.config
        try:
            choice = choose_parameters(
                atr, cfg.clock_hz, cfg.max_baud, cfg.protocols, cfg.prefer_protocol
            )
        except AtrError as exc:
            return self._fail(exc)
        if atr.specific is not None:  # §8.3 specific mode: TA1 applies unless implicit
            implicit = atr.specific.implicit
            fi, di = (372, 1) if implicit else (atr.fi or 372, atr.di or 1)
            return self._start_protocol(now, atr.specific.protocol, fi, di)
        if choice is None or self.fallback or not cfg.pps:
            protocol = atr.first_protocol if atr.first_protocol is not None else 0
            if protocol not in cfg.protocols:
                return self._fail(AtrError(f"T={protocol} only", code="atr_no_common_protocol"))
            return self._start_protocol(now, protocol, 372, 1)
        self._pps_request = choice.request
        self._pps = PpsCollector()
        self._move(S.PPS)
        floor = self._floor(PPS_TURNAROUND_ETU)
        return [act.Note("pps_request", choice.request.hex(" ").upper()),
                *self._send(choice.request, floor)]

    def _pps_sent(self, now: float) -> list[SlotAction]:
        return self._arm(now + INITIAL_WAIT_ETU * self.timing.etu)

    def _pps_char(self, now: float, byte: int, parity_ok: bool) -> list[SlotAction]:
        logical = self.line.decode(byte)
        if not parity_ok:
            return self._pps_fallback(now, "parity error in the PPS answer")
        if not self._pps.feed(logical):
            return self._arm(now + INITIAL_WAIT_ETU * self.timing.etu)
        try:
            outcome = check_pps_response(self._pps_request, self._pps.response)
        except CardProtocolError as exc:
            return self._pps_fallback(now, str(exc))
        self.pps_outcome = outcome
        return [act.Note("pps_accepted", self._pps.response.hex(" ").upper()),
                *self._start_protocol(now, outcome.protocol, outcome.fi, outcome.di)]

    def _pps_timeout(self, now: float) -> list[SlotAction]:
        return self._pps_fallback(now, "no PPS answer within 9600 etu")

    def _pps_fallback(self, now: float, why: str) -> list[SlotAction]:
        """§9.3: a failed PPS exchange ends in deactivation; we then activate
        again and stay at Fd/Dd with the first offered protocol (no PPS)."""
        out = [act.Note("pps_fallback", why), *self._deactivation("pps_failed")]
        warm_tried = self._warm_tried
        out += self._power_up(now)
        self._warm_tried = warm_tried
        self.fallback = True
        return out

    def _start_protocol(self, now: float, protocol: int, fi: int, di: int) -> list[SlotAction]:
        atr = self.atr
        if atr is None:  # our bug: a protocol only starts after an ATR
            raise LinkUsageError("protocol start without an ATR")
        self.protocol = protocol
        # The last ATR/PPS character was at the old speed: not a character of
        # ours before 16 of *those* etu (a shorter new etu must not cut it).
        self.line.min_send = self._floor(PPS_TURNAROUND_ETU)
        self.timing = LinkTiming(
            self.config.clock_hz, fi, di, n=atr.n, wi=atr.wi,
            protocol=protocol, **{k: v for k, v in (("bwi", atr.bwi), ("cwi", atr.cwi)) if v is not None},
        )
        if self.timing.baud > self.config.max_baud * 1.0001:
            baud = f"card imposes {self.timing.baud:.0f} baud"
            return self._fail(AtrError(baud, code="atr_speed_unsupported"))
        out: list[SlotAction] = [act.SetUart(self.timing.baud,
                                             conv.uart_parity(self.line.convention),
                                             self.timing.char_etu - 12.0)]
        if protocol == 1:
            self._engine = T1Engine(self.timing, ifsc=atr.ifsc or 32, ifsd=self.config.ifsd,
                                    checksum=atr.checksum or "LRC")
            self._move(S.SETUP)
            return out + self._run(self._engine.negotiate_ifsd(now))
        self._engine = T0Engine(self.timing)
        return out + self._ready()

    def _ready(self) -> list[SlotAction]:
        self._move(S.READY)
        if self.atr is None or self.protocol is None:  # our bug: READY needs both
            raise LinkUsageError("ready without an ATR and a protocol")
        return [act.Deadline(None), act.Ready(self.atr.raw, self.protocol, self.timing.fi, self.timing.di)]

    def _start_exchange(self, now: float, apdu: bytes) -> list[SlotAction]:
        actions = self._running().start(bytes(apdu), now)  # LinkUsageError propagates
        self._move(S.BUSY)
        return self._run(actions)

    def _engine_char(self, now: float, byte: int, parity_ok: bool) -> list[SlotAction]:
        logical = self.line.decode(byte)
        return self._run(self._running().receive(logical, now, parity_ok))

    def _engine_transmitted(self, now: float) -> list[SlotAction]:
        return self._run(self._running().transmitted(now))

    def _engine_timeout(self, now: float) -> list[SlotAction]:
        return self._run(self._running().timeout(now))

    def _running(self) -> T0Engine | T1Engine:
        if self._engine is None:  # our bug: SETUP and BUSY always have an engine
            raise LinkUsageError(f"no protocol engine while {self.state.value}")
        return self._engine

    def _run(self, actions: Sequence[SlotAction]) -> list[SlotAction]:
        """Engine actions -> slot actions: encode and time what is sent, end
        the exchange on Complete/Failed."""
        out: list[SlotAction] = []
        for a in actions:
            if isinstance(a, act.Transmit):
                self.deadline = None  # re-armed by the engine once it is sent
                floor = self._floor(self.timing.turnaround_etu)
                out += self._send(a.data, max(a.not_before, floor))
            elif isinstance(a, act.Deadline):
                self.deadline = a.at
                out.append(a)
            elif isinstance(a, act.Complete) and self.state is S.SETUP:
                out += self._ready()
            elif isinstance(a, act.Complete):
                self._move(S.READY)
                out.append(a)
            elif isinstance(a, act.Failed):
                out += self._fail(a.error)
            else:
                out.append(a)
        return out

    def _fail(self, error: CardError) -> list[SlotAction]:
        """The engine gave up (mute card, dead T=1 link, protocol breach): the
        card's state is unknown, so deactivate (§6.4)."""
        if isinstance(error, LinkUsageError):
            self._move(S.READY)
            return [act.Failed(error)]
        out = self._deactivation(error.code)
        self._move(S.INACTIVE)
        return out + [act.Failed(error)]

    def _send(self, logical: bytes, not_before: float) -> list[SlotAction]:
        return [act.Send(self.line.encode(logical), not_before)]

    def _floor(self, etu: float) -> float:
        """Earliest leading edge of our next character: ``etu`` after the
        leading edge of the last one received (§10.2 / §11.2)."""
        return self.line.floor(etu, self.timing.etu)

    def _arm(self, at: float | None) -> list[SlotAction]:
        self.deadline = at
        return [act.Deadline(at)]

    def _collision(self, expected: int, got: int, at: float) -> list[SlotAction]:
        err = CardProtocolError(f"echo {got:02X} (parity checked) for {expected:02X}: line collision",
                                code="io_collision", message_fr="Erreur de ligne carte")
        if self.state is S.PPS:
            return self._pps_fallback(at, str(err))
        if self.state in PENDING:
            return self._fail(err)
        return [act.Note("io_collision", str(err))]

    def _deactivation(self, reason: str) -> list[SlotAction]:
        """§6.4: RST low, clock stopped, I/O low (UART off: baud 0), VCC off."""
        self.line.drop_echoes()
        self._engine = None
        self.deadline = None
        return [act.Deadline(None), act.SetRst(False), act.SetClock(0), act.SetUart(0.0, "E", 0.0),
                act.SetVcc(False), act.PoweredDown(reason)]


E = SlotEngine
TRANSITIONS: dict[tuple[State, str], Transition] = {
    (S.ABSENT, "card_inserted"): Transition(E._inserted, S.INACTIVE, "§6.1"),
    (S.ABSENT, "activate"): Transition(E._absent, None, "-"),  # Failed(CardAbsent)
    (S.INACTIVE, "activate"): Transition(E._cold_reset, S.RESET_LOW, "§6.2.2"),
    (S.RESET_LOW, "timeout"): Transition(E._rst_high, S.ATR, "§6.2.2"),  # 400 clocks later
    # TS sets the convention (§8.1); a complete ATR -> PPS, SETUP or READY; a bad or
    # mute one -> one warm reset (RESET_LOW, §6.2.3), then INACTIVE
    (S.ATR, "char"): Transition(E._atr_char, None, "§8.1, §8.2"),
    (S.ATR, "timeout"): Transition(E._atr_timeout, S.RESET_LOW, "§8.1, §6.2.3"),
    (S.PPS, "transmitted"): Transition(E._pps_sent, S.PPS, "§9.1"),
    (S.PPS, "char"): Transition(E._pps_char, None, "§9.3"),  # SETUP/READY, or fallback
    (S.PPS, "timeout"): Transition(E._pps_timeout, S.RESET_LOW, "§9.3"),  # fallback
    (S.SETUP, "char"): Transition(E._engine_char, S.READY, "§11.6.2 rule 4"),
    (S.SETUP, "transmitted"): Transition(E._engine_transmitted, S.SETUP, "§11.4.3"),
    (S.SETUP, "timeout"): Transition(E._engine_timeout, S.SETUP, "§11.6.3"),
    (S.READY, "transmit"): Transition(E._start_exchange, S.BUSY, "§10, §11"),
    (S.READY, "warm_reset"): Transition(E._warm_reset, S.RESET_LOW, "§6.2.3"),
    (S.BUSY, "char"): Transition(E._engine_char, S.READY, "§10, §11"),  # Complete
    (S.BUSY, "transmitted"): Transition(E._engine_transmitted, S.BUSY, "§10.2, §11.4.3"),
    (S.BUSY, "timeout"): Transition(E._engine_timeout, S.BUSY, "§10.2, §11.6.3"),
}
