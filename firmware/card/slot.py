"""The card slot engine: activation, ATR, PPS, protocol dispatch (sans-I/O).

ISO/IEC 7816-3:2006 §6 (activation, reset, deactivation), §8 (ATR), §9 (PPS),
then T=0 (:class:`~firmware.card.t0.T0Engine`) or T=1
(:class:`~firmware.card.t1.T1Engine`). Like h11's ``Connection`` it never does
I/O: every input takes ``now`` and returns actions of
:mod:`firmware.card.actions` for a driver (``firmware.card.link.CardLink``).

The whole behaviour is the table :data:`TRANSITIONS` of (state, event) ->
handler. An event with no row is either our misuse (a command such as
``transmit`` in the wrong state: :class:`LinkUsageError`) or noise from the
line (a stray character, a stale timer: a :class:`Note`).

Raw bytes: the UART reads every character in the direct convention. After a TS
read as 03 (inverse convention, §8.1) the engine switches the UART to odd parity
and decodes/encodes every byte with :mod:`firmware.card.convention`. With TX
and RX tied (``echo=True``) each byte we send comes back first: it is checked
and dropped; a different byte is a collision on the line.
"""

from __future__ import annotations

from enum import Enum

from . import actions as act
from . import convention as conv
from .atr import Atr, AtrCollector
from .errors import AtrError, CardAbsent, CardError, CardGone, CardProtocolError, LinkUsageError
from .port import IoLine, SlotConfig
from .pps import PpsCollector, check_pps_response, choose_parameters
from .timing import ATR_CHAR_MAX_ETU, ATR_START_MAX_CYCLES, RST_LOW_MIN_CYCLES, LinkTiming

INITIAL_WAIT_ETU = 9600  # §9.1 / §8.1: PPS answer and ATR characters within 9600 etu
PPS_TURNAROUND_ETU = 16  # after the last ATR character, as in T=0 (§10.2)


class State(Enum):
    ABSENT = "absent"  # no card in the slot
    INACTIVE = "inactive"  # card present, powered down
    RESET_LOW = "reset_low"  # VCC and clock on, RST low for 400 clocks (§6.2.2)
    ATR = "atr"  # RST high, collecting the ATR (§8)
    PPS = "pps"  # PPS request sent, collecting the answer (§9)
    SETUP = "setup"  # T=1: our S(IFS request) announcing IFSD
    READY = "ready"  # accepts APDUs
    BUSY = "busy"  # one APDU exchange in progress


S = State
TRANSITIONS: dict[tuple[State, str], str] = {
    # state        event             handler: what the slot does
    (S.ABSENT, "card_inserted"): "_inserted",  # -> INACTIVE
    (S.ABSENT, "activate"): "_absent",  # Failed(CardAbsent)
    (S.INACTIVE, "activate"): "_cold_reset",  # §6.2.2: RST low, VCC, I/O, CLK
    (S.RESET_LOW, "timeout"): "_rst_high",  # 400 clocks later: RST high, wait ATR
    (S.ATR, "char"): "_atr_char",  # TS sets convention; 9600 etu per char
    (S.ATR, "timeout"): "_atr_timeout",  # mute or truncated: warm reset once
    (S.PPS, "transmitted"): "_pps_sent",  # arm the initial waiting time
    (S.PPS, "char"): "_pps_char",  # answer complete: new speed, or fall back
    (S.PPS, "timeout"): "_pps_timeout",  # no answer: fall back (§9.3)
    (S.SETUP, "char"): "_engine_char",  # T=1 S(IFS) exchange
    (S.SETUP, "transmitted"): "_engine_transmitted",
    (S.SETUP, "timeout"): "_engine_timeout",
    (S.READY, "transmit"): "_start_exchange",  # -> BUSY
    (S.READY, "warm_reset"): "_warm_reset",  # §6.2.3
    (S.BUSY, "char"): "_engine_char",
    (S.BUSY, "transmitted"): "_engine_transmitted",
    (S.BUSY, "timeout"): "_engine_timeout",
}
POWERED = (S.RESET_LOW, S.ATR, S.PPS, S.SETUP, S.READY, S.BUSY)
PENDING = (S.RESET_LOW, S.ATR, S.PPS, S.SETUP, S.BUSY)  # a caller awaits the outcome
COMMANDS = ("activate", "transmit", "warm_reset")  # misuse raises; others are notes


class SlotEngine:
    """One card slot. See the module docstring and :data:`TRANSITIONS`."""

    def __init__(self, config: SlotConfig | None = None):
        self.config = config or SlotConfig()
        self.state = State.ABSENT
        self.atr: Atr | None = None
        self.timing = LinkTiming(self.config.clock_hz)
        self.protocol: int | None = None
        self.pps_outcome = None
        self.line = IoLine(self.config.echo)
        self.deadline: float | None = None
        self.fallback = False  # a PPS failed: next activation without PPS
        self._engine = None
        self._warm_tried = False
        self._got_any = False
        self._collector = AtrCollector()
        self._pps_request = b""
        self._pps = PpsCollector()

    def card_inserted(self, now: float) -> list:
        return self._dispatch("card_inserted", now)

    def card_removed(self, now: float) -> list:
        """The card left: whatever the state, power down (§6.4)."""
        if self.state is S.ABSENT:
            return []
        out = [act.Note("card_removed")]
        if self.state in POWERED:
            out += self._deactivation("card_removed")
        if self.state in PENDING:
            out.append(act.Failed(CardGone("card removed during " + self.state.value)))
        self.state = S.ABSENT
        return out

    def activate(self, now: float) -> list:
        """Cold reset and everything up to Ready (or Failed)."""
        return self._dispatch("activate", now)

    def warm_reset(self, now: float) -> list:
        return self._dispatch("warm_reset", now)

    def deactivate(self, now: float) -> list:
        if self.state not in POWERED:
            return []
        out = self._deactivation("requested")
        if self.state in PENDING:
            out.append(act.Failed(CardGone("slot powered down on request")))
        self.state = S.INACTIVE
        return out

    def transmit(self, apdu: bytes, now: float) -> list:
        return self._dispatch("transmit", now, apdu)

    def transmitted(self, now: float) -> list:
        return self._dispatch("transmitted", now)

    def timeout(self, now: float) -> list:
        if self.deadline is None or now < self.deadline:
            return [act.Note("stale_timer", f"{now:.6f}")]
        out = self._dispatch("timeout", now)
        if self.deadline is not None and self.deadline <= now:
            self.deadline = None  # consumed: a timer fires once
        return out

    def receive(self, raw: bytes, times, parity_ok=None) -> list:
        """Raw UART bytes; ``times`` is one leading-edge time per byte (or the
        first one, the others then 12 etu apart); ``parity_ok`` per byte."""
        if isinstance(times, int | float):
            step = self.timing.char_etu * self.timing.etu
            times = [times + i * step for i in range(len(raw))]
        flags = list(parity_ok) if parity_ok is not None else [True] * len(raw)
        out: list = []
        for byte, at, ok in zip(raw, times, flags, strict=True):
            expected = self.line.echo_due()
            if expected is not None:
                if byte != expected or not ok:
                    out += self._collision(expected, byte, at)
                continue
            self.line.last_rx = at
            out += self._dispatch("char", at, byte, ok)
        return out

    def _dispatch(self, event: str, now: float, *args) -> list:
        handler = TRANSITIONS.get((self.state, event))
        if handler is None:
            if event in COMMANDS:
                raise LinkUsageError(f"{event} while the slot is {self.state.value}")
            return [act.Note("slot_ignored", f"{event} in {self.state.value}")]
        return getattr(self, handler)(now, *args)

    def _inserted(self, now: float) -> list:
        self.state = S.INACTIVE
        return [act.Note("card_inserted")]

    def _absent(self, now: float) -> list:
        return [act.Failed(CardAbsent("no card in the slot"))]

    def _cold_reset(self, now: float) -> list:
        self._warm_tried = False
        self.fallback = False
        return self._power_up(now)

    def _power_up(self, now: float) -> list:
        self._reset_session()
        # §6.2.2: RST low, VCC, I/O in reception mode, clock; RST high later.
        return [act.SetRst(False), act.SetVcc(True), act.SetUart(self.timing.baud, "E", 0.0),
                act.SetClock(self.config.clock_hz),
                *self._arm(now + RST_LOW_MIN_CYCLES / self.config.clock_hz)]

    def _warm_reset(self, now: float) -> list:
        self._reset_session()
        return [act.SetRst(False), act.SetUart(self.timing.baud, "E", 0.0),
                *self._arm(now + RST_LOW_MIN_CYCLES / self.config.clock_hz)]

    def _reset_session(self) -> None:
        self.state = S.RESET_LOW
        self.timing = LinkTiming(self.config.clock_hz)
        self.line.reset()
        self.atr = None
        self.protocol = None
        self.pps_outcome = None
        self._engine = None
        self._got_any = False
        self._collector = AtrCollector()

    def _rst_high(self, now: float) -> list:
        self.state = S.ATR
        return [act.SetRst(True), *self._arm(now + ATR_START_MAX_CYCLES / self.config.clock_hz)]

    def _atr_char(self, now: float, byte: int, parity_ok: bool) -> list:
        out: list = []
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
            code = atr.error.split(":", 1)[0]
            return out + self._atr_failed(now, AtrError(atr.error, code=code))
        self.atr = atr
        return out + self._negotiate(now, atr)

    def _atr_timeout(self, now: float) -> list:
        if not self._got_any:
            err = AtrError("no ATR within 40000 clocks", code="atr_mute", message_fr="Carte muette")
        else:
            got = self._collector.received.hex(" ").upper()
            err = AtrError(f"ATR stopped after {got}", code="atr_truncated")
        return self._atr_failed(now, err)

    def _atr_failed(self, now: float, error: AtrError) -> list:
        if not self._warm_tried:  # §6.2.3: one warm reset before giving up
            self._warm_tried = True
            return [act.Note("atr_retry", str(error)), *self._warm_reset(now)]
        return self._fail(error)

    def _negotiate(self, now: float, atr: Atr) -> list:
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
        self.state = S.PPS
        floor = self._floor(PPS_TURNAROUND_ETU)
        return [act.Note("pps_request", choice.request.hex(" ").upper()),
                *self._send(choice.request, floor)]

    def _pps_sent(self, now: float) -> list:
        return self._arm(now + INITIAL_WAIT_ETU * self.timing.etu)

    def _pps_char(self, now: float, byte: int, parity_ok: bool) -> list:
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

    def _pps_timeout(self, now: float) -> list:
        return self._pps_fallback(now, "no PPS answer within 9600 etu")

    def _pps_fallback(self, now: float, why: str) -> list:
        """§9.3: a failed PPS exchange ends in deactivation; we then activate
        again and stay at Fd/Dd with the first offered protocol (no PPS)."""
        out = [act.Note("pps_fallback", why), *self._deactivation("pps_failed")]
        warm_tried = self._warm_tried
        out += self._power_up(now)
        self._warm_tried = warm_tried
        self.fallback = True
        return out

    def _start_protocol(self, now: float, protocol: int, fi: int, di: int) -> list:
        from .t0 import T0Engine
        from .t1 import T1Engine

        atr = self.atr
        assert atr is not None
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
        out = [act.SetUart(self.timing.baud, conv.uart_parity(self.line.convention),
                       self.timing.char_etu - 12.0)]
        if protocol == 1:
            self._engine = T1Engine(self.timing, ifsc=atr.ifsc or 32, ifsd=self.config.ifsd,
                                    checksum=atr.checksum or "LRC")
            self.state = S.SETUP
            return out + self._run(self._engine.negotiate_ifsd(now))
        self._engine = T0Engine(self.timing)
        return out + self._ready()

    def _ready(self) -> list:
        self.state = S.READY
        assert self.atr is not None and self.protocol is not None
        return [act.Deadline(None), act.Ready(self.atr.raw, self.protocol, self.timing.fi, self.timing.di)]

    def _start_exchange(self, now: float, apdu: bytes) -> list:
        actions = self._engine.start(bytes(apdu), now)  # LinkUsageError propagates
        self.state = S.BUSY
        return self._run(actions)

    def _engine_char(self, now: float, byte: int, parity_ok: bool) -> list:
        logical = self.line.decode(byte)
        return self._run(self._engine.receive(logical, now, parity_ok))

    def _engine_transmitted(self, now: float) -> list:
        return self._run(self._engine.transmitted(now))

    def _engine_timeout(self, now: float) -> list:
        return self._run(self._engine.timeout(now))

    def _run(self, actions: list) -> list:
        """Engine actions -> slot actions: encode and time what is sent, end
        the exchange on Complete/Failed."""
        out: list = []
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
                self.state = S.READY
                out.append(a)
            elif isinstance(a, act.Failed):
                out += self._fail(a.error)
            else:
                out.append(a)
        return out

    def _fail(self, error: CardError) -> list:
        """The engine gave up (mute card, dead T=1 link, protocol breach): the
        card's state is unknown, so deactivate (§6.4)."""
        if isinstance(error, LinkUsageError):
            self.state = S.READY
            return [act.Failed(error)]
        out = self._deactivation(error.code)
        self.state = S.INACTIVE
        return out + [act.Failed(error)]

    def _send(self, logical: bytes, not_before: float) -> list:
        return [act.Send(self.line.encode(logical), not_before)]

    def _floor(self, etu: float) -> float:
        """Earliest leading edge of our next character: ``etu`` after the
        leading edge of the last one received (§10.2 / §11.2)."""
        return self.line.floor(etu, self.timing.etu)

    def _arm(self, at: float | None) -> list:
        self.deadline = at
        return [act.Deadline(at)]

    def _collision(self, expected: int, got: int, at: float) -> list:
        err = CardProtocolError(f"echo {got:02X} (parity checked) for {expected:02X}: line collision",
                                code="io_collision", message_fr="Erreur de ligne carte")
        if self.state is S.PPS:
            return self._pps_fallback(at, str(err))
        if self.state in PENDING:
            return self._fail(err)
        return [act.Note("io_collision", str(err))]

    def _deactivation(self, reason: str) -> list:
        """§6.4: RST low, clock stopped, I/O low (UART off: baud 0), VCC off."""
        self.line.drop_echoes()
        self._engine = None
        self.deadline = None
        return [act.Deadline(None), act.SetRst(False), act.SetClock(0), act.SetUart(0.0, "E", 0.0),
                act.SetVcc(False), act.PoweredDown(reason)]
