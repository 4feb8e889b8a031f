"""Answer-to-Reset decoding (ISO/IEC 7816-3:2006 §8).

``parse_atr(data)`` decodes a complete ATR; ``AtrCollector`` receives one byte
at a time and says when the ATR is over (from T0, the Y bits of each TDi, K and
whether TCK is due), so the slot engine never waits for a timeout to end it.

Error policy (the one path): parsing never raises. Whatever the input, it
returns an :class:`Atr`; problems that make the card unusable are listed in
``Atr.errors`` (first one in ``Atr.error``), oddities that do not are in
``Atr.warnings``. ``Atr.ok`` is the "is this ATR usable" answer, and
``Atr.require_ok()`` turns a bad ATR into :class:`~firmware.iso7816.errors.AtrError`
for code that prefers an exception. Each message starts with a stable English
code (``atr_truncated: ...``).

Input is LOGICAL bytes (TS = 3B direct or 3F inverse). A raw inverse-convention
ATR as read by a direct-convention UART (TS read as 03) is also accepted: it is
converted with :mod:`firmware.iso7816.convention` and marked ``inverse``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import reduce
from operator import xor

from . import convention as conv
from .errors import AtrError, LinkUsageError
from .timing import DEFAULT_BWI, DEFAULT_CWI, DEFAULT_IFSC, DEFAULT_WI, DI_TABLE, FI_TABLE

MAX_ATR_LENGTH = 32  # §8.2.1: TS and at most 32 characters in all
DEFAULT_FI_INDEX = 1  # Fd = 372 with f max 5 MHz (§8.3)
DEFAULT_DI_INDEX = 1  # Dd = 1
DEFAULT_F_MAX = 5_000_000


@dataclass(frozen=True)
class InterfaceLevel:
    """Interface bytes TAi, TBi, TCi, TDi of one level i (None when absent)."""

    ta: int | None = None
    tb: int | None = None
    tc: int | None = None
    td: int | None = None

    @property
    def next_protocol(self) -> int | None:
        """The protocol T that TDi announces for level i+1, or None."""
        return None if self.td is None else self.td & 0x0F


@dataclass(frozen=True)
class SpecificMode:
    """TA2 (§8.3): the card is in specific mode and imposes ``protocol``."""

    protocol: int
    can_change: bool  # b8 = 0: the card can change to negotiable mode (warm reset)
    implicit: bool  # b5 = 1: Fi/Di implicitly known, not those of TA1

    @classmethod
    def from_ta2(cls, ta2: int) -> SpecificMode:
        return cls(ta2 & 0x0F, not ta2 & 0x80, bool(ta2 & 0x10))


@dataclass(frozen=True)
class _Layout:
    levels: tuple[InterfaceLevel, ...]
    hist_start: int
    k: int
    tck_required: bool
    total: int  # expected ATR length, TS included


def _layout(data: bytes) -> _Layout | None:
    """Walk T0 and the TDi chain. None when a needed TDi (or T0) is missing, so
    the length cannot be known yet. Bytes beyond ``data`` read as None."""
    if len(data) < 2:
        return None

    def at(i: int) -> int | None:
        return data[i] if i < len(data) else None

    y, k = data[1] >> 4, data[1] & 0x0F
    pos, levels, tck_required = 2, [], False
    while True:
        values: list[int | None] = []
        for bit in (1, 2, 4):
            if y & bit:
                values.append(at(pos))
                pos += 1
            else:
                values.append(None)
        td = None
        if y & 8:
            if pos >= len(data):
                return None
            td = data[pos]
            pos += 1
            tck_required |= (td & 0x0F) != 0  # §8.2.5: TCK unless only T=0
        levels.append(InterfaceLevel(values[0], values[1], values[2], td))
        if td is None:
            break
        y = td >> 4
    return _Layout(tuple(levels), pos, k, tck_required, pos + k + (1 if tck_required else 0))


@dataclass(frozen=True)
class Atr:
    """A decoded ATR. Interface levels are 1-based through ``ta(i)`` etc."""

    raw: bytes  # logical bytes (converted when read raw in inverse convention)
    convention: str | None = None  # "direct", "inverse" or None (bad TS)
    ts: int | None = None
    t0: int | None = None
    levels: tuple[InterfaceLevel, ...] = ()
    protocols: list[int] | None = None  # sorted, T=15 excluded
    first_protocol: int | None = None
    fi_index: int = DEFAULT_FI_INDEX
    fi: int | None = 372  # None when TA1 holds an RFU value
    f_max: int | None = DEFAULT_F_MAX
    di_index: int = DEFAULT_DI_INDEX
    di: int | None = 1
    n: int = 0
    wi: int = DEFAULT_WI
    ifsc: int | None = None  # T=1 values: None unless T=1 is offered
    bwi: int | None = None
    cwi: int | None = None
    checksum: str | None = None  # "LRC" / "CRC" when T=1 is offered
    specific: SpecificMode | None = None
    clock_stop: int | None = None  # first TA for T=15, b8-b7 (X)
    class_indicator: int | None = None  # first TA for T=15, b6-b1 (U)
    historical: bytes = b""
    tck: int | None = None
    tck_required: bool = False
    tck_ok: bool | None = None
    from_raw_inverse: bool = False
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def _level(self, i: int) -> InterfaceLevel:
        return self.levels[i - 1] if 1 <= i <= len(self.levels) else InterfaceLevel()

    def ta(self, i: int) -> int | None:
        return self._level(i).ta

    def tb(self, i: int) -> int | None:
        return self._level(i).tb

    def tc(self, i: int) -> int | None:
        return self._level(i).tc

    def td(self, i: int) -> int | None:
        return self._level(i).td

    @property
    def error(self) -> str | None:
        return self.errors[0] if self.errors else None

    @property
    def ok(self) -> bool:
        return not self.errors

    def require_ok(self) -> Atr:
        """Return self, or raise AtrError carrying the first error."""
        if self.errors:
            code = self.errors[0].split(":", 1)[0]
            raise AtrError(self.errors[0], code=code)
        return self

    def to_json_dict(self) -> dict:
        spec = self.specific
        return {
            "atr": self.raw.hex().upper(),
            "convention": self.convention,
            "from_raw_inverse": self.from_raw_inverse,
            "ts": self.ts,
            "t0": self.t0,
            "interface": [
                {"ta": lv.ta, "tb": lv.tb, "tc": lv.tc, "td": lv.td} for lv in self.levels
            ],
            "protocols": list(self.protocols or []),
            "first_protocol": self.first_protocol,
            "fi_index": self.fi_index,
            "fi": self.fi,
            "f_max": self.f_max,
            "di_index": self.di_index,
            "di": self.di,
            "n": self.n,
            "wi": self.wi,
            "ifsc": self.ifsc,
            "bwi": self.bwi,
            "cwi": self.cwi,
            "checksum": self.checksum,
            "specific_mode": None
            if spec is None
            else {
                "protocol": spec.protocol,
                "can_change": spec.can_change,
                "implicit": spec.implicit,
            },
            "clock_stop": self.clock_stop,
            "class_indicator": self.class_indicator,
            "historical": self.historical.hex().upper(),
            "tck": self.tck,
            "tck_required": self.tck_required,
            "tck_ok": self.tck_ok,
            "error": self.error,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }


def _first_level_for(levels: tuple[InterfaceLevel, ...], protocol: int) -> InterfaceLevel | None:
    """First level i > 2 whose TD(i-1) announces ``protocol`` (§8.2.3: TA2, TB2,
    TC2 are global / T=0 bytes, protocol-specific bytes start at level 3)."""
    for i in range(2, len(levels)):
        if levels[i - 1].next_protocol == protocol:
            return levels[i]
    return None


def parse_atr(data: bytes) -> Atr:
    """Decode one complete ATR; never raises (see the module's error policy)."""
    data = bytes(data)
    from_raw_inverse = False
    if not data:
        return Atr(raw=data, errors=("atr_empty: no byte received",))
    if data[0] == conv.TS_INVERSE_RAW:
        data = conv.decode(data, conv.INVERSE)
        from_raw_inverse = True
    ts = data[0]
    if ts == conv.TS_DIRECT:
        convention = conv.DIRECT
    elif ts == conv.TS_INVERSE:
        convention = conv.INVERSE
    else:
        return Atr(raw=data, ts=ts, errors=(f"atr_bad_ts: TS={ts:02X}, expected 3B or 3F",))
    base = Atr(raw=data, convention=convention, ts=ts, from_raw_inverse=from_raw_inverse)
    if len(data) < 2:
        return replace(base, errors=("atr_truncated: T0 missing",))
    layout = _layout(data)
    if layout is None:
        return replace(
            base, t0=data[1], errors=(f"atr_truncated: TD byte missing after {len(data)} bytes",)
        )
    errors: list[str] = []
    warnings: list[str] = []
    # An ATR whose own bytes announce more than 32 is too long whatever arrived:
    # that is the root cause when it is also cut short. Extra bytes after a short
    # layout are reported as extra bytes first.
    if layout.total > MAX_ATR_LENGTH:
        errors.append(f"atr_too_long: {layout.total} bytes, at most {MAX_ATR_LENGTH}")
    if len(data) < layout.total:
        errors.append(f"atr_truncated: expected {layout.total} bytes, got {len(data)}")
    elif len(data) > layout.total:
        errors.append(
            f"atr_extra_bytes: {len(data) - layout.total} byte(s) after the end of the ATR"
        )
    if len(data) > MAX_ATR_LENGTH and layout.total <= MAX_ATR_LENGTH:
        errors.append(f"atr_too_long: {len(data)} bytes, at most {MAX_ATR_LENGTH}")
    fields = _decode_levels(layout.levels, errors, warnings)
    hist = data[layout.hist_start : layout.hist_start + layout.k]
    tck = tck_ok = None
    if layout.tck_required and len(data) >= layout.total:
        tck = data[layout.total - 1]
        tck_ok = reduce(xor, data[1 : layout.total], 0) == 0  # §8.2.5
        if not tck_ok:
            expected = reduce(xor, data[1 : layout.total - 1], 0)
            errors.append(f"atr_tck_mismatch: TCK={tck:02X}, expected {expected:02X}")
    return replace(
        base,
        t0=data[1],
        levels=layout.levels,
        historical=hist,
        tck=tck,
        tck_required=layout.tck_required,
        tck_ok=tck_ok,
        errors=tuple(errors),
        warnings=tuple(warnings),
        **fields,
    )


def _decode_levels(levels: tuple[InterfaceLevel, ...], errors: list, warnings: list) -> dict:
    """Meaning of the interface bytes (§8.3 global bytes, §10.2 WI, §11.4 T=1)."""
    out: dict = {}
    tds = [t for t in (lv.next_protocol for lv in levels) if t is not None]
    offered = sorted({t for t in tds if t != 15})
    if tds and tds[0] == 15:
        errors.append("atr_td1_t15: TD1 shall not indicate T=15 (§8.2.3)")
    if not tds:
        offered = [0]  # no TD1: only T=0 (§8.2.3)
    out["protocols"] = offered
    out["first_protocol"] = tds[0] if tds and tds[0] != 15 else (offered[0] if offered else None)
    first = levels[0]
    second = levels[1] if len(levels) > 1 else InterfaceLevel()
    ta2 = second.ta
    if ta2 is not None:
        out["specific"] = SpecificMode.from_ta2(ta2)
        if (ta2 & 0x0F) not in offered:
            warnings.append(f"atr_specific_unoffered: TA2 imposes T={ta2 & 0x0F}, not offered")
    if first.ta is not None:
        fi_i, di_i = first.ta >> 4, first.ta & 0x0F
        out["fi_index"], out["di_index"] = fi_i, di_i
        fi_entry = FI_TABLE[fi_i]
        out["fi"], out["f_max"] = fi_entry if fi_entry else (None, None)
        out["di"] = DI_TABLE[di_i]
        # RFU values are fatal only when the card imposes them (specific mode
        # with b5 = 0); in negotiable mode the reader just keeps Fd/Dd.
        fatal = ta2 is not None and not ta2 & 0x10
        sink = errors if fatal else warnings
        if fi_entry is None:
            sink.append(f"atr_rfu_fi: TA1={first.ta:02X}, Fi index {fi_i:X} is RFU")
        if out["di"] is None:
            sink.append(f"atr_rfu_di: TA1={first.ta:02X}, Di index {di_i:X} is RFU")
    if first.tc is not None:
        out["n"] = first.tc
    if second.tc is not None:
        out["wi"] = second.tc
        if second.tc == 0:
            errors.append("atr_bad_wi: TC2=00 is RFU (§10.2)")
    if 1 in offered:
        t1 = _first_level_for(levels, 1) or InterfaceLevel()
        out["ifsc"] = DEFAULT_IFSC if t1.ta is None else t1.ta
        if t1.ta in (0x00, 0xFF):
            errors.append(f"atr_bad_ifsc: IFSC={t1.ta:02X} is invalid (§11.4.2)")
        out["bwi"] = DEFAULT_BWI if t1.tb is None else t1.tb >> 4
        out["cwi"] = DEFAULT_CWI if t1.tb is None else t1.tb & 0x0F
        if out["bwi"] > 9:
            errors.append(f"atr_bad_bwi: BWI={out['bwi']} is RFU (§11.4.3)")
        out["checksum"] = "CRC" if t1.tc is not None and t1.tc & 0x01 else "LRC"
    t15 = _first_level_for(levels, 15)
    if t15 is not None and t15.ta is not None:
        out["clock_stop"], out["class_indicator"] = t15.ta >> 6, t15.ta & 0x3F
    return out


class AtrCollector:
    """Receives an ATR byte by byte (raw UART bytes: a TS read as 03 switches to
    the inverse convention) and tells when it is complete.

    ``feed(byte)`` returns True once nothing more is expected: the ATR is
    complete, or it cannot become valid (bad TS, more than 32 bytes). Then
    ``result()`` gives the parsed :class:`Atr` (errors included). Feeding a
    finished collector is our misuse: :class:`LinkUsageError`.
    """

    def __init__(self) -> None:
        self._data = bytearray()  # logical bytes
        self._inverse = False
        self._done = False
        self._too_long = False
        self.convention: str | None = None

    @property
    def done(self) -> bool:
        return self._done

    @property
    def received(self) -> bytes:
        return bytes(self._data)

    def feed(self, byte: int) -> bool:
        if self._done:
            raise LinkUsageError("ATR already complete", code="atr_collector_done")
        if not self._data:
            # 03: an inverse card read by a direct UART, converted from here on;
            # 3F: already logical (simulated line, PC/SC), kept as is.
            self.convention = conv.convention_from_raw_ts(byte)
            self._inverse = self.convention == conv.INVERSE
            if byte == conv.TS_INVERSE:
                self.convention = conv.INVERSE
            self._data.append(conv.inverse_byte(byte) if self._inverse else byte)
            self._done = self.convention is None
            return self._done
        self._data.append(conv.inverse_byte(byte) if self._inverse else byte)
        layout = _layout(bytes(self._data))
        if layout is not None and layout.total > MAX_ATR_LENGTH:
            self._too_long = True
            self._done = True
        elif layout is not None and len(self._data) >= layout.total:
            self._done = True
        elif len(self._data) >= MAX_ATR_LENGTH:
            self._too_long = True  # a TD chain still running at byte 32
            self._done = True
        return self._done

    def result(self) -> Atr:
        if not self._done:
            raise LinkUsageError("ATR not complete yet", code="atr_collector_busy")
        atr = parse_atr(bytes(self._data))
        if self._too_long and not any(e.startswith("atr_too_long") for e in atr.errors):
            msg = f"atr_too_long: more than {MAX_ATR_LENGTH} bytes announced"
            atr = replace(atr, errors=(msg, *atr.errors))
        if self._inverse:
            atr = replace(atr, from_raw_inverse=True)
        return atr
