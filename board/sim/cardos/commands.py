"""Command handlers of the emulated card OS (ISO/IEC 7816-4:2020 clauses cited).

Each handler takes the card and the parsed command and returns the response APDU
bytes. :func:`respond` applies the Le rules once for all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from board.sim.cardos.filesystem import RecordEF, TransparentEF
from firmware.cardapps.cps_profile import (
    ALGO_RSA_PKCS1_DIGESTINFO,
    KEY_REF,
    SHA256_DIGESTINFO_PREFIX,
)
from firmware.cardapps.tlv import TlvError, as_dict, decode_tlvs
from firmware.iso7816.apdu import CommandAPDU

if TYPE_CHECKING:
    from board.sim.cardos.card import CardOS
    from board.sim.cardos.secrets import PinState


def sw(value: int, data: bytes = b"") -> bytes:
    return data + value.to_bytes(2, "big")


def respond(card: CardOS, data: bytes, le: int | None) -> bytes:
    """Le rules (§5.1, §5.3.4). Without Le (a case-4 command carried as case 3 by
    T=0) all data come back with 9000: the T=0 card side (board/sim/t0_card.py)
    then announces them by 61xx, as ISO 7816-4 Annex A maps it. With Le=256 ("00")
    up to 256 bytes come back, the rest waits behind 61xx for GET RESPONSE; a
    smaller Le than the data gives 6Cxx with the exact length."""
    if not data:
        return sw(0x9000)
    if le is None or le >= len(data):
        return sw(0x9000, data)
    if le == 256:
        card.state.pending = data[256:]
        rest = len(card.state.pending)
        return sw(0x6100 | (rest if rest < 256 else 0), data[:256])
    return sw(0x6C00 | (len(data) if len(data) < 256 else 0))


def select(card: CardOS, c: CommandAPDU) -> bytes:
    """SELECT (§11.2.2): P1=04 by DF name (AID), P1=00/02 by file identifier;
    P2=00/04 returns FCI/FCP, P2=0C returns nothing."""
    if c.p2 not in (0x00, 0x04, 0x0C):
        return sw(0x6A86)
    if c.p1 == 0x04:
        if not 1 <= len(c.data) <= 16:
            return sw(0x6700)
        for app in card.applications:
            if app.aid.startswith(c.data):
                card.state.app, card.state.ef = app, None
                card.state.mse_ready = False
                return sw(0x9000) if c.p2 == 0x0C else respond(card, app.fci(), c.le)
        return sw(0x6A82)
    if c.p1 in (0x00, 0x02):
        if len(c.data) != 2:
            return sw(0x6700)
        fid = int.from_bytes(c.data, "big")
        current = card.state.app
        ef = current.files.get(fid) if current else None
        if ef is None:
            return sw(0x6A82)
        card.state.ef = ef
        return sw(0x9000) if c.p2 == 0x0C else respond(card, ef.fcp(), c.le)
    return sw(0x6A86)


def read_binary(card: CardOS, c: CommandAPDU) -> bytes:
    """READ BINARY (§11.3.3): P1 b8=0: 15-bit offset in P1-P2 of the current EF;
    P1 b8=1: b7-b6 = 00, b5-b1 = short EF identifier (the EF becomes current), P2 = offset."""
    if c.p1 & 0x80:
        if c.p1 & 0x60 or not c.p1 & 0x1F:
            return sw(0x6A86)
        app = card.state.app
        target = app.by_sfi(c.p1 & 0x1F) if app else None
        if target is None:
            return sw(0x6A82)
        card.state.ef = target
        offset = c.p2
    else:
        offset = (c.p1 << 8) | c.p2
    ef = card.state.ef
    if ef is None:
        return sw(0x6986)
    if not isinstance(ef, TransparentEF):
        return sw(0x6981)
    if c.le is None or c.data:
        return sw(0x6700)
    if offset >= len(ef.data):
        return sw(0x6B00)
    left = ef.data[offset:]
    if c.le <= len(left):
        return sw(0x9000, left[: c.le])
    if card.read_past_end_sw == 0x62:
        return sw(0x6282, left)  # end of file reached before Le bytes
    return sw(0x6C00 | len(left))  # wrong Le: exact length in SW2


def read_record(card: CardOS, c: CommandAPDU) -> bytes:
    """READ RECORD (§11.4.3): P1 record number, P2=04 (record P1 of the current EF)."""
    if c.p2 != 0x04 or c.p1 == 0:
        return sw(0x6A86)
    ef = card.state.ef
    if ef is None:
        return sw(0x6986)
    if not isinstance(ef, RecordEF):
        return sw(0x6981)
    if c.data:
        return sw(0x6700)
    if c.p1 > len(ef.records):
        return sw(0x6A83)
    return respond(card, ef.records[c.p1 - 1], c.le)


def get_data(card: CardOS, c: CommandAPDU) -> bytes:
    """GET DATA (§11.5.2): P1-P2 is the tag of a simple data object."""
    value = card.data_objects.get((c.p1 << 8) | c.p2)
    if value is None:
        return sw(0x6A88)
    return respond(card, value, c.le)


def _addressed_pin(card: CardOS, c: CommandAPDU) -> PinState | bytes:
    """The PIN that P1-P2 name, or the error response: no PIN on this card
    (6D00), or a wrong reference (6A86)."""
    if card.pin is None:
        return sw(0x6D00)
    if c.p1 not in (0x00, 0x01) or c.p2 != card.pin_ref:
        return sw(0x6A86)
    return card.pin


def verify(card: CardOS, c: CommandAPDU) -> bytes:
    """VERIFY (§11.5.6). Without data: 63Cx gives the tries left (9000 once verified)."""
    pin = _addressed_pin(card, c)
    if isinstance(pin, bytes):
        return pin
    if c.p1 != 0:
        return sw(0x6A86)
    if pin.blocked:
        return sw(0x6983)
    if not c.data:
        return sw(0x9000) if card.state.pin_verified else sw(0x63C0 | pin.pin_left)
    if len(c.data) != 8:
        return sw(0x6700)
    if pin.check_pin(c.data):
        card.state.pin_verified = True
        return sw(0x9000)
    card.state.pin_verified = False
    return sw(0x63C0 | pin.pin_left)


def _valid_pin_block(block: bytes) -> bool:
    digits = block[:4]
    return len(block) == 8 and digits.isdigit() and digits.isascii() and block[4:] == b"\xff" * 4


def change_reference_data(card: CardOS, c: CommandAPDU) -> bytes:
    """CHANGE REFERENCE DATA (§11.5.7), P1=00: data = old PIN block + new PIN block."""
    pin = _addressed_pin(card, c)
    if isinstance(pin, bytes):
        return pin
    if c.p1 != 0:
        return sw(0x6A86)
    if len(c.data) != 16:
        return sw(0x6700)
    if pin.blocked:
        return sw(0x6983)
    if not _valid_pin_block(c.data[8:]):
        return sw(0x6A80)
    if not pin.check_pin(c.data[:8]):
        card.state.pin_verified = False
        return sw(0x63C0 | pin.pin_left)
    pin.set_pin(c.data[8:])
    card.state.pin_verified = True
    return sw(0x9000)


def reset_retry_counter(card: CardOS, c: CommandAPDU) -> bytes:
    """RESET RETRY COUNTER (§11.5.10): P1=00 unblocking code + new PIN block,
    P1=01 unblocking code only (PIN kept)."""
    pin = _addressed_pin(card, c)
    if isinstance(pin, bytes):
        return pin
    want = 16 if c.p1 == 0 else 8
    if len(c.data) != want:
        return sw(0x6700)
    if pin.dead:
        return sw(0x6983)
    if c.p1 == 0 and not _valid_pin_block(c.data[8:]):
        return sw(0x6A80)
    if not pin.check_puk(c.data[:8]):
        return sw(0x63C0 | min(pin.puk_left, 15))
    if c.p1 == 0:
        pin.set_pin(c.data[8:])
    else:
        pin.pin_left = pin.pin_max
    return sw(0x9000)


def manage_security_environment(card: CardOS, c: CommandAPDU) -> bytes:
    """MSE SET for the digital signature template (§11.5.11): 84 key ref, 80 algorithm."""
    if card.sign_key is None:
        return sw(0x6D00)
    if (c.p1, c.p2) != (0x41, 0xB6):
        return sw(0x6A86)
    try:
        d = as_dict(decode_tlvs(c.data))
    except TlvError:
        return sw(0x6A80)
    if d.get(0x84) != bytes((KEY_REF,)):
        return sw(0x6A88)
    if d.get(0x80, bytes((ALGO_RSA_PKCS1_DIGESTINFO,))) != bytes((ALGO_RSA_PKCS1_DIGESTINFO,)):
        return sw(0x6A80)
    card.state.mse_ready = True
    return sw(0x9000)


def perform_security_operation(card: CardOS, c: CommandAPDU) -> bytes:
    """PSO: COMPUTE DIGITAL SIGNATURE (ISO/IEC 7816-8 §11.4) over a SHA-256 DigestInfo."""
    if card.sign_key is None:
        return sw(0x6D00)
    if (c.p1, c.p2) != (0x9E, 0x9A):
        return sw(0x6A86)
    if not card.state.mse_ready:
        return sw(0x6985)
    if not card.state.pin_verified:
        return sw(0x6982)
    if len(c.data) != 51 or not c.data.startswith(SHA256_DIGESTINFO_PREFIX):
        return sw(0x6A80)
    return respond(card, card.sign_key.sign_digest(c.data[19:]), c.le)


def internal_authenticate(card: CardOS, c: CommandAPDU) -> bytes:
    """INTERNAL AUTHENTICATE (§11.5.4): P2=00 sign SHA-256(challenge), P2=01 sign a digest."""
    if card.auth_key is None:
        return sw(0x6D00)
    if c.p1 != 0 or c.p2 not in (0x00, 0x01):
        return sw(0x6A86)
    if c.p2 == 0x00:
        if not 1 <= len(c.data) <= 64:
            return sw(0x6700)
        return respond(card, card.auth_key.sign_sha256(c.data), c.le)
    if len(c.data) != 32:
        return sw(0x6700)
    return respond(card, card.auth_key.sign_digest(c.data), c.le)


def get_challenge(card: CardOS, c: CommandAPDU) -> bytes:
    """GET CHALLENGE (§11.5.3): Le random bytes."""
    if c.p1 or c.p2:
        return sw(0x6A86)
    if c.le is None or c.data:
        return sw(0x6700)
    return sw(0x9000, card.challenge(c.le))


def get_response(card: CardOS, c: CommandAPDU) -> bytes:
    """GET RESPONSE (§11.7.1): the data kept by the previous 61xx."""
    if c.p1 or c.p2:
        return sw(0x6A86)
    if not card.state.pending:
        return sw(0x6985)
    data, card.state.pending = card.state.pending, b""
    return respond(card, data, c.le or 256)


HANDLERS = {
    0xA4: select,
    0xB0: read_binary,
    0xB2: read_record,
    0xCA: get_data,
    0x20: verify,
    0x24: change_reference_data,
    0x2C: reset_retry_counter,
    0x22: manage_security_environment,
    0x2A: perform_security_operation,
    0x88: internal_authenticate,
    0x84: get_challenge,
    0xC0: get_response,
}


def dispatch(card: CardOS, c: CommandAPDU) -> bytes:
    """Class then instruction checks (§5.4.1, §5.6), then the handler."""
    if c.cla & 0x10:
        return sw(0x6884)  # command chaining not supported
    if c.cla & 0xFC != 0x00:
        return sw(0x6E00)
    handler = HANDLERS.get(c.ins)
    if handler is None:
        return sw(0x6D00)
    if c.ins != 0xC0:
        card.state.pending = b""
    return handler(card, c)
