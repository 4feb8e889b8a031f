"""T=1 blocks: coding, EDC and an incremental decoder (ISO/IEC 7816-3:2006 §11.3).

A block is prologue (NAD, PCB, LEN), information field INF (0..254 bytes) and
epilogue EDC (one LRC byte, or two CRC bytes)::

    NAD  PCB  LEN  INF...  EDC

PCB coding (§11.3.2.2):

=========  ===========================================================
I-block    ``0 N(S) M 0 0 0 0 0``      N(S) send sequence, M more data
R-block    ``1 0 0 N(R) e e e e``      eeee 0000 no error, 0001 EDC or
                                        parity error, 0010 other error
S-block    ``1 1 r t t t t t``          r 0 request / 1 response,
                                        ttttt 0 RESYNCH, 1 IFS, 2 ABORT, 3 WTX
=========  ===========================================================

EDC (§11.3.4): the LRC is the exclusive-or of every byte of the block. The CRC
is the ISO/IEC 13239 (ex ISO 3309) 16-bit CRC, computed as real readers do
(libccid ``src/openct/checksum.c``): generator x^16 + x^12 + x^5 + 1 processed
LSB first (reflected polynomial 0x8408), register preset to 0xFFFF, no final
complement, the high byte of the register sent first. In catalogue terms that
is CRC-16/MCRF4XX, whose check value over ``b"123456789"`` is 0x6F91.

>>> encode(Block(0x00, 0xC1, bytes([0xFE]))).hex(" ")
'00 c1 01 fe 3e'
>>> c = BlockCollector()
>>> [c.feed(b) for b in bytes.fromhex("00e101fe1e")][-1].block.describe()
'S(IFS response, FE)'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

LRC = "LRC"
CRC = "CRC"
MAX_INF = 254  # LEN = 0xFF is reserved (§11.3.2.3)

# R-block error bits (PCB b4..b1).
R_OK = 0
R_EDC_ERROR = 1  # EDC or parity error
R_OTHER_ERROR = 2


class Kind(Enum):
    I = "I"  # noqa: E741  (the standard's name)
    R = "R"
    S = "S"


class SType(IntEnum):
    """S-block types (PCB b5..b1)."""

    RESYNCH = 0
    IFS = 1
    ABORT = 2
    WTX = 3


class BlockFormatError(ValueError):
    """A block that cannot be encoded (our misuse: bad field values)."""


def lrc(data: bytes) -> bytes:
    """Longitudinal redundancy check: XOR of all bytes (§11.3.4.1)."""
    value = 0
    for b in data:
        value ^= b
    return bytes([value])


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        v = n
        for _ in range(8):
            v = (v >> 1) ^ 0x8408 if v & 1 else v >> 1
        table.append(v)
    return table


_CRC_TABLE = _crc_table()


def crc(data: bytes) -> bytes:
    """ISO/IEC 13239 CRC as used for the T=1 EDC (§11.3.4.2); see module doc."""
    v = 0xFFFF
    for b in data:
        v = (v >> 8) ^ _CRC_TABLE[(v ^ b) & 0xFF]
    return bytes([v >> 8, v & 0xFF])


def edc(data: bytes, checksum: str = LRC) -> bytes:
    if checksum == LRC:
        return lrc(data)
    if checksum == CRC:
        return crc(data)
    raise BlockFormatError(f"unknown checksum {checksum!r} (LRC or CRC)")


def edc_size(checksum: str) -> int:
    return len(edc(b"", checksum))


@dataclass(frozen=True)
class Block:
    """One T=1 block, as the three prologue/INF fields (no EDC)."""

    nad: int
    pcb: int
    inf: bytes = b""

    # ---- constructors ----
    @classmethod
    def i(cls, ns: int, inf: bytes, more: bool = False, nad: int = 0) -> Block:
        return cls(nad, (ns & 1) << 6 | (0x20 if more else 0), bytes(inf))

    @classmethod
    def r(cls, nr: int, error: int = R_OK, nad: int = 0) -> Block:
        return cls(nad, 0x80 | (nr & 1) << 4 | error, b"")

    @classmethod
    def s(cls, stype: SType, response: bool = False, inf: bytes = b"", nad: int = 0) -> Block:
        return cls(nad, 0xC0 | (0x20 if response else 0) | int(stype), bytes(inf))

    # ---- fields ----
    @property
    def kind(self) -> Kind:
        if not self.pcb & 0x80:
            return Kind.I
        return Kind.S if self.pcb & 0x40 else Kind.R

    @property
    def ns(self) -> int:
        """N(S) of an I-block."""
        return self.pcb >> 6 & 1

    @property
    def more(self) -> bool:
        """M bit of an I-block (chaining)."""
        return bool(self.pcb & 0x20)

    @property
    def nr(self) -> int:
        """N(R) of an R-block."""
        return self.pcb >> 4 & 1

    @property
    def error(self) -> int:
        """Error bits of an R-block (R_OK, R_EDC_ERROR, R_OTHER_ERROR)."""
        return self.pcb & 0x0F

    @property
    def stype(self) -> SType | None:
        try:
            return SType(self.pcb & 0x1F)
        except ValueError:
            return None

    @property
    def response(self) -> bool:
        """S-block: True for a response, False for a request."""
        return bool(self.pcb & 0x20)

    def is_s(self, stype: SType, response: bool) -> bool:
        return self.kind is Kind.S and self.stype is stype and self.response == response

    def problem(self) -> str | None:
        """Why this block is invalid (§11.6.3 "invalid block"), or None.

        Checks the PCB coding and the LEN each block type allows; whether an
        I-block fits IFSD/IFSC is left to the protocol engine."""
        if len(self.inf) > MAX_INF:
            return "len_too_long"
        if self.kind is Kind.I:
            return "pcb_rfu_bits" if self.pcb & 0x1F else None
        if self.kind is Kind.R:
            if self.pcb & 0x20 or self.error not in (R_OK, R_EDC_ERROR, R_OTHER_ERROR):
                return "pcb_bad_r"
            return "r_with_inf" if self.inf else None
        if self.stype is None:
            return "pcb_bad_s"
        want = 1 if self.stype in (SType.IFS, SType.WTX) else 0
        if len(self.inf) != want:
            return "s_bad_len"
        if self.stype is SType.IFS and not 1 <= self.inf[0] <= MAX_INF:
            return "ifs_out_of_range"
        if self.stype is SType.WTX and self.inf[0] == 0:
            return "wtx_zero"
        return None

    def describe(self) -> str:
        """Short trace form as in ISO 7816-3 Annex A: I(0,1), R(1), S(WTX request, 02)."""
        if self.kind is Kind.I:
            text = f"I({self.ns},{int(self.more)})"
            return text + (f" [{len(self.inf)}]" if self.inf else "")
        if self.kind is Kind.R:
            err = {R_OK: "", R_EDC_ERROR: ", EDC error", R_OTHER_ERROR: ", other error"}
            return f"R({self.nr}{err.get(self.error, ', ?')})"
        name = self.stype.name if self.stype is not None else f"?{self.pcb & 0x1F:02X}"
        text = f"S({name} {'response' if self.response else 'request'}"
        return text + (f", {self.inf.hex().upper()})" if self.inf else ")")


def encode(block: Block, checksum: str = LRC) -> bytes:
    """The bytes of ``block`` on the line, EDC included."""
    if not (0 <= block.nad <= 0xFF and 0 <= block.pcb <= 0xFF):
        raise BlockFormatError("NAD and PCB must be bytes")
    if len(block.inf) > MAX_INF:
        raise BlockFormatError(f"INF of {len(block.inf)} bytes exceeds {MAX_INF}")
    body = bytes([block.nad, block.pcb, len(block.inf)]) + block.inf
    return body + edc(body, checksum)


@dataclass(frozen=True)
class Received:
    """A block finished arriving. ``error`` is None for a good block, else one
    of ``"parity"`` (a character had a parity error), ``"edc"`` (EDC mismatch),
    ``"len_ff"`` (LEN = 0xFF: the length is unknown, the decoder stops at LEN),
    or a reason from :meth:`Block.problem`. ``block`` is the decoded block, or
    None when the prologue itself is unusable."""

    block: Block | None
    error: str | None = None
    raw: bytes = b""

    @property
    def edc_class(self) -> bool:
        """True for errors an R-block reports as "EDC/parity error"."""
        return self.error in ("parity", "edc")


class BlockCollector:
    """Incremental decoder: feed characters, get a :class:`Received` when the
    block is complete (by LEN and the EDC size). Never raises on card input."""

    def __init__(self, checksum: str = LRC):
        self.checksum = checksum
        self._edc_len = edc_size(checksum)
        self.reset()

    def reset(self) -> None:
        self._buf = bytearray()
        self._parity_ok = True

    @property
    def started(self) -> bool:
        """At least one character of the current block arrived."""
        return bool(self._buf)

    def feed(self, byte: int, parity_ok: bool = True) -> Received | None:
        self._buf.append(byte & 0xFF)
        self._parity_ok &= parity_ok
        n = len(self._buf)
        if n == 3 and self._buf[2] == 0xFF:
            return self._finish(None, "len_ff")
        if n < 3 or n < 3 + self._buf[2] + self._edc_len:
            return None
        body = bytes(self._buf[:-self._edc_len])
        block = Block(body[0], body[1], body[3:])
        if not self._parity_ok:
            return self._finish(block, "parity")
        if edc(body, self.checksum) != bytes(self._buf[-self._edc_len:]):
            return self._finish(block, "edc")
        return self._finish(block, block.problem())

    def _finish(self, block: Block | None, error: str | None) -> Received:
        got = Received(block, error, bytes(self._buf))
        self.reset()
        return got
