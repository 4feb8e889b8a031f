"""A card's signature checked against the card's own certificate: one rule, one place.

CPS and Vitale 2 cards sign with RSASSA-PKCS1-v1_5 over SHA-256 (RFC 8017 §8.2; COSE
RS256, RFC 8812 §2) under the RSA key of their certificate. Both sides apply this rule
through :func:`digest_signature_valid`:

- the office: :class:`firmware.billing.verify.FseVerifier` checks each card signature
  of an FSE with it;
- the unit: :func:`sign_checked` checks every signature a card hands back before it is
  used (an FSE committed to the store, an unlock proof that wraps or opens the store
  key), and asks the card once more on a mismatch. T=0 has no block check (ISO/IEC
  7816-3 §10): a character corrupted on the line reaches the application unseen, and
  only this check catches it (docs/visit.md §Signing).

The signature is deterministic (RFC 8017 §8.2), so the second answer of a card whose
first answer was corrupted on the line is the good one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from firmware.cardapps.errors import CardAppError, CertificateInvalid

log = logging.getLogger("opentla.cards")

TRIES = 2  # the first answer, and one more on a mismatch


class CardSignatureInvalid(CardAppError):
    """The card's answer does not verify under its certificate, twice in a row (the
    line corrupts it, or the card is faulty)."""

    code = "card_bad_signature"
    message_fr = "Signature carte erronée"


def card_public_key(certificate: bytes | x509.Certificate) -> rsa.RSAPublicKey:
    """The RSA key of a card certificate (DER or parsed). Raises
    :class:`CertificateInvalid` for bytes that are not a certificate or a key that is
    not RSA."""
    try:
        cert = (certificate if isinstance(certificate, x509.Certificate)
                else x509.load_der_x509_certificate(certificate))
        key = cert.public_key()
    except ValueError as exc:
        raise CertificateInvalid(f"card certificate unreadable: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateInvalid("card key is not RSA")
    return key


_PKCS1 = padding.PKCS1v15()
_PREHASHED_SHA256 = Prehashed(hashes.SHA256())


def digest_signature_valid(key: rsa.RSAPublicKey, sha256_digest: bytes,
                           signature: bytes) -> bool:
    """True if ``signature`` is the RSASSA-PKCS1-v1_5 signature under ``key`` of the
    message whose SHA-256 is ``sha256_digest``."""
    try:
        key.verify(signature, sha256_digest, _PKCS1, _PREHASHED_SHA256)
    except InvalidSignature:
        return False
    return True


def sign_checked(sign_digest: Callable[[bytes], bytes], key: rsa.RSAPublicKey,
                 sha256_digest: bytes) -> bytes:
    """Ask the card (``sign_digest``) to sign, check the answer under the card's
    ``key``, ask once more on a mismatch. Returns a signature that verifies, or raises
    :class:`CardSignatureInvalid`. Card errors of ``sign_digest`` pass through."""
    for attempt in range(1, TRIES + 1):
        signature = sign_digest(sha256_digest)
        if digest_signature_valid(key, sha256_digest, signature):
            return signature
        log.warning("card_signature_mismatch attempt=%d", attempt)
    raise CardSignatureInvalid(f"card signature does not verify under its certificate "
                               f"({TRIES} tries)")
