"""Lots: one professional's FSEs grouped by destination organism (régime + caisse),
each closed by an end record carrying counts, totals and the firmware seal of its
FSEs (seed 004: the seal "est mémorisé dans l'enregistrement de fin de lot"), and the
signed lot file (format ``opentla-lot/1``, docs/lots.md).

The lot is signed by a CPS situation allowed to sign lots (DESIGN §2): the office
tools read the card and hand its signer in; nothing here talks to a card.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from firmware.cardapps.model import ProfessionalCard, Situation

from . import cbor_det, cose
from .errors import BillingError, FseFormatError, FseVerificationError
from .trust import CardAuthorities

MAX_FSE_PER_LOT = 500  # our limit; a full group is split into several lots
MAX_LOT_NUMBER = 999_999  # lot numbers are 1..999999 per billing number, never reused
LOT_FORMAT = "opentla-lot/1"
LOT_CONTENT_TYPE = "application/vnd.opentla.lot+cbor"


class LotMember(Protocol):
    """What a lot needs of an FSE (a VerifiedFse, or an FSE read back from the office
    database, where it was verified at import)."""

    @property
    def number(self) -> int: ...
    @property
    def billing_number(self) -> str: ...
    @property
    def payload(self) -> dict: ...
    @property
    def seal(self) -> bytes: ...


@dataclass(frozen=True)
class Lot:
    lot_number: int
    billing_number: str
    regime: str
    caisse: str
    fse_numbers: tuple[int, ...]
    total_cents: int
    amo_cents: int
    amc_cents: int
    seal: bytes

    def end_record(self) -> dict:
        """The end-of-lot record (docs/lots.md §The lot file)."""
        return {"count": len(self.fse_numbers), "fse_numbers": list(self.fse_numbers),
                "total_cents": self.total_cents, "amo_cents": self.amo_cents,
                "amc_cents": self.amc_cents, "seal": self.seal}


def check_lot_number(number: object, field: str = "lot_number") -> int:
    """A lot number is an int in 1..MAX_LOT_NUMBER (0 is refused)."""
    if not isinstance(number, int) or isinstance(number, bool) or not (
            1 <= number <= MAX_LOT_NUMBER):
        raise BillingError(f"lot number must be 1..{MAX_LOT_NUMBER}, got {number!r}",
                           code="lot_number_invalid", message_fr="Numéro de lot invalide",
                           field=field)
    return number


def make_lot(lot_number: int, billing_number: str, regime: str, caisse: str,
             members: list[LotMember]) -> Lot:
    """One lot of FSEs sorted by number. All must carry the same firmware seal: the end
    record holds one seal, so a lot mixing seals is refused (``lot_mixed_seals``)."""
    check_lot_number(lot_number)
    seals = sorted({f.seal for f in members})
    if len(seals) != 1 or not seals[0]:
        raise BillingError(f"lot {lot_number}: FSEs carry {len(seals)} different seals "
                           f"({', '.join(s.hex()[:16] for s in seals)})",
                           code="lot_mixed_seals" if seals and seals[0] else "lot_seal_missing",
                           message_fr="Sceaux logiciels différents")
    members = sorted(members, key=lambda f: f.number)
    amounts = [f.payload["amounts"] for f in members]
    return Lot(lot_number=lot_number, billing_number=billing_number, regime=regime,
               caisse=caisse, fse_numbers=tuple(f.number for f in members),
               total_cents=sum(a["total_cents"] for a in amounts),
               amo_cents=sum(a["amo_cents"] for a in amounts),
               amc_cents=sum(a["amc_cents"] for a in amounts), seal=seals[0])


def group_lots(fses: Iterable[LotMember], *, billing_number: str, can_sign_lot: bool,
               first_lot_number: int) -> list[Lot]:
    """Group ``billing_number``'s FSEs into lots per destination (régime, caisse) and
    firmware seal (so that no lot mixes seals), ordered by (régime, caisse, seal) then
    FSE number, at most MAX_FSE_PER_LOT each. Lot numbers are consecutive from
    ``first_lot_number``."""
    if not can_sign_lot:
        raise BillingError("situation not allowed to sign lots", code="ps_lot_not_allowed",
                           message_fr="Carte non habilitée aux lots")
    check_lot_number(first_lot_number, "first_lot_number")
    groups: dict[tuple[str, str, bytes], list[LotMember]] = {}
    seen: set[int] = set()
    for fse in fses:
        if fse.billing_number != billing_number:
            raise BillingError(f"FSE {fse.number} belongs to {fse.billing_number}",
                               code="lot_other_professional",
                               message_fr="FSE d'un autre professionnel")
        if fse.number in seen:
            raise BillingError(f"FSE {fse.number} twice", code="lot_duplicate_fse",
                               message_fr="FSE en double")
        if not fse.seal:
            raise BillingError(f"FSE {fse.number} carries no seal", code="lot_seal_missing",
                               message_fr="Sceau logiciel absent")
        seen.add(fse.number)
        dest = fse.payload["destination"]
        groups.setdefault((dest["regime"], dest["caisse"], fse.seal), []).append(fse)
    lots = []
    number = first_lot_number
    for (regime, caisse, _seal), members in sorted(groups.items()):
        members.sort(key=lambda f: f.number)
        for i in range(0, len(members), MAX_FSE_PER_LOT):
            lots.append(make_lot(number, billing_number, regime, caisse,
                                 members[i:i + MAX_FSE_PER_LOT]))
            number += 1
    if lots:
        check_lot_number(number - 1, "lot_number")  # the last one is in range too
    return lots


def lot_payload(lot: Lot, fse_files: list[bytes], *, made_at: int, card: ProfessionalCard,
                situation: Situation) -> dict:
    """The payload of the signed lot file: header, the signer, the FSEs (their signed
    COSE bytes, in the order of ``lot.fse_numbers``) and the end record."""
    if len(fse_files) != len(lot.fse_numbers):
        raise ValueError("one FSE file per FSE number of the lot")
    return {
        "format": LOT_FORMAT,
        "header": {"lot_number": lot.lot_number, "billing_number": lot.billing_number,
                   "regime": lot.regime, "caisse": lot.caisse, "made_at": made_at},
        "signer": {"card_type": card.card_type, "id_type": card.id_type,
                   "national_id": card.national_id, "name": card.name,
                   "first_name": card.first_name, "serial": card.serial,
                   "situation": situation.index,
                   "billing_number": situation.billing_number,
                   "cert_sha256": hashlib.sha256(card.certificate or b"").digest()},
        "fses": list(fse_files),
        "end": lot.end_record(),
    }


def sign_lot(payload: dict, situation: Situation, signer: cose.Signer) -> bytes:
    """The lot file: a COSE_Sign (tag 98) over the deterministic CBOR payload, one RS256
    signature by the CPS (role "cps", its certificate in x5chain)."""
    if not situation.can_sign_lot:
        raise BillingError(f"situation {situation.index} ({situation.billing_number}) is not "
                           "allowed to sign lots", code="ps_lot_not_allowed",
                           message_fr="Carte non habilitée aux lots")
    if situation.billing_number != payload["header"]["billing_number"]:
        raise BillingError("the lot belongs to another billing number than the situation",
                           code="lot_other_professional",
                           message_fr="FSE d'un autre professionnel")
    return cose.sign(cbor_det.encode(payload), LOT_CONTENT_TYPE, [("cps", signer)])


def read_lot(data: bytes, trust: CardAuthorities | None = None) -> dict:
    """Parse a lot file and check its CPS signature (against the certificate it carries,
    and its chain when ``trust`` is given). Returns the payload; raises FseFormatError
    (structure) or FseVerificationError (``lot_bad_signature``, ``lot_wrong_card``)."""
    from datetime import UTC, datetime

    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    msg = cose.parse(data)
    if msg.content_type != LOT_CONTENT_TYPE or len(msg.signatures) != 1:
        raise FseFormatError("not an OpenTLA lot file", code="lot_format")
    payload = cbor_det.decode_deterministic(msg.payload)
    if not isinstance(payload, dict) or payload.get("format") != LOT_FORMAT:
        raise FseFormatError("unknown lot format", code="lot_format")
    sig = msg.signatures[0]
    chain = sig.chain()
    if sig.role != "cps" or sig.alg != cose.ALG_RS256:
        raise FseVerificationError("a lot is signed RS256 by a CPS", code="lot_bad_signature")
    if hashlib.sha256(chain[0]).digest() != payload["signer"]["cert_sha256"]:
        raise FseVerificationError("the certificate is not the signer the lot names",
                                   code="lot_wrong_card")
    if trust is not None:
        leaf = trust.verify_chain(chain, datetime.fromtimestamp(payload["header"]["made_at"], UTC))
    else:
        leaf = x509.load_der_x509_certificate(chain[0])
    key = leaf.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise FseVerificationError("the lot signer's key is not RSA", code="lot_bad_signature")
    try:
        key.verify(sig.signature, msg.to_be_signed(sig), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise FseVerificationError("the lot signature does not verify",
                                   code="lot_bad_signature") from None
    return payload
