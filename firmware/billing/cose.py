"""COSE_Sign (RFC 9052 §4.1, CBOR tag 98) with several signers, and the signer interface
the card readers satisfy.

Header labels used (RFC 9052 §3.1, RFC 9360 §2, private range RFC 9052 §16.2):

====== ============ ============================================================
label  name         where
====== ============ ============================================================
1      alg          each signature's protected header (-257 RS256, -8 EdDSA)
3      content type body protected header: ``application/vnd.opentla.fse.<mode>+cbor``
4      kid          unit signature: the unit id (UTF-8 bytes)
33     x5chain      card signatures: leaf certificate (bstr) or [leaf, intermediates...]
-65537 role         each signature's protected header: "cps", "vitale" or "unit"
-65538 seal         unit signature's protected header: firmware seal (bstr)
-65539 fw version   unit signature's protected header: firmware version (text), when known
====== ============ ============================================================
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import NamedTuple, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import cbor_det
from .errors import FseFormatError

TAG_COSE_SIGN = 98
TAG_PREFIX = b"\xd8\x62"  # major type 6, 1-byte argument 98 (RFC 8949 §3.4)
ALG_RS256 = -257  # RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8812 §2)
ALG_EDDSA = -8  # EdDSA (RFC 9053 §2.2), Ed25519 here
H_ALG = 1
H_CONTENT_TYPE = 3
H_KID = 4
H_X5CHAIN = 33
H_ROLE = -65537
H_SEAL = -65538
H_FIRMWARE_VERSION = -65539
ROLES = ("cps", "vitale", "unit")


@runtime_checkable
class Signer(Protocol):
    """What signs one COSE signature. Card readers provide it for CPS and Vitale."""

    certificate: bytes  # DER X.509 (b"" for the unit's own key)
    alg: int  # COSE algorithm id

    def sign(self, to_be_signed: bytes) -> bytes: ...


class CardSigner:
    """Adapter for a card that signs a SHA-256 digest (PSO:COMPUTE DIGITAL SIGNATURE
    over a DigestInfo, PKCS#1 v1.5): ``sign_digest(sha256(Sig_structure))``."""

    alg = ALG_RS256

    def __init__(self, certificate: bytes, sign_digest: Callable[[bytes], bytes]):
        self.certificate = certificate
        self._sign_digest = sign_digest

    def sign(self, to_be_signed: bytes) -> bytes:
        return self._sign_digest(hashlib.sha256(to_be_signed).digest())


class DeviceSigner:
    """The unit's own Ed25519 key (software). ``seal`` is the firmware seal of the
    running slot and ``version`` its version number ("" when unknown); both go into
    this signature's protected header, so the office can compare the seal with the
    reference seal of that version (docs/lots.md §Seal check)."""

    alg = ALG_EDDSA
    certificate = b""

    def __init__(self, unit_id: str, private_key: Ed25519PrivateKey, seal: bytes,
                 version: str = ""):
        self.unit_id = unit_id
        self.seal = seal
        self.version = version
        self._key = private_key

    def public_bytes(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, to_be_signed: bytes) -> bytes:
        return self._key.sign(to_be_signed)


_SIG_STRUCTURE_HEAD = b"\x85\x69Signature"  # array(5), text(9) "Signature"


def _bstr_head(n: int) -> bytes:
    """The head of a CBOR byte string of ``n`` bytes, shortest argument (RFC 8949 §3,
    §4.2.1)."""
    if n < 24:
        return bytes((0x40 | n,))
    if n < 0x100:
        return bytes((0x58, n))
    if n < 0x10000:
        return bytes((0x59, n >> 8, n & 0xFF))
    for first, size in ((0x5A, 4), (0x5B, 8)):
        if n < 1 << (8 * size):
            return bytes((first,)) + n.to_bytes(size, "big")
    raise ValueError("byte string too long for CBOR")


def sig_structure(body_protected: bytes, sign_protected: bytes, payload: bytes) -> bytes:
    """ToBeSigned of RFC 9052 §4.4: ["Signature", body_protected, sign_protected,
    external_aad = h'', payload], deterministically encoded (written out directly: the
    batch verifier builds three per FSE; tests/billing check it against cbor_det)."""
    return b"".join((_SIG_STRUCTURE_HEAD, _bstr_head(len(body_protected)), body_protected,
                     _bstr_head(len(sign_protected)), sign_protected, b"\x40",
                     _bstr_head(len(payload)), payload))


def signer_protected(role: str, signer: Signer) -> bytes:
    header: dict = {H_ALG: signer.alg, H_ROLE: role}
    if role == "unit":
        header[H_KID] = signer.unit_id.encode()  # type: ignore[attr-defined]
        header[H_SEAL] = signer.seal  # type: ignore[attr-defined]
        if getattr(signer, "version", ""):
            header[H_FIRMWARE_VERSION] = signer.version  # type: ignore[attr-defined]
    else:
        header[H_X5CHAIN] = signer.certificate
    return cbor_det.encode(header)


def sign(payload: bytes, content_type: str, signers: list[tuple[str, Signer]]) -> bytes:
    """Build the tagged COSE_Sign with one signature per (role, signer)."""
    body_protected = cbor_det.encode({H_CONTENT_TYPE: content_type})
    signatures = []
    for role, signer in signers:
        prot = signer_protected(role, signer)
        sig = signer.sign(sig_structure(body_protected, prot, payload))
        signatures.append([prot, {}, sig])
    body = cbor_det.encode([body_protected, {}, payload, signatures])
    return TAG_PREFIX + body


class ParsedSignature(NamedTuple):  # a NamedTuple: three per FSE in a batch verify
    protected_bytes: bytes
    protected: dict
    signature: bytes

    @property
    def role(self) -> str:
        return self.protected.get(H_ROLE, "")

    @property
    def alg(self) -> int:
        return self.protected.get(H_ALG, 0)

    def chain(self) -> list[bytes]:
        """x5chain as a list of DER certificates (RFC 9360 §2: one bstr or an array)."""
        value = self.protected.get(H_X5CHAIN)
        if isinstance(value, bytes):
            return [value]
        if isinstance(value, list) and value and all(isinstance(c, bytes) for c in value):
            return list(value)
        raise FseFormatError("missing or bad x5chain", code="cose_x5chain")


class ParsedCoseSign(NamedTuple):
    body_protected_bytes: bytes
    content_type: str
    payload: bytes
    signatures: tuple[ParsedSignature, ...]

    def to_be_signed(self, sig: ParsedSignature) -> bytes:
        return sig_structure(self.body_protected_bytes, sig.protected_bytes, self.payload)

    def to_be_signed_all(self) -> tuple[bytes, ...]:
        """:meth:`to_be_signed` of each signature, in order."""
        return tuple(self.to_be_signed(sig) for sig in self.signatures)


def _fmt(detail: str, code: str = "cose_structure") -> FseFormatError:
    return FseFormatError(detail, code=code)


_HEADERS: dict[bytes, dict] = {}  # protected header bytes -> decoded map (same per card)


def _header(data: bytes) -> object:
    """A protected header, decoded and proven deterministic once per distinct bytes
    (every FSE of one card or unit carries the same ones); callers get their own copy."""
    known = _HEADERS.get(data)
    if known is not None:
        return dict(known)
    value = cbor_det.decode_deterministic(data)
    if isinstance(value, dict) and len(_HEADERS) < 256:
        _HEADERS[data] = dict(value)
    return value


def parse(data: bytes) -> ParsedCoseSign:
    """Parse and structure-check a tagged COSE_Sign whose own encoding is deterministic."""
    if data[:2] != TAG_PREFIX:
        raise _fmt("not a COSE_Sign (tag 98)", "cose_tag")
    body = cbor_det.decode_deterministic(data[2:])
    if not (isinstance(body, list) and len(body) == 4):
        raise _fmt("COSE_Sign must be an array of 4")
    body_prot, unprot, payload, sigs = body
    if not isinstance(body_prot, bytes) or unprot != {} or not isinstance(payload, bytes):
        raise _fmt("bad COSE_Sign headers or payload")
    prot = _header(body_prot)
    if not isinstance(prot, dict) or not isinstance(prot.get(H_CONTENT_TYPE), str):
        raise _fmt("body protected header needs a content type")
    if set(prot) != {H_CONTENT_TYPE}:
        raise _fmt("unexpected body header")
    if not isinstance(sigs, list) or not 1 <= len(sigs) <= 3:
        raise _fmt("COSE_Sign needs 1 to 3 signatures")
    parsed = []
    for s in sigs:
        if not (isinstance(s, list) and len(s) == 3 and isinstance(s[0], bytes)):
            raise _fmt("bad COSE_Signature")
        if s[1] != {} or not isinstance(s[2], bytes):
            raise _fmt("bad COSE_Signature")
        sp = _header(s[0])
        if not isinstance(sp, dict) or sp.get(H_ROLE) not in ROLES:
            raise _fmt("signature without a known role")
        parsed.append(ParsedSignature(s[0], sp, s[2]))
    return ParsedCoseSign(body_prot, prot[H_CONTENT_TYPE], payload, tuple(parsed))
