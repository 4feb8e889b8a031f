"""Long-term keys, transcripts and derivations shared by the unit and the office PC.

Each side keeps an Ed25519 identity key (RFC 8032) and an X25519 key-agreement key
(RFC 7748). Pairing and every session bind both identities and both fresh nonces in a
transcript; each side signs the transcript under its own label, so a signature made
for one role, one purpose or one exchange is useless anywhere else. The exact bytes
are documented in ``docs/protocol.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_SIZE = 32
NONCE_SIZE = 16
SIGNATURE_SIZE = 64
CODE_DIGITS = 6

PAIR_CONTEXT = b"OpenTLA pairing v1"
SESSION_CONTEXT = b"OpenTLA session v1"
LABEL_PAIR_UNIT = b"OpenTLA pairing v1 unit"
LABEL_PAIR_HOST = b"OpenTLA pairing v1 host"
LABEL_SESSION_UNIT = b"OpenTLA session v1 unit"
LABEL_SESSION_HOST = b"OpenTLA session v1 host"
INFO_CODE = b"OpenTLA pairing code v1"
COMMIT_CONTEXT = b"OpenTLA pairing commit v1"
INFO_SESSION_KEY = b"OpenTLA session key v1"
KEY_CONFIRM_HOST = b"OpenTLA key confirmation v1 host"

RandomSource = Callable[[int], bytes]


@dataclass(frozen=True)
class Identity:
    """One side's long-term keys (private halves)."""

    sign_key: Ed25519PrivateKey
    kx_key: X25519PrivateKey

    @classmethod
    def generate(cls) -> Identity:
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    @classmethod
    def from_raw(cls, sign_private: bytes, kx_private: bytes) -> Identity:
        return cls(
            Ed25519PrivateKey.from_private_bytes(sign_private),
            X25519PrivateKey.from_private_bytes(kx_private),
        )

    def raw_private(self) -> tuple[bytes, bytes]:
        return self.sign_key.private_bytes_raw(), self.kx_key.private_bytes_raw()

    @property
    def id(self) -> bytes:
        """The public identity: the raw 32-byte Ed25519 public key."""
        return self.sign_key.public_key().public_bytes_raw()

    @property
    def kx_public(self) -> bytes:
        return self.kx_key.public_key().public_bytes_raw()

    def sign(self, label: bytes, transcript: bytes) -> bytes:
        return self.sign_key.sign(label + b"\x00" + transcript)

    def shared_secret(self, peer_kx_public: bytes) -> bytes:
        """X25519(own private, peer public); raises ValueError on a bad peer key."""
        secret = self.kx_key.exchange(X25519PublicKey.from_public_bytes(peer_kx_public))
        if secret == bytes(KEY_SIZE):  # RFC 7748 §6.1: reject the all-zero output
            raise ValueError("X25519 produced the all-zero secret (low-order peer key)")
        return secret


def verify(public_id: bytes, label: bytes, transcript: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``public_id``'s Ed25519 signature of label+transcript."""
    try:
        Ed25519PublicKey.from_public_bytes(public_id).verify(
            signature, label + b"\x00" + transcript
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def pairing_transcript(uid: bytes, ukx: bytes, hid: bytes, hkx: bytes, un: bytes, hn: bytes) -> bytes:
    """All fields have fixed sizes, so plain concatenation is unambiguous."""
    return PAIR_CONTEXT + uid + ukx + hid + hkx + un + hn


def pairing_commitment(hid: bytes, hkx: bytes, hn: bytes) -> bytes:
    """SHA-256 commitment the host sends instead of its nonce in PAIR_BEGIN.

    The nonce is revealed only after the unit has chosen ``un``, so whoever answers
    the host (the unit, or a man in the middle) fixes ``un`` before knowing ``hn`` and
    cannot search for a ``un`` that makes the two screens' codes agree: each MITM try
    then matches with probability 10^-6 (the commit-then-reveal of Bluetooth's
    numeric comparison, Core spec Vol 3 Part H §2.3.5.6.2).
    """
    return hashlib.sha256(COMMIT_CONTEXT + hid + hkx + hn).digest()


def session_transcript(uid: bytes, hid: bytes, un: bytes, hn: bytes) -> bytes:
    return SESSION_CONTEXT + uid + hid + un + hn


def _hkdf(secret: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def pairing_code(shared: bytes, transcript: bytes) -> str:
    """The 6-digit code both screens show (HKDF-SHA256, RFC 5869, over X25519 + transcript).

    A man in the middle must swap keys, which changes the X25519 secret and the
    transcript on each side, so the two screens disagree (numeric comparison).
    """
    salt = hashlib.sha256(transcript).digest()
    value = int.from_bytes(_hkdf(shared, salt, INFO_CODE, 8), "big")
    return f"{value % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def session_key(shared: bytes, transcript: bytes) -> bytes:
    """32-byte key of one session, for payload protection by the data groups."""
    return _hkdf(shared, hashlib.sha256(transcript).digest(), INFO_SESSION_KEY, 32)


def key_confirmation(key: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104) proving the host derived the same session key."""
    return hmac.new(key, KEY_CONFIRM_HOST, hashlib.sha256).digest()


# ---- the unit's list of paired hosts ------------------------------------------------
@dataclass(frozen=True)
class PairedHost:
    host_id: bytes  # Ed25519 public key
    kx_public: bytes  # X25519 public key
    name: str


class PairedHosts(Protocol):
    """Where the unit keeps the hosts it is paired with."""

    def get(self, host_id: bytes) -> PairedHost | None: ...

    def add(self, host: PairedHost) -> None: ...


class MemoryPairedHosts:
    """Paired hosts in memory (tests, demos)."""

    def __init__(self) -> None:
        self._hosts: dict[bytes, PairedHost] = {}

    def get(self, host_id: bytes) -> PairedHost | None:
        return self._hosts.get(host_id)

    def add(self, host: PairedHost) -> None:
        self._hosts[host.host_id] = host


class JsonPairedHosts:
    """Paired hosts in a JSON file, replaced atomically (write, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _load(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text(encoding="utf-8"))

    def get(self, host_id: bytes) -> PairedHost | None:
        entry = self._load().get(host_id.hex())
        if entry is None:
            return None
        return PairedHost(host_id, bytes.fromhex(entry["kx_public"]), entry["name"])

    def add(self, host: PairedHost) -> None:
        hosts = self._load()
        entry = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in asdict(host).items()}
        hosts[host.host_id.hex()] = entry
        write_atomically(self.path, json.dumps(hosts, indent=1, sort_keys=True).encode())


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # O_NOFOLLOW: a planted symlink is not followed; fchmod: a stale temporary file
    # with wider permissions (O_CREAT keeps an existing file's mode) gets ``mode``.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
