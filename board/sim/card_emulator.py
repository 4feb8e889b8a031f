"""A card on a virtual I/O line, character by character, in exact virtual time.

:class:`CardEmulator` is the card's side of the simulated slot
(``board/sim/slot.py``). It answers reset with the ATR of an
:class:`~board.sim.card_side.EmulatedCard`, answers PPS (§9), then speaks T=0
or T=1 through a :class:`~board.sim.card_side.CardProtocol` and times every
character it sends. Nothing sleeps: times are computed.

Time model (ISO/IEC 7816-3:2006), all delays between *leading edges*:

- a character costs 12 etu (10 etu of frame + 2 of guard); the card sends at
  12 etu spacing, 11 etu in T=1 when the ATR says N=255 (§11.2);
- the card's first character after one of the reader's is at least 16 etu
  after it in T=0 (§10.2) and BGT = 22 etu in T=1 (§11.2); ``CardReply.delay_etu``
  and ``EmulatorConfig.delay_etu`` add to it (a slow card);
- the ATR's TS comes ``atr_delay_clocks`` card clock cycles after RST rises
  (§6.2.2 allows 400..40 000);
- a character hit by a parity fault in T=0 is repeated 14 etu after its
  leading edge (§7.3: error signal at 10.5 etu, repetition at least 2 etu after
  the error signal is detected), the following ones shift accordingly.

The wire level is modelled too: the card sends *raw* bytes as a
direct-convention UART reads them (inverse convention when TS = 3F), the
parity a reader UART would find depends on the parity it is set to, and a
reader UART at the wrong baud rate reads garbage (checked in ``slot.py``).

Fault injection (:class:`Faults`) indexes characters of the protocol phase
(after ATR and PPS, counted in both directions from the last reset, from 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from board.sim.card_side import CardProtocol, EmulatedCard
from firmware.iso7816 import convention as conv
from firmware.iso7816.atr import Atr, parse_atr
from firmware.iso7816.timing import DI_TABLE, FI_TABLE

PARITY_REPEAT_ETU = 14.0
TURNAROUND_ETU = {0: 16.0, 1: 22.0}
PPS_MODES = ("accept", "decline", "refuse", "garble")


@dataclass(frozen=True)
class LineChar:
    """One character on the I/O line: leading edge time, byte as a
    direct-convention UART reads it, parity as read with ``parity`` set, and
    the etu (seconds) it was sent at."""

    at: float
    raw: int
    from_card: bool
    etu: float
    wire_parity: str = "E"  # UART parity setting under which this char reads OK
    parity_fault: bool = False  # forced parity error (fault injection)

    def parity_ok(self, uart_parity: str) -> bool:
        return not self.parity_fault and uart_parity == self.wire_parity


@dataclass(frozen=True)
class Faults:
    """Faults on the protocol phase; indexes count characters on the line in
    both directions from 0 after ATR/PPS."""

    parity_at: frozenset[int] = frozenset()  # card char read with bad parity (T=0: repeated)
    lost_at: frozenset[int] = frozenset()  # char never arrives
    corrupt_at: frozenset[int] = frozenset()  # char arrives XOR 03 (parity still right)
    echo_corrupt_at: frozenset[int] = frozenset()  # reader char whose echo reads wrong
    remove_at: int | None = None  # card pulled at this char's leading edge


def _default_protocol(card: EmulatedCard, protocol: int, atr: Atr) -> CardProtocol:
    if protocol == 1:
        from board.sim.t1_card import T1CardSide

        return T1CardSide(card, ifsc=atr.ifsc or 32, checksum=atr.checksum or "LRC",
                          quiet_before_error=True)
    from board.sim.t0_card import T0CardSide

    return T0CardSide(card)


@dataclass
class EmulatorConfig:
    """How the emulated card behaves on the line."""

    atr_delay_clocks: int = 1000  # RST rise -> TS leading edge
    atr_script: list[bytes | None] | None = None  # ATR per successive reset; None: mute
    atr_char_gap_etu: float = 0.0  # extra gap between ATR characters
    pps: str = "accept"  # accept / decline (keep defaults) / refuse (silent) / garble
    delay_etu: float = 0.0  # extra delay before every reply (slow card)
    char_delay_etu: float = 0.0  # extra spacing between reply characters
    protocol_factory: Callable[[EmulatedCard, int, Atr], CardProtocol] = _default_protocol

    def __post_init__(self) -> None:
        if self.pps not in PPS_MODES:
            raise ValueError(f"pps must be one of {PPS_MODES}, not {self.pps!r}")


class CardEmulator:
    """The card's side of the line. The simulated slot calls it on electrical
    changes and for every character the reader sends; it returns the
    characters the card puts on the line."""

    def __init__(
        self, card: EmulatedCard, config: EmulatorConfig | None = None, faults: Faults | None = None
    ):
        self.card = card
        self.config = config or EmulatorConfig()
        self.faults = faults or Faults()
        self.log: list[LineChar] = []  # every character on the line, both directions
        self.resets = 0
        self.removed_at: float | None = None
        self.protocol: int | None = None
        self._phase = "off"
        self._clock_hz = 0
        self._etu = 0.0
        # The ATR parsed at the last reset (the card's own until the first one).
        self._atr: Atr = parse_atr(card.atr)
        self._convention = conv.DIRECT
        self._free_at = 0.0  # the card may start its next character from here
        self._last_reader = 0.0
        self._index = 0
        self._pps = bytearray()
        self._side: CardProtocol | None = None

    @property
    def side(self) -> CardProtocol | None:
        """The card's T=0/T=1 half in use (None before the protocol phase)."""
        return self._side

    # ---- electrical ----------------------------------------------------------
    def power_off(self) -> None:
        """VCC or clock gone: the card stops and forgets the session."""
        self._phase = "off"
        self._side = None

    def reset_low(self) -> None:
        self._phase = "reset"
        self._side = None

    def reset_high(self, now: float, clock_hz: int) -> list[LineChar]:
        """RST rises with the clock running: the card answers with its ATR."""
        script = self.config.atr_script or [self.card.atr]
        raw_atr = script[min(self.resets, len(script) - 1)]
        self.resets += 1
        self._clock_hz = clock_hz
        self._index = 0
        self._pps.clear()
        self.protocol = None
        self.card.power_on()
        self._atr = parse_atr(self.card.atr)
        self._etu = 372 / clock_hz  # §8.1: Fd / f during the ATR
        if raw_atr is None:
            self._phase = "mute"
            return []
        self._convention = conv.INVERSE if raw_atr[:1] == b"\x3f" else conv.DIRECT
        self._phase = "atr_sent"
        first = now + self.config.atr_delay_clocks / clock_hz
        out = []
        step = (12 + self.config.atr_char_gap_etu) * self._etu
        for i, b in enumerate(raw_atr):
            out.append(self._char(first + i * step, b, from_card=True))
        self._free_at = first + len(raw_atr) * step
        self.log.extend(out)
        spec = self._atr.specific
        if spec is not None and not spec.implicit and self._atr.fi and self._atr.di:
            self._etu = self._atr.fi / (self._atr.di * clock_hz)  # §8.3 specific mode
        return out

    # ---- the reader's characters ---------------------------------------------
    def reader_chars(self, times: list[float], raw: bytes, uart_parity: str, etu: float,
                     garbled: frozenset[int] = frozenset()):
        """Characters the reader sends (raw, as its UART put them, at its
        ``etu``). Returns ``(echo, replies)``: what the reader's own RX sees of
        them and what the card sends back. ``garbled``: positions that
        collided with a card character (read with a parity error)."""
        echo: list[LineChar] = []
        replies: list[LineChar] = []
        for at, byte in zip(times, raw, strict=True):
            if self.removed_at is not None and at >= self.removed_at:
                break
            if self._phase == "atr_sent":
                first = conv.decode(bytes((byte,)), self._convention)[0]
                if first == 0xFF and self._atr.specific is None:
                    self._phase = "pps"
                else:
                    self._start_protocol(self._default_protocol())
            index = self._index if self._phase == "protocol" else None
            if index is not None:
                self._index += 1
                if index == self.faults.remove_at:
                    self.removed_at = at
                    break
            echo_raw = byte ^ 0x10 if index in self.faults.echo_corrupt_at else byte
            echo.append(LineChar(at, echo_raw, False, etu, uart_parity))
            self.log.append(LineChar(at, byte, False, etu, uart_parity))
            self._drop_partial_block(self._last_reader, at)
            self._last_reader = at
            if index in self.faults.lost_at or self._phase in ("off", "reset", "mute", "silent"):
                continue
            logical = conv.decode(bytes((byte,)), self._convention)[0]
            if index in self.faults.corrupt_at:
                logical ^= 0x03
            speed_ok = self._etu > 0 and abs(etu / self._etu - 1) < 0.02
            parity_ok = speed_ok and uart_parity == conv.uart_parity(self._convention)
            parity_ok = parity_ok and len(echo) - 1 not in garbled
            if not speed_ok:
                logical ^= 0x5A  # a character at the wrong speed reads as garbage
            replies += self._on_reader_byte(logical, parity_ok)
        replies += self._after_quiet()
        return echo, replies

    def _after_quiet(self) -> list[LineChar]:
        """A T=1 answer to a bad block, held by the card side until CWT of
        silence after the reader's last character (§11.4.3), goes out now."""
        quiet = getattr(self._side, "quiet", None)
        if quiet is None or self._phase != "protocol":
            return []
        cwt, out = 11 + 2 ** (self._atr.cwi if self._atr.cwi is not None else 13), []
        for reply in quiet():
            delay = reply.delay_etu + cwt - TURNAROUND_ETU[1]
            out += self._send(reply.data, delay, reply.char_delay_etu)
        return out

    def _drop_partial_block(self, previous: float, at: float) -> None:
        """T=1 card side: a gap longer than CWT before a reader character ends any
        partial block (§11.4.3), so a lost character cannot shift the framing of
        the following blocks."""
        idle = getattr(self._side, "idle", None)
        if idle is None or self._phase != "protocol" or self._atr.cwi is None:
            return
        if at - previous > (11 + 2**self._atr.cwi) * self._etu:
            idle()

    def _on_reader_byte(self, byte: int, parity_ok: bool) -> list[LineChar]:
        if self._phase == "pps":
            return self._pps_byte(byte)
        if self._phase != "protocol" or self._side is None:
            return []
        out: list[LineChar] = []
        for reply in self._side.receive(byte, parity_ok):
            out += self._send(reply.data, reply.delay_etu, reply.char_delay_etu)
        return out

    # ---- PPS (§9) ------------------------------------------------------------
    def _pps_byte(self, byte: int) -> list[LineChar]:
        self._pps.append(byte)
        if len(self._pps) < 2:
            return []
        pps0 = self._pps[1]
        length = 3 + bin(pps0 & 0x70).count("1")
        if len(self._pps) < length:
            return []
        request = bytes(self._pps)
        check = 0
        for b in request:
            check ^= b
        mode = self.config.pps
        if check != 0 or mode == "refuse":
            self._phase = "silent"  # §9.3: no answer to a bad or refused request
            return []
        protocol = pps0 & 0x0F
        if mode == "decline":
            body = bytes((0xFF, protocol))
            response = body + bytes((body[0] ^ body[1],))
        else:
            response = request
        if mode == "garble":
            response = response[:-1] + bytes((response[-1] ^ 0x55,))
        out = self._send(response, 0.0, 0.0)
        fi_di = request[2] if pps0 & 0x10 and mode == "accept" else 0x11
        fi = (FI_TABLE.get(fi_di >> 4) or (372, 0))[0]
        di = DI_TABLE.get(fi_di & 0x0F) or 1
        if mode == "garble":
            self._phase = "silent"
            return out
        self._start_protocol(protocol)
        self._etu = fi / (di * self._clock_hz)  # new speed after the response (§9.3)
        return out

    def _default_protocol(self) -> int:
        atr = self._atr
        if atr.specific is not None:
            return atr.specific.protocol
        return atr.first_protocol or 0

    def _start_protocol(self, protocol: int) -> None:
        atr = self._atr
        self.protocol = protocol
        self._side = self.config.protocol_factory(self.card, protocol, atr)
        self._phase = "protocol"
        self._index = 0

    # ---- sending ---------------------------------------------------------------
    def _char_step(self) -> float:
        if self.protocol == 1 and self._atr.n == 255:
            return 11.0
        return 12.0

    def _send(self, data: bytes, delay_etu: float, char_delay_etu: float) -> list[LineChar]:
        if not data:
            return []
        turn = TURNAROUND_ETU.get(self.protocol or 0, 16.0)
        delay = delay_etu + self.config.delay_etu
        at = max(self._last_reader + (turn + delay) * self._etu, self._free_at + delay * self._etu)
        step = self._char_step() + char_delay_etu + self.config.char_delay_etu
        out: list[LineChar] = []
        for byte in data:
            if self.removed_at is not None:
                break
            index = self._index if self._phase == "protocol" else None
            if index is not None:
                self._index += 1
                if index == self.faults.remove_at:
                    self.removed_at = at
                    break
            if index in self.faults.lost_at:
                self.log.append(LineChar(at, byte, True, self._etu))
                at += step * self._etu
                continue
            if index in self.faults.corrupt_at:
                byte ^= 0x03
            if index in self.faults.parity_at:
                bad = self._char(at, byte, from_card=True, parity_fault=True)
                out.append(bad)
                self.log.append(bad)
                if self.protocol != 0:
                    at += step * self._etu
                    continue
                at += PARITY_REPEAT_ETU * self._etu  # §7.3: the card repeats it
            char = self._char(at, byte, from_card=True)
            out.append(char)
            self.log.append(char)
            at += step * self._etu
        self._free_at = at
        return out

    def _char(self, at: float, logical: int, from_card: bool, parity_fault: bool = False):
        raw = conv.encode(bytes((logical,)), self._convention)[0]
        return LineChar(
            at, raw, from_card, self._etu, conv.uart_parity(self._convention), parity_fault
        )


# ---- a small generic card for link tests ------------------------------------------
@dataclass
class MemoryTestCard:
    """A generic memory card (not Vitale, not CPS) for link tests and demos.

    Commands: SELECT ``00 A4 00 00 02 fid`` (any 2-byte file id, answers
    ``90 00``), READ BINARY ``00 B0 off_hi off_lo Le``, UPDATE BINARY
    ``00 D6 off_hi off_lo Lc data``, ECHO ``80 EE 00 00 Lc data Le`` (answers the
    data back, or ``Le`` bytes of 0..255 counting when there is no data), and
    SIGN ``00 2A 9E 9A Lc data Le`` (answers ``Le`` bytes derived from the
    data, a stand-in for PSO:CDS)."""

    atr: bytes = bytes.fromhex("3B00")
    memory: bytearray = field(default_factory=lambda: bytearray(range(256)) * 4)
    powered: int = 0
    commands: list[bytes] = field(default_factory=list)

    def power_on(self) -> None:
        self.powered += 1

    def process(self, command: bytes) -> bytes:
        from firmware.iso7816.apdu import ApduError, CommandAPDU

        self.commands.append(bytes(command))
        try:
            cmd = CommandAPDU.from_bytes(command)
        except ApduError:
            return b"\x67\x00"
        offset = (cmd.p1 << 8) | cmd.p2
        if (cmd.cla, cmd.ins) == (0x00, 0xA4):
            return b"\x90\x00" if len(cmd.data) == 2 else b"\x6a\x86"
        if (cmd.cla, cmd.ins) == (0x00, 0xB0):
            want = cmd.le or 256
            if offset + want > len(self.memory):
                return b"\x6b\x00"
            return bytes(self.memory[offset : offset + want]) + b"\x90\x00"
        if (cmd.cla, cmd.ins) == (0x00, 0xD6):
            if offset + len(cmd.data) > len(self.memory):
                return b"\x6b\x00"
            self.memory[offset : offset + len(cmd.data)] = cmd.data
            return b"\x90\x00"
        if (cmd.cla, cmd.ins) == (0x80, 0xEE):
            body = cmd.data or bytes(i & 0xFF for i in range(cmd.le or 0))
            return body + b"\x90\x00"
        if (cmd.cla, cmd.ins, cmd.p1, cmd.p2) == (0x00, 0x2A, 0x9E, 0x9A):
            want = cmd.le or 256
            seed = sum(cmd.data) & 0xFF
            return bytes((seed + i) & 0xFF for i in range(want)) + b"\x90\x00"
        return b"\x6d\x00"
