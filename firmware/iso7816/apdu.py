"""ISO 7816-4 command and response APDUs, shared by every transport.

The card applications (Vitale, CPS readers) only ever see this module and a
:class:`CardConnection`: whether the card sits in a direct slot driven by our own
T=0/T=1 engines or in a PC/SC reader makes no difference to them.

>>> c = CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=256)
>>> c.case, c.to_bytes().hex()
(2, '00b0000000')
>>> ResponseAPDU.from_bytes(bytes.fromhex("6a82")).describe()
'6A82: file or application not found'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

# Largest short-form data field and Le (Le=256 is encoded as 00).
SHORT_MAX = 256


class ApduError(ValueError):
    """A malformed APDU (our misuse, or bytes from a peer that are not an APDU)."""


@dataclass(frozen=True)
class CommandAPDU:
    """An ISO 7816-4 command. ``le`` is None when no response data is expected
    (cases 1 and 3); ``le=256`` (short) or ``65536`` (extended) ask for "all"."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    extended: bool = False

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            v = getattr(self, name)
            if not 0 <= v <= 0xFF:
                raise ApduError(f"{name} out of range: {v}")
        if self.ins & 0xF0 in (0x60, 0x90):
            raise ApduError(f"INS {self.ins:02X} is invalid (6X/9X are reserved)")
        limit = 65535 if self.extended else 255
        if len(self.data) > limit:
            raise ApduError(f"data field of {len(self.data)} bytes exceeds {limit}")
        if self.le is not None:
            le_limit = 65536 if self.extended else 256
            if not 1 <= self.le <= le_limit:
                raise ApduError(f"Le={self.le} outside 1..{le_limit}")

    @property
    def case(self) -> int:
        """ISO 7816-4 case: 1 (no data), 2 (data out), 3 (data in), 4 (both)."""
        return {(False, False): 1, (False, True): 2, (True, False): 3, (True, True): 4}[
            (bool(self.data), self.le is not None)
        ]

    @property
    def header(self) -> bytes:
        return bytes((self.cla, self.ins, self.p1, self.p2))

    def to_bytes(self) -> bytes:
        out = bytearray(self.header)
        if self.extended:
            if self.data:
                out += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
            if self.le is not None:
                le = 0 if self.le == 65536 else self.le
                out += (b"" if self.data else b"\x00") + le.to_bytes(2, "big")
            return bytes(out)
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            out.append(self.le & 0xFF)
        return bytes(out)

    @classmethod
    def from_bytes(cls, raw: bytes) -> CommandAPDU:
        """Parse a command, detecting its case (short and extended forms)."""
        if len(raw) < 4:
            raise ApduError(f"command of {len(raw)} bytes is shorter than a header")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or 256)
        if body[0] != 0 or len(body) == 1 + body[0] or len(body) == 2 + body[0]:
            lc = body[0]
            if lc == 0:
                raise ApduError("short Lc of 0 is not allowed")
            if len(body) == 1 + lc:
                return cls(cla, ins, p1, p2, data=bytes(body[1:]))
            if len(body) == 2 + lc:
                return cls(cla, ins, p1, p2, data=bytes(body[1 : 1 + lc]), le=body[-1] or 256)
            raise ApduError(f"Lc={lc} does not match a body of {len(body)} bytes")
        # Extended forms start with 00.
        if len(body) == 3:
            le = int.from_bytes(body[1:3], "big") or 65536
            return cls(cla, ins, p1, p2, le=le, extended=True)
        lc = int.from_bytes(body[1:3], "big")
        if lc == 0:
            raise ApduError("extended Lc of 0 is not allowed")
        if len(body) == 3 + lc:
            return cls(cla, ins, p1, p2, data=bytes(body[3:]), extended=True)
        if len(body) == 5 + lc:
            le = int.from_bytes(body[-2:], "big") or 65536
            return cls(cla, ins, p1, p2, data=bytes(body[3 : 3 + lc]), le=le, extended=True)
        raise ApduError(f"extended Lc={lc} does not match a body of {len(body)} bytes")

    def with_le(self, le: int) -> CommandAPDU:
        return CommandAPDU(self.cla, self.ins, self.p1, self.p2, self.data, le, self.extended)


@dataclass(frozen=True)
class ResponseAPDU:
    data: bytes
    sw1: int
    sw2: int

    @classmethod
    def from_bytes(cls, raw: bytes) -> ResponseAPDU:
        if len(raw) < 2:
            raise ApduError(f"response of {len(raw)} bytes has no status word")
        return cls(bytes(raw[:-2]), raw[-2], raw[-1])

    def to_bytes(self) -> bytes:
        return self.data + bytes((self.sw1, self.sw2))

    @property
    def sw(self) -> int:
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        """Normal processing (9000) or a warning-free success (61xx is only seen
        below the chaining helper)."""
        return self.sw == 0x9000

    def describe(self) -> str:
        return f"{self.sw:04X}: {describe_sw(self.sw1, self.sw2)}"


_SW_EXACT = {
    0x9000: "success",
    0x6281: "part of returned data may be corrupted",
    0x6282: "end of file or record reached before reading Le bytes",
    0x6283: "selected file deactivated",
    0x6284: "file control information not formatted",
    0x6700: "wrong length",
    0x6881: "logical channel not supported",
    0x6882: "secure messaging not supported",
    0x6883: "last command of the chain expected",
    0x6884: "command chaining not supported",
    0x6981: "command incompatible with file structure",
    0x6982: "security status not satisfied",
    0x6983: "authentication method blocked",
    0x6984: "reference data not usable",
    0x6985: "conditions of use not satisfied",
    0x6986: "command not allowed (no current EF)",
    0x6A80: "incorrect parameters in the data field",
    0x6A81: "function not supported",
    0x6A82: "file or application not found",
    0x6A83: "record not found",
    0x6A84: "not enough memory space in the file",
    0x6A86: "incorrect parameters P1-P2",
    0x6A88: "referenced data not found",
    0x6B00: "wrong parameters P1-P2 (offset outside the EF)",
    0x6D00: "instruction code not supported or invalid",
    0x6E00: "class not supported",
    0x6F00: "no precise diagnosis",
}


def describe_sw(sw1: int, sw2: int) -> str:
    """English meaning of a status word (ISO 7816-4 §5.1.3)."""
    sw = (sw1 << 8) | sw2
    if sw in _SW_EXACT:
        return _SW_EXACT[sw]
    if sw1 == 0x61:
        return f"{sw2 or 256} response bytes still available"
    if sw1 == 0x6C:
        return f"wrong Le: exact length is {sw2 or 256}"
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        return f"verification failed, {sw2 & 0x0F} tries left"
    if sw1 == 0x62:
        return "warning: non-volatile memory unchanged"
    if sw1 == 0x63:
        return "warning: non-volatile memory changed"
    if sw1 == 0x64:
        return "execution error: non-volatile memory unchanged"
    if sw1 == 0x65:
        return "execution error: non-volatile memory changed"
    if sw1 == 0x68:
        return "functions in CLA not supported"
    if sw1 == 0x69:
        return "command not allowed"
    if sw1 == 0x6A:
        return "wrong parameters"
    return "unknown status"


class CardConnection(Protocol):
    """What a card application needs from any transport."""

    @property
    def atr(self) -> bytes: ...

    def transmit(self, command: CommandAPDU) -> ResponseAPDU:
        """Send one command; return its response. Raises a
        :class:`firmware.iso7816.errors.CardError` if the card is gone or mute."""
        ...


@dataclass
class ApduTrace:
    """Counts the exchanges of a connection (for traces and benches)."""

    commands: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    log: list[tuple[bytes, bytes]] = field(default_factory=list)


def exchange(
    transmit: Callable[[CommandAPDU], ResponseAPDU],
    command: CommandAPDU,
    *,
    max_rounds: int = 64,
) -> ResponseAPDU:
    """Send ``command`` and apply the ISO 7816-4 response-chaining rules at APDU
    level: re-issue with the exact Le on 6Cxx, collect 61xx with GET RESPONSE.

    The direct-slot T=0 engine already does this below the APDU layer; PC/SC
    readers may or may not, so card applications always go through here.
    """
    resp = transmit(command)
    if resp.sw1 == 0x6C:
        resp = transmit(command.with_le(resp.sw2 or 256))
    data = bytearray(resp.data)
    rounds = 0
    while resp.sw1 == 0x61:
        rounds += 1
        if rounds > max_rounds:
            raise ApduError("card keeps answering 61xx: response chaining does not end")
        resp = transmit(CommandAPDU(command.cla & 0x03, 0xC0, 0, 0, le=resp.sw2 or 256))
        data += resp.data
    return ResponseAPDU(bytes(data), resp.sw1, resp.sw2)


def chain_commands(command: CommandAPDU, chunk: int = 255) -> list[CommandAPDU]:
    """Split a short command whose data exceeds ``chunk`` into ISO 7816-4 command
    chaining (CLA bit b5 set on every part but the last)."""
    if len(command.data) <= chunk:
        return [command]
    parts = [command.data[i : i + chunk] for i in range(0, len(command.data), chunk)]
    out = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        out.append(
            CommandAPDU(
                command.cla | (0 if last else 0x10),
                command.ins,
                command.p1,
                command.p2,
                part,
                command.le if last else None,
            )
        )
    return out
