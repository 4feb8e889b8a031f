"""Verification of a stored FSE (office side, and the unit before unloading).

Order of checks (each failure raises FseFormatError or FseVerificationError with a
stable code, see docs/fse.md §Verification):

1. structure: tag 98, COSE_Sign array, deterministic CBOR everywhere (RFC 8949 §4.2.1);
2. payload: deterministic, known format, mode matches the content type;
3. signers per mode: one ``cps``, one ``unit``, one ``vitale`` iff mode is secured;
4. each card signature: x5chain leaf = the certificate whose SHA-256 the payload names,
   chain to a trust anchor valid at ``signed_at``, RS256 signature over Sig_structure
   (:func:`firmware.cardapps.signature.digest_signature_valid`: the rule the unit applies
   before it commits an FSE);
5. unit signature: kid = payload unit_id, Ed25519 key of that paired unit, seal present
   (and among the reference seals when given);
6. habilitation (situation allows FSE signing) and the mode's rules (guarantee, PJ);
7. coherence: care not after signing, totals equal the sums of the lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from firmware.cardapps.signature import digest_signature_valid

from . import cbor_det, cose, modes
from .errors import FseFormatError, FseVerificationError
from .fse import PAYLOAD_FORMAT
from .trust import CardAuthorities


@dataclass(frozen=True)
class VerifiedFse:
    payload: dict
    mode: str
    number: int
    billing_number: str
    unit_id: str
    seal: bytes
    signed_at: datetime


_SIGNERS = frozenset(("cps", "unit"))
_SIGNERS_WITH_VITALE = frozenset(("cps", "unit", "vitale"))


def _bad(detail: str, code: str) -> FseVerificationError:
    return FseVerificationError(detail, code=code)


class FseVerifier:
    """Verifies FSEs against a trust store and the paired units' device keys.

    ``unit_keys`` maps unit id -> raw 32-byte Ed25519 public key.
    ``vitale_trust``: anchors for Vitale certificates when they differ from the
    CPS ones (two PKIs in the field); defaults to ``trust``.
    ``reference_seals``: when given, the unit's seal must be one of them."""

    def __init__(self, trust: CardAuthorities, unit_keys: Mapping[str, bytes],
                 reference_seals: Collection[bytes] | None = None,
                 vitale_trust: CardAuthorities | None = None):
        self.trust = trust
        self.vitale_trust = vitale_trust or trust
        self._unit_keys = {u: Ed25519PublicKey.from_public_bytes(k) for u, k in unit_keys.items()}
        self._seals = None if reference_seals is None else frozenset(reference_seals)
        # leaf certificate DER -> its public key once its chain checked (what every FSE
        # of a card repeats; the chain itself is checked for each FSE against its
        # signing date, through the trust store's window cache)
        self._keys: dict[bytes, rsa.RSAPublicKey] = {}

    def verify(self, data: bytes) -> VerifiedFse:
        msg = cose.parse(data)
        payload = cbor_det.decode_deterministic(msg.payload)
        if not isinstance(payload, dict) or payload.get("format") != PAYLOAD_FORMAT:
            raise FseFormatError("unknown payload format", code="fse_payload")
        try:
            return self._verify(msg, payload)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError, OverflowError,
                OSError) as exc:
            raise FseFormatError(f"payload field missing or mistyped: {exc}",
                                 code="fse_payload") from None

    def _verify(self, msg: cose.ParsedCoseSign, payload: dict) -> VerifiedFse:
        mode = payload["mode"]
        if mode not in modes.MODES:
            raise FseFormatError(f"unknown mode {mode!r}", code="fse_payload")
        rules = modes.rules(mode)
        if msg.content_type != rules.content_type:
            raise _bad("content type does not match the mode", "fse_mode_mismatch")
        signed_at = datetime.fromtimestamp(payload["signed_at"], UTC)
        by_role: dict[str, tuple[cose.ParsedSignature, bytes]] = {}
        for sig, tbs in zip(msg.signatures, msg.to_be_signed_all(), strict=True):
            role = sig.role
            if role in by_role:
                raise _bad(f"two {role} signatures", "fse_signers")
            by_role[role] = (sig, tbs)
        expected = _SIGNERS_WITH_VITALE if rules.vitale_signs else _SIGNERS
        if by_role.keys() != expected:
            raise _bad(f"mode {mode} needs signers {sorted(expected)}", "fse_signers")

        cps = by_role["cps"]
        self._card_signature(*cps, payload["ps"]["cert_sha256"], signed_at, self.trust)
        if rules.vitale_signs:
            vitale = payload["vitale"]
            card = by_role["vitale"]
            if card[0].chain()[0] == cps[0].chain()[0]:
                raise _bad("the same card signed as CPS and as Vitale", "fse_signers")
            self._card_signature(*card, vitale["cert_sha256"], signed_at, self.vitale_trust)
        seal = self._unit_signature(*by_role["unit"], payload["unit_id"])

        if payload["ps"]["situation"]["billing_number"] != payload["billing_number"]:
            raise _bad("FSE billed under another situation", "fse_situation_mismatch")
        if payload["ps"]["situation"]["can_sign_fse"] is not True:
            raise _bad("situation not allowed to sign FSEs", "ps_not_allowed")
        if payload["payment_guarantee"] is not rules.payment_guarantee:
            raise _bad("payment guarantee does not match the mode", "fse_mode_rules")
        if rules.paper_sheet and modes.PJ_PAPER_SHEET not in payload["pj"]:
            raise _bad("degraded FSE must flag the paper sheet", "fse_mode_rules")
        if rules.vitale_data == "typed" and payload["vitale"] is not None:
            raise _bad("degraded FSE carries Vitale data", "fse_mode_rules")
        if rules.vitale_data != "typed" and not payload["vitale"]:
            raise _bad(f"mode {mode} needs Vitale data", "fse_mode_rules")
        if payload["date_of_care"] > signed_at.date().isoformat():
            raise _bad("care dated after the signature", "fse_care_after_signing")
        amounts = payload["amounts"]
        total = amo = amc = 0
        for line in amounts["lines"]:
            total += line["amount_cents"]
            amo += line["amo_cents"]
            amc += line["amc_cents"]
        for name, value in (("total_cents", total), ("amo_cents", amo), ("amc_cents", amc)):
            if value != amounts[name]:
                raise _bad(f"{name} is not the sum of the lines", "fse_amounts")
        if amounts["patient_cents"] != (amounts["total_cents"] - amounts["amo_cents"]
                                        - amounts["amc_cents"]):
            raise _bad("patient part inconsistent", "fse_amounts")
        number = payload["fse_number"]
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise FseFormatError("bad fse_number", code="fse_payload")
        return VerifiedFse(payload, mode, number, payload["billing_number"],
                           payload["unit_id"], seal, signed_at)

    def _card_signature(self, sig: cose.ParsedSignature, tbs: bytes, named: bytes,
                        signed_at: datetime, trust: CardAuthorities) -> None:
        chain = sig.chain()
        der = chain[0]
        if not isinstance(named, bytes) or hashlib.sha256(der).digest() != named:
            raise _bad(f"{sig.role} certificate is not the card named in the payload",
                       "fse_wrong_card")
        if sig.alg != cose.ALG_RS256:
            raise _bad(f"{sig.role}: algorithm {sig.alg} not allowed", "fse_alg")
        leaf = trust.verify_chain(chain, signed_at)  # every FSE: its own signing date
        key = self._keys.get(der)  # only RSA keys are kept
        if key is None:
            leaf_key = leaf.public_key()
            if not isinstance(leaf_key, rsa.RSAPublicKey):
                raise _bad("card key is not RSA", "fse_alg")
            if len(self._keys) > 4096:
                self._keys.clear()
            key = self._keys[der] = leaf_key
        tbs_digest = hashlib.sha256(tbs).digest()
        if not digest_signature_valid(key, tbs_digest, sig.signature):  # the unit's rule too
            raise _bad(f"{sig.role} signature does not verify", "fse_bad_signature")

    def _unit_signature(self, sig: cose.ParsedSignature, tbs: bytes, unit_id: str) -> bytes:
        if sig.alg != cose.ALG_EDDSA:
            raise _bad("unit signature must be EdDSA", "fse_alg")
        kid = sig.protected.get(cose.H_KID)
        if not isinstance(kid, bytes) or kid != unit_id.encode():
            raise _bad("unit kid does not match unit_id", "fse_unit_unknown")
        key = self._unit_keys.get(unit_id)
        if key is None:
            raise _bad(f"unit {unit_id} is not paired", "fse_unit_unknown")
        seal = sig.protected.get(cose.H_SEAL)
        if not isinstance(seal, bytes) or not seal:
            raise _bad("unit signature carries no seal", "fse_seal")
        if self._seals is not None and seal not in self._seals:
            raise _bad("seal differs from the reference seals", "fse_seal")
        try:
            key.verify(sig.signature, tbs)
        except InvalidSignature:
            raise _bad("unit signature does not verify", "fse_bad_signature") from None
        return seal
