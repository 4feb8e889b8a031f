"""Office signatures on loaded records (docs/security.md, "Loaded records").

The office signs every record it loads with its paired Ed25519 identity key
(RFC 8032 §5.1.6) over :func:`load_message`: a domain-separation label, then
length-prefixed fields (4-byte big-endian lengths, so no two field lists give the
same bytes) binding the unit, the kind, the record id, the professional id and
SHA-256 of the payload. The unit checks it at load against the session's paired
host, and again at every read against the office keys it trusts
(:class:`TrustedOffices`, authenticated with a key derived from the card-wrapped
key bundle, so an SD-card attacker can neither forge nor extend the list).
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import StoreError, StoreUsageError

LOAD_LABEL = b"opentla/load-signature/v1\x00"
OFFICES_LABEL = b"opentla/store/trusted-offices/v1\x00"
KEY_LEN = 32
SIG_LEN = 64


class BadOfficeSignature(StoreUsageError):
    """A loaded record's office signature is missing, malformed or does not verify."""

    code = "store_bad_office_signature"
    message_fr = "Donnée non signée par le cabinet"


class UnsignedRecord(StoreError):
    """A record stored before office signatures existed (schema v1): reload it."""

    code = "store_record_unsigned"
    message_fr = "Donnée à recharger depuis le cabinet"


class UntrustedOffice(StoreError):
    """A record signed by a key that is not in the unit's trusted office list."""

    code = "store_untrusted_office"
    message_fr = "Cabinet non reconnu"


class OfficeListTampered(StoreError):
    """The trusted office list on the medium fails its authentication tag."""

    code = "store_office_list_tampered"
    message_fr = "Mémoire modifiée : appairer"


def _lp(field: bytes) -> bytes:
    return struct.pack(">I", len(field)) + field


def load_message(unit_id: bytes, kind: str, record_id: str, professional_id: str | None,
                 payload: bytes) -> bytes:
    """The exact bytes the office signs for one loaded record."""
    prof = b"" if professional_id is None else professional_id.encode()
    return LOAD_LABEL + b"".join(_lp(f) for f in (
        unit_id, kind.encode(), record_id.encode(), prof, hashlib.sha256(payload).digest()))


def sign_load(private: Ed25519PrivateKey, unit_id: bytes, kind: str, record_id: str,
              professional_id: str | None, payload: bytes) -> bytes:
    """The office side: the 64-byte Ed25519 signature of :func:`load_message`."""
    return private.sign(load_message(unit_id, kind, record_id, professional_id, payload))


def verify_load(signer: bytes, signature: bytes, unit_id: bytes, kind: str, record_id: str,
                professional_id: str | None, payload: bytes) -> None:
    """Raise :class:`BadOfficeSignature` unless ``signature`` is ``signer``'s."""
    if not isinstance(signature, bytes) or len(signature) != SIG_LEN:
        raise BadOfficeSignature(f"{kind} {record_id}: office signature missing or malformed")
    if not isinstance(signer, bytes) or len(signer) != KEY_LEN:
        raise BadOfficeSignature(f"{kind} {record_id}: bad signer key")
    try:
        Ed25519PublicKey.from_public_bytes(signer).verify(
            signature, load_message(unit_id, kind, record_id, professional_id, payload))
    except (InvalidSignature, ValueError):
        raise BadOfficeSignature(f"{kind} {record_id}: office signature does not verify") from None


class TrustedOffices:
    """The office Ed25519 keys the unit trusts, as stored in ``meta``: the
    concatenated 32-byte keys and an HMAC-SHA256 (RFC 2104) tag under a key
    derived (HKDF-SHA256, RFC 5869) from the bundle's secret record key. Writing
    or checking the list needs the unlocked bundle; reading it is then free."""

    @staticmethod
    def _mac_key(record_key: bytes | bytearray) -> bytes:
        return HKDF(hashes.SHA256(), 32, None, OFFICES_LABEL).derive(bytes(record_key))

    @classmethod
    def tag(cls, record_key: bytes | bytearray, unit_id: bytes, keys: bytes) -> bytes:
        return hmac.new(cls._mac_key(record_key), OFFICES_LABEL + _lp(unit_id) + _lp(keys),
                        hashlib.sha256).digest()

    @classmethod
    def open(cls, record_key: bytes | bytearray, unit_id: bytes, keys: bytes | None,
             tag: bytes | None) -> frozenset[bytes]:
        """The trusted keys, or :class:`OfficeListTampered` if the tag fails."""
        if keys is None and tag is None:
            return frozenset()
        if keys is None or tag is None or len(keys) % KEY_LEN or not hmac.compare_digest(
                cls.tag(record_key, unit_id, keys), tag):
            raise OfficeListTampered("trusted office list fails its tag")
        return frozenset(keys[i:i + KEY_LEN] for i in range(0, len(keys), KEY_LEN))

    @staticmethod
    def pack(keys: frozenset[bytes]) -> bytes:
        return b"".join(sorted(keys))
