"""Open CPS-family profile ("OpenTLA CPS v1", for CPS, CPE and CDE cards): every
card-specific constant and layout in one place, shared by the reader and the
emulated card. Documented with an annotated example in docs/cards.md.

Application ``F0 4F 54 4C 41 43 50 53`` ("F0" + "OTLACPS"):
- EF 3001 identity, template ``70`` (C0 type, C1 id type, C2 national id, C3 name,
  C4 first name, C5 serial, C6 valid until)
- EF 3002 situations, linear fixed records, one template ``72`` each
- EF 3003 signature certificate (X.509 DER)
PIN reference 01 (4 digits, ASCII, padded with FF to 8 bytes; 3 tries); unblocking
code 8 ASCII digits (10 tries). Signature: MSE SET ``00 22 41 B6`` with
``84 01 01`` (key) ``80 01 02`` (algorithm), then PSO:CDS ``00 2A 9E 9A`` over a
SHA-256 DigestInfo (RFC 8017 §9.2): the card adds PKCS#1 v1.5 type-1 padding.
"""

from __future__ import annotations

from datetime import date

from firmware.cardapps import fields as f
from firmware.cardapps.model import Situation
from firmware.cardapps.tlv import as_dict, decode_tlvs, encode_tlv, encode_tlvs

AID = bytes.fromhex("F04F544C41435053")
EF_IDENTITY = 0x3001
EF_SITUATIONS = 0x3002
EF_CERTIFICATE = 0x3003
SFI_IDENTITY, SFI_SITUATIONS, SFI_CERTIFICATE = 1, 2, 3

# Real ATRs (DESIGN.md §2, pcsc-tools smartcard_list.txt)
ATR_CPS3 = bytes.fromhex("3BAC00402A001225006480000310009000")
ATR_CPS4 = bytes.fromhex("3B9B188001001225006480040100009044")

PIN_REF = 0x01
PIN_LENGTH = 4
PIN_BLOCK = 8
PIN_TRIES = 3
PUK_LENGTH = 8
PUK_TRIES = 10
KEY_REF = 0x01
ALGO_RSA_PKCS1_DIGESTINFO = 0x02
MSE_SET_DST = (0x41, 0xB6)  # P1 P2 of MSE SET for the digital signature template
PSO_CDS = (0x9E, 0x9A)

# DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2 note 1)
SHA256_DIGESTINFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")

TAG_IDENT = 0x70
TAG_CARD_TYPE, TAG_ID_TYPE, TAG_NATIONAL_ID = 0xC0, 0xC1, 0xC2
TAG_NAME, TAG_FIRST_NAME, TAG_SERIAL, TAG_VALID_UNTIL = 0xC3, 0xC4, 0xC5, 0xC6

TAG_SITUATION = 0x72
TAG_BILLING, TAG_PROFESSION, TAG_SPECIALTY, TAG_SECTOR = 0x80, 0x81, 0x82, 0x83
TAG_ZONE, TAG_RIGHTS, TAG_ROLE, TAG_PRACTICE, TAG_REPLACED = 0x84, 0x85, 0x86, 0x87, 0x88

RIGHT_SIGN_FSE = 0x01
RIGHT_SIGN_LOT = 0x02
ROLES = ("titulaire", "remplacant", "salarie")
CARD_TYPES = ("CPS", "CPE", "CDE")

# Emulated CPS cards answer a READ BINARY past the end with the data left and 6282.
READ_PAST_END_SW = 0x62


def pin_block(pin: str) -> bytes:
    """4 ASCII digits padded with FF to 8 bytes (raises ValueError otherwise)."""
    if len(pin) != PIN_LENGTH or not pin.isdigit() or not pin.isascii():
        raise ValueError("a PIN is 4 digits")
    return pin.encode("ascii") + b"\xff" * (PIN_BLOCK - PIN_LENGTH)


def puk_block(puk: str) -> bytes:
    if len(puk) != PUK_LENGTH or not puk.isdigit() or not puk.isascii():
        raise ValueError("an unblocking code is 8 digits")
    return puk.encode("ascii")


def digest_info_sha256(digest: bytes) -> bytes:
    if len(digest) != 32:
        raise ValueError(f"a SHA-256 digest has 32 bytes, got {len(digest)}")
    return SHA256_DIGESTINFO_PREFIX + digest


def mse_set_data() -> bytes:
    return encode_tlvs([(0x84, bytes((KEY_REF,))), (0x80, bytes((ALGO_RSA_PKCS1_DIGESTINFO,)))])


def encode_identity(
    card_type: str, id_type: str, national_id: str, name: str, first_name: str,
    serial: str, valid_until: date | None,
) -> bytes:
    if card_type not in CARD_TYPES:
        raise f.FieldError(f"unknown card type {card_type!r}")
    items = [
        (TAG_CARD_TYPE, f.encode_ascii(card_type)),
        (TAG_ID_TYPE, f.encode_ascii(id_type, digits=True)),
        (TAG_NATIONAL_ID, f.encode_ascii(national_id)),
        (TAG_NAME, f.encode_name(name)),
        (TAG_FIRST_NAME, f.encode_name(first_name)),
        (TAG_SERIAL, f.encode_ascii(serial, digits=True)),
    ]
    if valid_until is not None:
        items.append((TAG_VALID_UNTIL, f.encode_date(valid_until)))
    return encode_tlv(TAG_IDENT, encode_tlvs(items))


def decode_identity(raw: bytes) -> dict:
    top = decode_tlvs(raw)
    if not top or top[0][0] != TAG_IDENT:
        raise f.FieldError("identity file does not start with template 70")
    d = as_dict(decode_tlvs(top[0][1]))
    try:
        card_type = f.decode_ascii(d[TAG_CARD_TYPE])
        if card_type not in CARD_TYPES:
            raise f.FieldError(f"unknown card type {card_type!r}")
        return {
            "card_type": card_type,
            "id_type": f.decode_ascii(d[TAG_ID_TYPE], digits=True),
            "national_id": f.decode_ascii(d[TAG_NATIONAL_ID]),
            "name": f.decode_name(d[TAG_NAME]),
            "first_name": f.decode_name(d[TAG_FIRST_NAME]),
            "serial": f.decode_ascii(d[TAG_SERIAL], digits=True),
            "valid_until": f.decode_date(d[TAG_VALID_UNTIL]) if TAG_VALID_UNTIL in d else None,
        }
    except KeyError as exc:
        raise f.FieldError(f"identity lacks tag {exc.args[0]:#x}") from exc


def encode_situation(s: Situation) -> bytes:
    if len(s.billing_number) != 9 or not s.billing_number.isdigit():
        raise f.FieldError(f"billing number must be 9 digits: {s.billing_number!r}")
    rights = (RIGHT_SIGN_FSE if s.can_sign_fse else 0) | (RIGHT_SIGN_LOT if s.can_sign_lot else 0)
    items = [
        (TAG_BILLING, f.encode_ascii(s.billing_number, digits=True)),
        (TAG_PROFESSION, f.encode_ascii(s.profession, digits=True)),
        (TAG_SPECIALTY, f.encode_ascii(s.specialty, digits=True)),
        (TAG_SECTOR, f.encode_ascii(s.convention_sector, digits=True)),
        (TAG_ZONE, f.encode_ascii(s.tariff_zone, digits=True)),
        (TAG_RIGHTS, f.encode_u8(rights)),
        (TAG_ROLE, f.encode_u8(ROLES.index(s.role))),
    ]
    if s.practice_name:
        items.append((TAG_PRACTICE, f.encode_name(s.practice_name)))
    if s.replaced_billing_number:
        items.append((TAG_REPLACED, f.encode_ascii(s.replaced_billing_number, digits=True)))
    return encode_tlv(TAG_SITUATION, encode_tlvs(items))


def decode_situation(index: int, raw: bytes) -> Situation:
    top = decode_tlvs(raw)
    if not top or top[0][0] != TAG_SITUATION:
        raise f.FieldError(f"situation record {index + 1} is not a template 72")
    d = as_dict(decode_tlvs(top[0][1]))
    try:
        billing = f.decode_ascii(d[TAG_BILLING], digits=True)
        if len(billing) != 9:
            raise f.FieldError(f"billing number {billing!r} is not 9 digits")
        rights = f.decode_u8(d[TAG_RIGHTS])
        role = f.decode_u8(d[TAG_ROLE])
        if role >= len(ROLES):
            raise f.FieldError(f"unknown role code {role}")
        return Situation(
            index=index,
            billing_number=billing,
            profession=f.decode_ascii(d[TAG_PROFESSION], digits=True),
            specialty=f.decode_ascii(d[TAG_SPECIALTY], digits=True),
            convention_sector=f.decode_ascii(d[TAG_SECTOR], digits=True),
            tariff_zone=f.decode_ascii(d[TAG_ZONE], digits=True),
            can_sign_fse=bool(rights & RIGHT_SIGN_FSE),
            can_sign_lot=bool(rights & RIGHT_SIGN_LOT),
            role=ROLES[role],
            practice_name=f.decode_name(d[TAG_PRACTICE]) if TAG_PRACTICE in d else "",
            replaced_billing_number=(
                f.decode_ascii(d[TAG_REPLACED], digits=True) if TAG_REPLACED in d else ""
            ),
        )
    except KeyError as exc:
        raise f.FieldError(f"situation {index + 1} lacks tag {exc.args[0]:#x}") from exc
