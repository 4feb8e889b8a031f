"""Open Carte Vitale profile ("OpenTLA Vitale v1"): every card-specific constant
and data layout in one place, shared by the reader and the emulated card.
Documented with an annotated example in docs/cards.md.

Application ``F0 4F 54 4C 41 56 49 54`` (proprietary AID, "F0" + "OTLAVIT"):
- EF 2001 card template ``70``: C0 serial, C1 valid until, C2 variant, C3 holder NIR+key
- EF 2002 beneficiaries: a sequence of templates ``65`` (one per beneficiary)
- EF 2003 card-authentication certificate (X.509 DER; Vitale 2 only)
INTERNAL AUTHENTICATE ``00 88 00 P2``: P2=00 signs SHA-256(challenge), P2=01 signs a
given SHA-256 digest; both RSASSA-PKCS1-v1_5 (RFC 8017 §8.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from firmware.cardapps import fields as f
from firmware.cardapps.model import AmcData, Beneficiary, RightsPeriod
from firmware.cardapps.tlv import as_dict, decode_tlvs, encode_tlv, encode_tlvs

AID = bytes.fromhex("F04F544C41564954")
EF_CARD = 0x2001
EF_BENEFICIARIES = 0x2002
EF_CERTIFICATE = 0x2003
# Short EF identifiers: READ BINARY straight from the application, no SELECT
SFI_CARD, SFI_BENEFICIARIES, SFI_CERTIFICATE = 1, 2, 3

# Real ATRs (pcsc-tools smartcard_list.txt): Vitale 2 direct convention T=0 TA1=13;
# Vitale 1 inverse convention (TS=3F).
ATR_VITALE2 = bytes.fromhex("3B751300004709EA9000")
ATR_VITALE1 = bytes.fromhex("3F65250052096A9000")

INS_INTERNAL_AUTHENTICATE = 0x88
P2_AUTH_CHALLENGE = 0x00
P2_AUTH_DIGEST = 0x01
MAX_CHALLENGE = 64

TAG_CARD = 0x70
TAG_SERIAL = 0xC0
TAG_VALID_UNTIL = 0xC1
TAG_VARIANT = 0xC2
TAG_HOLDER_NIR = 0xC3

TAG_BENEFICIARY = 0x65
TAG_NAME = 0x80
TAG_FIRST_NAME = 0x81
TAG_BIRTH_DATE = 0x82
TAG_BIRTH_RANK = 0x83
TAG_QUALITY = 0x84
TAG_ORGANISM = 0x85  # régime (2) + caisse (3) + centre (4)
TAG_NIR = 0x93  # 13 characters + 2-digit key
TAG_RIGHTS = 0xA0
TAG_AMC = 0xA1

# Inside A0 (rights period) and A1 (AMC)
TAG_R_START, TAG_R_END, TAG_R_EXO, TAG_R_ALD, TAG_R_SITUATION = 0x80, 0x81, 0x82, 0x83, 0x84
TAG_A_ORG, TAG_A_CONTRACT, TAG_A_START, TAG_A_END, TAG_A_TP = 0x80, 0x81, 0x82, 0x83, 0x84

# Emulated Vitale cards answer a READ BINARY past the end with 6Cxx (T=0 habit).
READ_PAST_END_SW = 0x6C


@dataclass(frozen=True)
class CardInfo:
    serial: str
    valid_until: date | None
    variant: int  # 1 or 2
    holder_nir: str  # 15 characters


def encode_card_info(info: CardInfo) -> bytes:
    items = [(TAG_SERIAL, f.encode_ascii(info.serial, digits=True))]
    if info.valid_until is not None:
        items.append((TAG_VALID_UNTIL, f.encode_date(info.valid_until)))
    items.append((TAG_VARIANT, f.encode_u8(info.variant)))
    items.append((TAG_HOLDER_NIR, f.encode_ascii(info.holder_nir)))
    return encode_tlv(TAG_CARD, encode_tlvs(items))


def decode_card_info(raw: bytes) -> CardInfo:
    top = decode_tlvs(raw)
    if not top or top[0][0] != TAG_CARD:
        raise f.FieldError("card file does not start with template 70")
    d = as_dict(decode_tlvs(top[0][1]))
    try:
        valid = d.get(TAG_VALID_UNTIL)
        variant = f.decode_u8(d[TAG_VARIANT])
        if variant not in (1, 2):
            raise f.FieldError(f"unknown Vitale variant {variant}")
        return CardInfo(
            serial=f.decode_ascii(d[TAG_SERIAL], digits=True),
            valid_until=f.decode_date(valid) if valid is not None else None,
            variant=variant,
            holder_nir=f.decode_ascii(d[TAG_HOLDER_NIR]),
        )
    except KeyError as exc:
        raise f.FieldError(f"card template lacks tag {exc.args[0]:#x}") from exc


def encode_rights(p: RightsPeriod) -> bytes:
    items = [(TAG_R_START, f.encode_date(p.start))]
    if p.end is not None:
        items.append((TAG_R_END, f.encode_date(p.end)))
    items.append((TAG_R_EXO, f.encode_ascii(p.exoneration)))
    items.append((TAG_R_ALD, f.encode_flag(p.ald)))
    if p.situation_code:
        items.append((TAG_R_SITUATION, f.encode_ascii(p.situation_code)))
    return encode_tlv(TAG_RIGHTS, encode_tlvs(items))


def decode_rights(value: bytes) -> RightsPeriod:
    d = as_dict(decode_tlvs(value))
    end = d.get(TAG_R_END)
    start = f.decode_date(d[TAG_R_START])
    period = RightsPeriod(
        start=start,
        end=f.decode_date(end) if end is not None else None,
        exoneration=f.decode_ascii(d[TAG_R_EXO]),
        ald=f.decode_flag(d[TAG_R_ALD]),
        situation_code=f.decode_ascii(d[TAG_R_SITUATION]) if TAG_R_SITUATION in d else "",
    )
    if period.end is not None and period.end < start:
        raise f.FieldError(f"rights period ends before it starts ({start} > {period.end})")
    return period


def encode_amc(a: AmcData) -> bytes:
    items = [(TAG_A_ORG, f.encode_ascii(a.organism))]
    if a.contract_type:
        items.append((TAG_A_CONTRACT, f.encode_ascii(a.contract_type)))
    if a.start is not None:
        items.append((TAG_A_START, f.encode_date(a.start)))
    if a.end is not None:
        items.append((TAG_A_END, f.encode_date(a.end)))
    items.append((TAG_A_TP, f.encode_flag(a.tiers_payant)))
    return encode_tlv(TAG_AMC, encode_tlvs(items))


def decode_amc(value: bytes) -> AmcData:
    d = as_dict(decode_tlvs(value))
    return AmcData(
        organism=f.decode_ascii(d[TAG_A_ORG]),
        contract_type=f.decode_ascii(d[TAG_A_CONTRACT]) if TAG_A_CONTRACT in d else "",
        start=f.decode_date(d[TAG_A_START]) if TAG_A_START in d else None,
        end=f.decode_date(d[TAG_A_END]) if TAG_A_END in d else None,
        tiers_payant=f.decode_flag(d[TAG_A_TP]),
    )


def encode_beneficiary(b: Beneficiary) -> bytes:
    organism = b.regime + b.caisse + b.centre
    if len(b.regime) != 2 or len(b.caisse) != 3 or len(b.centre) != 4:
        raise f.FieldError(f"régime/caisse/centre must be 2/3/4 digits: {organism!r}")
    items = [
        (TAG_NAME, f.encode_name(b.name)),
        (TAG_FIRST_NAME, f.encode_name(b.first_name)),
        (TAG_BIRTH_DATE, f.encode_partial_date(b.birth_date)),
        (TAG_BIRTH_RANK, f.encode_u8(b.birth_rank)),
        (TAG_QUALITY, f.encode_ascii(b.quality, digits=True)),
        (TAG_NIR, f.encode_ascii(b.nir + b.nir_key)),
        (TAG_ORGANISM, f.encode_ascii(organism, digits=True)),
    ]
    body = encode_tlvs(items) + b"".join(encode_rights(p) for p in b.rights)
    if b.amc is not None:
        body += encode_amc(b.amc)
    return encode_tlv(TAG_BENEFICIARY, body)


def decode_beneficiary(index: int, value: bytes) -> Beneficiary:
    """Decode the value of one template 65. Unknown tags are ignored (a newer card
    may carry more); missing mandatory tags raise :class:`FieldError`."""
    d = as_dict(decode_tlvs(value), repeatable=frozenset({TAG_RIGHTS}))
    try:
        nir_full = f.decode_ascii(d[TAG_NIR])
        if len(nir_full) != 15:
            raise f.FieldError(f"NIR field has {len(nir_full)} characters, not 15")
        organism = f.decode_ascii(d[TAG_ORGANISM], digits=True)
        if len(organism) != 9:
            raise f.FieldError(f"organism field has {len(organism)} digits, not 9")
        quality = f.decode_ascii(d[TAG_QUALITY], digits=True)
        if len(quality) != 2:
            raise f.FieldError(f"quality code {quality!r} is not 2 digits")
        return Beneficiary(
            index=index,
            name=f.decode_name(d[TAG_NAME]),
            first_name=f.decode_name(d[TAG_FIRST_NAME]),
            birth_date=f.decode_partial_date(d[TAG_BIRTH_DATE]),
            birth_rank=f.decode_u8(d[TAG_BIRTH_RANK]),
            quality=quality,
            nir=nir_full[:13],
            nir_key=nir_full[13:],
            regime=organism[:2],
            caisse=organism[2:5],
            centre=organism[5:],
            rights=tuple(decode_rights(v) for v in d.get(TAG_RIGHTS, [])),
            amc=decode_amc(d[TAG_AMC]) if TAG_AMC in d else None,
        )
    except KeyError as exc:
        raise f.FieldError(f"beneficiary {index} lacks tag {exc.args[0]:#x}") from exc


def encode_beneficiaries(items: list[Beneficiary] | tuple[Beneficiary, ...]) -> bytes:
    return b"".join(encode_beneficiary(b) for b in items)


def decode_beneficiaries(raw: bytes) -> tuple[Beneficiary, ...]:
    out: list[Beneficiary] = []
    for tag, value in decode_tlvs(raw):
        if tag != TAG_BENEFICIARY:
            continue
        out.append(decode_beneficiary(len(out), value))
    if not out:
        raise f.FieldError("no beneficiary on the card")
    return tuple(out)

