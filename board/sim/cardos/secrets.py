"""What the emulated card keeps secret: PIN with try counters and private keys.

Nothing here gives a secret back: a PIN can only be compared, a key can only sign.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils


class PinState:
    """A PIN (reference data) with its retry counter and its unblocking code.

    Counters are persistent: they live in this object, which outlives power_on().
    """

    def __init__(self, pin_block: bytes, puk: bytes, pin_tries: int = 3, puk_tries: int = 10):
        self._pin = bytes(pin_block)
        self._puk = bytes(puk)
        self.pin_max = pin_tries
        self.puk_max = puk_tries
        self.pin_left = pin_tries
        self.puk_left = puk_tries

    @property
    def blocked(self) -> bool:
        return self.pin_left == 0

    @property
    def dead(self) -> bool:
        return self.puk_left == 0

    def check_pin(self, candidate: bytes) -> bool:
        """Compare in constant time; count the try (ISO 7816-4 §11.5.6)."""
        ok = hmac.compare_digest(candidate, self._pin)
        self.pin_left = self.pin_max if ok else self.pin_left - 1
        return ok

    def check_puk(self, candidate: bytes) -> bool:
        ok = hmac.compare_digest(candidate, self._puk)
        self.puk_left = self.puk_max if ok else self.puk_left - 1
        return ok

    def set_pin(self, pin_block: bytes) -> None:
        self._pin = bytes(pin_block)
        self.pin_left = self.pin_max


class KeySlot:
    """An RSA private key that can sign and do nothing else."""

    __slots__ = ("_sign", "key_bits")

    def __init__(self, key: rsa.RSAPrivateKey):
        self.key_bits = key.key_size

        def sign(data: bytes, *, prehashed: bool) -> bytes:
            algo = utils.Prehashed(hashes.SHA256()) if prehashed else hashes.SHA256()
            return key.sign(data, padding.PKCS1v15(), algo)

        self._sign = sign

    def sign_sha256(self, message: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256 over ``message`` (RFC 8017 §8.2.1)."""
        return self._sign(message, prehashed=False)

    def sign_digest(self, digest: bytes) -> bytes:
        """Same signature, given SHA-256(message) instead of the message."""
        return self._sign(digest, prehashed=True)
