"""What the Vitale and CPS readers share: SELECT, file reads, status checks.

A reader object is bound to one connection, i.e. one card insertion: it caches
what it read and remembers which application is selected, so a second call costs
no APDU. Make a new reader when the card is inserted again.
"""

from __future__ import annotations

from firmware.cardapps.errors import CardDataError, CardFileMissing, WrongCard, check_sw
from firmware.cardapps.fields import FieldError
from firmware.cardapps.tlv import TlvError, as_dict, decode_tlvs
from firmware.iso7816.apdu import CardConnection, CommandAPDU, ResponseAPDU, exchange

# Instructions whose data field carries a PIN or an unblocking code.
SECRET_INS = frozenset({0x20, 0x24, 0x2C})


def redacted(command: bytes) -> bytes:
    """A command safe to log: the data of VERIFY / CHANGE REFERENCE DATA /
    RESET RETRY COUNTER is replaced by 'x' bytes of the same length."""
    if len(command) > 5 and command[1] in SECRET_INS:
        return command[:5] + b"x" * (len(command) - 5)
    return bytes(command)


class CardAppReader:
    aid: bytes = b""
    card_name = "card"

    def __init__(self, conn: CardConnection):
        self.conn = conn
        self._app_selected = False
        self.apdus = 0

    def transmit(self, command: CommandAPDU) -> ResponseAPDU:
        def counted(c: CommandAPDU) -> ResponseAPDU:
            self.apdus += 1
            return self.conn.transmit(c)

        return exchange(counted, command)

    def select_application(self) -> None:
        if self._app_selected:
            return
        resp = self.transmit(CommandAPDU(0x00, 0xA4, 0x04, 0x0C, self.aid))
        if resp.sw == 0x6A82:
            raise WrongCard(f"{self.card_name} application {self.aid.hex().upper()} not found")
        check_sw(resp, f"SELECT {self.card_name} application")
        self._app_selected = True

    def select_file(self, fid: int) -> dict:
        """SELECT by file identifier with FCP; returns the FCP fields by tag."""
        self.select_application()
        resp = self.transmit(CommandAPDU(0x00, 0xA4, 0x02, 0x04, fid.to_bytes(2, "big"), le=256))
        check_sw(resp, f"SELECT EF {fid:04X}")
        try:
            top = decode_tlvs(resp.data)
            if not top or top[0][0] != 0x62:
                raise CardDataError(f"EF {fid:04X}: SELECT did not return an FCP template")
            return as_dict(decode_tlvs(top[0][1]))
        except TlvError as exc:
            raise CardDataError(f"EF {fid:04X}: bad FCP: {exc}") from exc

    def read_transparent(self, fid: int) -> bytes:
        """SELECT the EF, then READ BINARY exactly its size (from FCP tag 80)."""
        fcp = self.select_file(fid)
        if 0x80 not in fcp:
            raise CardDataError(f"EF {fid:04X}: FCP has no size")
        size = int.from_bytes(fcp[0x80], "big")
        data = bytearray()
        while len(data) < size:
            want = min(256, size - len(data))
            off = len(data)
            resp = self.transmit(CommandAPDU(0x00, 0xB0, off >> 8, off & 0xFF, le=want))
            check_sw(resp, f"READ BINARY {fid:04X}@{off}", allow=(0x6282,))
            if not resp.data:
                raise CardDataError(f"EF {fid:04X}: empty read at offset {off}")
            data += resp.data
            if resp.sw == 0x6282:
                break
        if len(data) != size:
            raise CardDataError(f"EF {fid:04X}: read {len(data)} bytes, FCP said {size}")
        return bytes(data)

    def read_sfi(self, sfi: int, what: str) -> bytes:
        """Read a whole transparent EF by short EF identifier (ISO 7816-4 §11.3.3),
        without SELECT: Le=256 pieces until a short piece (exact length learnt from
        6Cxx by :func:`exchange`, or 6282), or 6B00 at an offset equal to the size."""
        self.select_application()
        data = bytearray()
        while True:
            off = len(data)
            if off == 0:
                cmd = CommandAPDU(0x00, 0xB0, 0x80 | sfi, 0x00, le=256)
            else:
                cmd = CommandAPDU(0x00, 0xB0, off >> 8, off & 0xFF, le=256)
            resp = self.transmit(cmd)
            if resp.sw == 0x6B00 and off:
                break  # the size is a multiple of 256
            if resp.sw == 0x6A82:
                raise CardFileMissing(f"{what}: no EF with SFI {sfi}")
            check_sw(resp, f"READ BINARY {what}@{off}", allow=(0x6282,))
            data += resp.data
            if len(resp.data) < 256 or resp.sw == 0x6282:
                break
            if len(data) > 0x7FFF:
                raise CardDataError(f"{what}: larger than a 15-bit offset can address")
        return bytes(data)

    def read_records(self, fid: int) -> list[bytes]:
        """SELECT the EF, then READ RECORD 1..n (n from the FCP descriptor)."""
        fcp = self.select_file(fid)
        desc = fcp.get(0x82, b"")
        if len(desc) != 5:
            raise CardDataError(f"EF {fid:04X}: not a record file")
        out = []
        for number in range(1, desc[4] + 1):
            resp = self.transmit(CommandAPDU(0x00, 0xB2, number, 0x04, le=256))
            check_sw(resp, f"READ RECORD {fid:04X}#{number}")
            out.append(resp.data)
        return out

    def decoding(self, what: str):
        """Context manager turning codec errors into :class:`CardDataError`."""
        return _Decoding(what)



class _Decoding:
    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, FieldError | TlvError):
            raise CardDataError(f"{self.what}: {exc}") from exc
        return False
