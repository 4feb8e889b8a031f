"""Record sealing and key wrapping for the unit's store (see docs/security.md).

Two ways a record is sealed, both AEAD, both bound to the record's kind and id
(so a ciphertext moved to another row or kind fails to open):

- ``SEALED_TO_UNIT`` (tag 0x01): HPKE base mode, RFC 9180 §6.1 single-shot
  ``SealBase``, suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305,
  to the unit's data public key. Needs no secret, so the office can LOAD while
  the unit is locked. The record context goes into HPKE's ``info``.
- ``SEALED_WITH_RECORD_KEY`` (tag 0x02): ChaCha20-Poly1305 (RFC 8439) under the
  symmetric record key, random 96-bit nonce, record context as associated data.
  Used for what the unit produces in visit (FSEs, Vitale reads): one AEAD call,
  no X25519 operation on the signature path.

The key bundle (data private key + record key) is wrapped twice: under the
unlock key derived from the CPS card's proof (HKDF-SHA256, RFC 5869), and to the
paired office's X25519 public key (HPKE again) for recovery without the CPS.
ChaCha20-Poly1305 is chosen over AES-GCM because the Pi Zero 2 W's Cortex-A53
has no ARMv8 crypto extensions enabled: ChaCha is the faster one there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import StoreError, WrongCardProof

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
SEALED_TO_UNIT = 0x01
SEALED_WITH_RECORD_KEY = 0x02
BUNDLE_VERSION = 0x01
MIN_CARD_PROOF = 32  # bytes; a CPS RSA-2048 signature is 256
CHALLENGE_PREFIX = b"OpenTLA store unlock v1\x00"


class RecordUnreadable(StoreError):
    code = "store_record_unreadable"
    message_fr = "Donnée illisible"


def record_context(kind: str, record_id: str) -> bytes:
    """The bytes every record's AEAD is bound to: format version, kind, id."""
    return b"opentla/store/record/v1\x00" + kind.encode() + b"\x00" + record_id.encode()


def unlock_challenge(unit_id: bytes) -> bytes:
    """The constant the CPS signs (RSASSA-PKCS1-v1_5 is deterministic, RFC 8017
    §8.2) to produce the card proof. Unit-specific so a proof from one unit is
    useless on another."""
    return CHALLENGE_PREFIX + unit_id


def derive_unlock_key(card_proof: bytes, salt: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) of the card proof with the unit's random salt."""
    if len(card_proof) < MIN_CARD_PROOF:
        raise WrongCardProof("card proof too short")
    return HKDF(hashes.SHA256(), 32, salt, b"opentla/store/unlock/v1").derive(card_proof)


@dataclass
class KeyBundle:
    """The unit's secrets: data private key and symmetric record key. Lives in
    RAM only while the store is unlocked."""

    data_private: X25519PrivateKey
    record_key: bytearray

    @classmethod
    def generate(cls) -> KeyBundle:
        return cls(X25519PrivateKey.generate(), bytearray(os.urandom(32)))

    @classmethod
    def from_bytes(cls, raw: bytes) -> KeyBundle:
        if len(raw) != 65 or raw[0] != BUNDLE_VERSION:
            raise RecordUnreadable("bad key bundle")
        return cls(X25519PrivateKey.from_private_bytes(raw[1:33]), bytearray(raw[33:]))

    def to_bytes(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            PrivateFormat,
        )

        priv = self.data_private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return bytes([BUNDLE_VERSION]) + priv + bytes(self.record_key)

    def public_raw(self) -> bytes:
        return public_raw(self.data_private.public_key())

    def wipe(self) -> None:
        """Overwrite the record key in place. (The X25519 key object lives in
        OpenSSL memory, freed when dropped; Python cannot scrub it.)"""
        for i in range(len(self.record_key)):
            self.record_key[i] = 0


def public_raw(key: X25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def seal_to_unit(unit_public: bytes, kind: str, record_id: str, plaintext: bytes) -> bytes:
    pub = X25519PublicKey.from_public_bytes(unit_public)
    ct = SUITE.encrypt(plaintext, pub, info=record_context(kind, record_id))
    return bytes([SEALED_TO_UNIT]) + ct


def seal_with_record_key(record_key: bytes | bytearray, kind: str, record_id: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(12)
    ct = ChaCha20Poly1305(bytes(record_key)).encrypt(nonce, plaintext, record_context(kind, record_id))
    return bytes([SEALED_WITH_RECORD_KEY]) + nonce + ct


def open_record(bundle: KeyBundle, kind: str, record_id: str, envelope: bytes) -> bytes:
    """Open either kind of envelope; raise :class:`RecordUnreadable` on any
    tampering, wrong key or wrong (kind, id)."""
    ctx = record_context(kind, record_id)
    try:
        if envelope[:1] == bytes([SEALED_TO_UNIT]):
            return SUITE.decrypt(envelope[1:], bundle.data_private, info=ctx)
        if envelope[:1] == bytes([SEALED_WITH_RECORD_KEY]) and len(envelope) >= 29:
            aead = ChaCha20Poly1305(bytes(bundle.record_key))
            return aead.decrypt(envelope[1:13], envelope[13:], ctx)
    except (InvalidTag, ValueError) as exc:
        raise RecordUnreadable(f"{kind} record does not open") from exc
    raise RecordUnreadable(f"{kind} record has an unknown envelope")


def wrap_for_card(bundle: KeyBundle, unlock_key: bytes, unit_id: bytes) -> bytes:
    nonce = os.urandom(12)
    aad = b"opentla/store/card-wrap/v1\x00" + unit_id
    return nonce + ChaCha20Poly1305(unlock_key).encrypt(nonce, bundle.to_bytes(), aad)


def unwrap_for_card(wrapped: bytes, unlock_key: bytes, unit_id: bytes) -> KeyBundle:
    aad = b"opentla/store/card-wrap/v1\x00" + unit_id
    try:
        raw = ChaCha20Poly1305(unlock_key).decrypt(wrapped[:12], wrapped[12:], aad)
    except (InvalidTag, ValueError) as exc:
        raise WrongCardProof("card proof does not open the key wrap") from exc
    return KeyBundle.from_bytes(raw)


def seal_for_office(bundle: KeyBundle, office_public: bytes, unit_id: bytes) -> bytes:
    pub = X25519PublicKey.from_public_bytes(office_public)
    return SUITE.encrypt(bundle.to_bytes(), pub, info=b"opentla/store/office-wrap/v1\x00" + unit_id)


def open_for_office(sealed: bytes, office_private: X25519PrivateKey, unit_id: bytes) -> KeyBundle:
    try:
        raw = SUITE.decrypt(sealed, office_private, info=b"opentla/store/office-wrap/v1\x00" + unit_id)
    except (InvalidTag, ValueError) as exc:
        raise WrongCardProof("office key does not open this unit's key wrap",
                             code="store_wrong_office_key",
                             message_fr="Clé cabinet incorrecte") from exc
    return KeyBundle.from_bytes(raw)
