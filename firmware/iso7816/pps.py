"""Protocol and parameters selection, PPS (ISO/IEC 7816-3:2006 §9).

- :func:`choose_parameters` picks the protocol and the fastest Fi/Di that card,
  clock and UART all allow (policy in docs/atr-pps.md);
- :func:`build_pps` writes the request PPSS PPS0 PPS1 PCK;
- :class:`PpsCollector` receives the card's answer byte by byte and knows its
  length from PPS0;
- :func:`check_pps_response` judges the answer (§9.3): an echo is a success,
  an answer without PPS1 is a success at Fd/Dd, anything else is a
  :class:`~firmware.iso7816.errors.PpsError`.

Pure functions and a byte counter: no I/O, no clock (the slot engine times the
exchange: the card must answer within the initial waiting time, §9.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import xor

from .atr import DEFAULT_DI_INDEX, DEFAULT_F_MAX, DEFAULT_FI_INDEX, Atr
from .errors import AtrError, LinkUsageError, PpsError
from .timing import DEFAULT_DI, DEFAULT_FI, DI_TABLE, FI_TABLE

PPSS = 0xFF
_PPS1, _PPS2, _PPS3 = 0x10, 0x20, 0x40


def build_pps(protocol: int, fi_index: int, di_index: int) -> bytes:
    """PPS request proposing ``protocol`` with PPS1 = Fi index | Di index (§9.2)."""
    if not 0 <= protocol <= 14:
        raise LinkUsageError(f"protocol T={protocol} cannot be negotiated", code="pps_bad_request")
    if not 0 <= fi_index <= 15 or FI_TABLE[fi_index] is None:
        raise LinkUsageError(f"Fi index {fi_index} is RFU", code="pps_bad_request")
    if not 0 <= di_index <= 15 or DI_TABLE[di_index] is None:
        raise LinkUsageError(f"Di index {di_index} is RFU", code="pps_bad_request")
    body = bytes((PPSS, _PPS1 | protocol, (fi_index << 4) | di_index))
    return body + bytes((reduce(xor, body, 0),))  # PCK: XOR of all bytes = 00


def _pps_length(pps0: int) -> int:
    """PPSS, PPS0, the optional PPS1..PPS3 announced by b5..b7, PCK."""
    return 3 + sum(1 for bit in (_PPS1, _PPS2, _PPS3) if pps0 & bit)


class PpsCollector:
    """Receives the PPS response (logical bytes). ``feed`` returns True when no
    more byte is expected: after PCK, or at once when PPSS is not FF (the
    response is then garbled; :func:`check_pps_response` says so)."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._expected: int | None = None

    @property
    def response(self) -> bytes:
        return bytes(self._data)

    @property
    def done(self) -> bool:
        return self._expected is not None and len(self._data) >= self._expected

    def feed(self, byte: int) -> bool:
        if self.done:
            raise LinkUsageError("PPS response already complete", code="pps_collector_done")
        self._data.append(byte)
        if len(self._data) == 1 and byte != PPSS:
            self._expected = 1
        elif len(self._data) == 2:
            self._expected = _pps_length(byte)
        return self.done


@dataclass(frozen=True)
class PpsOutcome:
    """Parameters in force after a successful PPS exchange."""

    protocol: int
    fi_index: int
    di_index: int
    fi: int
    di: int
    defaulted: bool  # PPS1 absent from the response: Fd = 372, Dd = 1


@dataclass(frozen=True)
class _Speed:
    """A PPS1 value decoded: Fi/Di indexes and the factors they stand for."""

    fi_index: int
    di_index: int
    fi: int
    di: int

    @classmethod
    def from_pps1(cls, pps1: int) -> _Speed | None:
        """None when the Fi or the Di index is RFU."""
        fi_index, di_index = pps1 >> 4, pps1 & 0x0F
        fi_entry, di = FI_TABLE[fi_index], DI_TABLE[di_index]
        if fi_entry is None or di is None:
            return None
        return cls(fi_index, di_index, fi_entry[0], di)


_DEFAULT_SPEED = _Speed(DEFAULT_FI_INDEX, DEFAULT_DI_INDEX, DEFAULT_FI, DEFAULT_DI)


def _fail(code: str, detail: str) -> PpsError:
    return PpsError(detail, code=code)


def check_pps_response(request: bytes, response: bytes) -> PpsOutcome:
    """Judge the card's answer to ``request`` (§9.3). Raises PpsError on any
    garbled or inconsistent answer; the reader must then deactivate."""
    request, response = bytes(request), bytes(response)
    if len(request) < 3 or request[0] != PPSS or len(request) != _pps_length(request[1]):
        raise LinkUsageError(f"malformed PPS request {request.hex()}", code="pps_bad_request")
    if not response or response[0] != PPSS:
        raise _fail("pps_bad_ppss", f"response {response.hex().upper()} does not start with FF")
    if len(response) < 3 or len(response) != _pps_length(response[1]):
        raise _fail("pps_bad_length", f"response {response.hex().upper()} has a wrong length")
    if reduce(xor, response, 0) != 0:
        raise _fail("pps_bad_pck", f"response {response.hex().upper()}: PCK check failed")
    req_opt = _optional_bytes(request)
    req_speed = None
    if _PPS1 in req_opt:
        req_speed = _Speed.from_pps1(req_opt[_PPS1])
        if req_speed is None:
            raise LinkUsageError(
                f"PPS request {request.hex()} proposes RFU values", code="pps_bad_request"
            )
    req0, rsp0 = request[1], response[1]
    if rsp0 & 0x80:
        raise _fail("pps_bad_pps0", f"PPS0={rsp0:02X}: b8 is reserved")
    if rsp0 & 0x0F != req0 & 0x0F:
        raise _fail("pps_protocol_changed", f"PPS0 {req0:02X} answered {rsp0:02X}")
    rsp_opt = _optional_bytes(response)
    for bit, name in ((_PPS1, "PPS1"), (_PPS2, "PPS2"), (_PPS3, "PPS3")):
        if bit in rsp_opt and rsp_opt[bit] != req_opt.get(bit):
            raise _fail("pps_not_echoed", f"{name} answered {rsp_opt[bit]:02X}, not an echo")
    # A PPS1 in the response is an echo of the request's (checked above): the
    # card takes the proposed speed. Without PPS1 it stays at Fd/Dd.
    if _PPS1 in rsp_opt and req_speed is not None:
        speed, defaulted = req_speed, False
    else:
        speed, defaulted = _DEFAULT_SPEED, True
    return PpsOutcome(
        protocol=rsp0 & 0x0F,
        fi_index=speed.fi_index,
        di_index=speed.di_index,
        fi=speed.fi,
        di=speed.di,
        defaulted=defaulted,
    )


def _optional_bytes(pps: bytes) -> dict[int, int]:
    out, pos = {}, 2
    for bit in (_PPS1, _PPS2, _PPS3):
        if pps[1] & bit:
            out[bit] = pps[pos]
            pos += 1
    return out


@dataclass(frozen=True)
class Choice:
    """What to propose by PPS: protocol, Fi/Di indexes and the resulting speed."""

    protocol: int
    fi_index: int
    di_index: int
    fi: int
    di: int
    baud: float  # clock_hz * Di / Fi

    @property
    def request(self) -> bytes:
        return build_pps(self.protocol, self.fi_index, self.di_index)


def _pick_protocol(atr: Atr, supported, prefer: int | None) -> int:
    usable = [t for t in atr.protocols or [] if t in supported]
    if not usable:
        raise AtrError(
            f"card offers T={atr.protocols}, reader supports T={list(supported)}",
            code="atr_no_common_protocol",
        )
    if prefer is not None and prefer in usable:
        return prefer
    return atr.first_protocol if atr.first_protocol in usable else usable[0]


def choose_parameters(
    atr: Atr,
    clock_hz: int,
    max_baud: float,
    protocols_supported=(0, 1),
    prefer_protocol: int | None = None,
) -> Choice | None:
    """The PPS to send, or None when none is needed.

    None: the card is in specific mode (TA2), or the default Fd/Dd are already
    the best choice and the first offered protocol is the one we use. Raises
    AtrError when the ATR is unusable or no protocol is shared."""
    atr.require_ok()
    if atr.specific is not None:
        if atr.specific.protocol not in protocols_supported:
            raise AtrError(
                f"specific mode imposes T={atr.specific.protocol}", code="atr_no_common_protocol"
            )
        return None
    protocol = _pick_protocol(atr, protocols_supported, prefer_protocol)
    fd = DEFAULT_FI
    # The default pair is always possible: the card is already talking at Fd/Dd.
    best = (clock_hz / fd, DEFAULT_FI_INDEX, DEFAULT_DI_INDEX, fd, DEFAULT_DI)
    f_max = atr.f_max if atr.f_max is not None else DEFAULT_F_MAX
    if atr.fi is not None and atr.di is not None and clock_hz <= f_max:
        for di_index, di in DI_TABLE.items():
            if di is None or di > atr.di:
                continue
            baud = clock_hz * di / atr.fi
            if baud <= max_baud and baud > best[0]:
                best = (baud, atr.fi_index, di_index, atr.fi, di)
    baud, fi_index, di_index, fi, di = best
    if di_index == DEFAULT_DI_INDEX and fi == fd:
        if protocol == atr.first_protocol:
            return None
    return Choice(protocol, fi_index, di_index, fi, di, baud)
