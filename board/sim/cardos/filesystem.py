"""File system of the emulated card: applications (ADF) holding elementary files,
and the FCP/FCI templates SELECT returns (ISO/IEC 7816-4 §5.3.3, §7.1.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware.cardapps.tlv import encode_tlv, encode_tlvs


@dataclass
class TransparentEF:
    """A binary EF read with READ BINARY (offset + length)."""

    fid: int
    data: bytes
    sfi: int | None = None  # short EF identifier (1..30) for READ BINARY P1 b8=1

    def fcp(self) -> bytes:
        # 80: data bytes in the file; 82: descriptor 01 = working EF, transparent; 83: FID
        return encode_tlv(
            0x62,
            encode_tlvs(
                [
                    (0x80, len(self.data).to_bytes(2, "big")),
                    (0x82, b"\x01"),
                    (0x83, self.fid.to_bytes(2, "big")),
                ]
            ),
        )


@dataclass
class RecordEF:
    """A linear EF of variable-size records, read with READ RECORD (numbered from 1)."""

    fid: int
    records: list[bytes] = field(default_factory=list)
    sfi: int | None = None

    def fcp(self) -> bytes:
        longest = max((len(r) for r in self.records), default=0)
        # 82: 04 = working EF, linear variable; 21 = data coding byte; then the
        # maximum record size (2 bytes) and the number of records (1 byte).
        descriptor = b"\x04\x21" + longest.to_bytes(2, "big") + bytes((len(self.records),))
        return encode_tlv(
            0x62,
            encode_tlvs([(0x82, descriptor), (0x83, self.fid.to_bytes(2, "big"))]),
        )


ElementaryFile = TransparentEF | RecordEF


@dataclass
class Application:
    """An ADF selected by its AID; its EFs are selected by file identifier."""

    aid: bytes
    files: dict[int, ElementaryFile] = field(default_factory=dict)

    def add(self, ef: ElementaryFile) -> None:
        self.files[ef.fid] = ef

    def by_sfi(self, sfi: int) -> ElementaryFile | None:
        return next((ef for ef in self.files.values() if ef.sfi == sfi), None)

    def fci(self) -> bytes:
        # 6F: FCI template; 84: DF name (the AID)
        return encode_tlv(0x6F, encode_tlv(0x84, self.aid))
