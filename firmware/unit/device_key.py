"""The unit's own Ed25519 key: it adds the unit's signature (with the firmware
seal) to every FSE (docs/fse.md, role "unit").

Decision (docs/visit.md §Device key): the key lives in its own file, PKCS#8 PEM,
permissions 0600, next to the store, NOT inside the store. The store's records
are sealed under a key bundle that only the CPS opens; the device key is not
patient data and must also be usable to answer the office while the unit is
locked (its public half is given at pairing). Creation is atomic: written to a
temporary file opened with O_EXCL and mode 0600, fsynced, then renamed into
place and the directory fsynced, so a power cut leaves either no key or a whole
key. A key file readable by group or others is refused (``device_key_perms``),
as is a file that is not an Ed25519 private key (``device_key_invalid``).
"""

from __future__ import annotations

import os
import stat

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware.errors import TlaError


class DeviceKeyError(TlaError):
    code = "device_key_invalid"
    message_fr = "Clé terminal invalide"


def _fsync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load(path: str) -> Ed25519PrivateKey:
    mode = os.stat(path).st_mode
    if stat.S_IMODE(mode) & 0o077:
        raise DeviceKeyError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o})",
                             code="device_key_perms")
    with open(path, "rb") as f:
        data = f.read()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise DeviceKeyError(f"{path}: not a private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise DeviceKeyError(f"{path}: not an Ed25519 key")
    return key


def load_or_create(path: str) -> Ed25519PrivateKey:
    """The device key at ``path``, generated at first start."""
    if os.path.exists(path):
        return _load(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path)
    return key


def public_raw(key: Ed25519PrivateKey) -> bytes:
    """The 32-byte raw public key (RFC 8032 §5.1.5), as the office's verifier wants it."""
    return key.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)
