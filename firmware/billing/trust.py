"""Certificate chains of the signing cards, checked against a trust store at the
date of signing (RFC 5280 §6.1, reduced to what our test PKI and the card profile
use: issuer/subject chaining, signature, validity period, CA basic constraint).

Verified chains are cached with the window of dates for which they hold (latest
notBefore .. earliest notAfter), so a batch of 10,000 FSEs signed by the same few
cards checks each chain once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

from .errors import FseVerificationError

MAX_DEPTH = 4
_DER = Encoding.DER


def _fail(detail: str, code: str) -> FseVerificationError:
    return FseVerificationError(detail, code=code)


class CardAuthorities:
    """Trust anchors (roots) and known intermediates, plus the chain cache."""

    def __init__(self, roots: Iterable[bytes], intermediates: Iterable[bytes] = ()):
        self._roots = {hashlib.sha256(d).digest(): x509.load_der_x509_certificate(d)
                       for d in roots}
        self._pool: dict[bytes, x509.Certificate] = dict(self._roots)
        for der in intermediates:
            self._pool[hashlib.sha256(der).digest()] = x509.load_der_x509_certificate(der)
        self._certs: dict[bytes, x509.Certificate] = {}
        self._cache: dict[tuple[bytes, ...], tuple[datetime, datetime]] = {}  # DER chain
        self.cache_hits = 0
        self.cache_misses = 0

    def certificate(self, der: bytes) -> x509.Certificate:
        """Parse (once) a DER certificate."""
        cert = self._certs.get(der)
        if cert is None:
            try:
                cert = x509.load_der_x509_certificate(der)
            except ValueError as exc:
                raise _fail(f"bad certificate: {exc}", "cert_invalid") from None
            if len(self._certs) > 4096:
                self._certs.clear()
            self._certs[der] = cert
        return cert

    def verify_chain(self, chain: list[bytes], at: datetime) -> x509.Certificate:
        """Return the leaf certificate if ``chain`` (leaf first, then any
        intermediates) leads to a root of this store and every certificate on the
        path is valid at ``at`` (timezone-aware). Raises FseVerificationError."""
        key = tuple(chain)  # the DER bytes themselves: equal bytes, the same chain
        window = self._cache.get(key)
        leaf = self.certificate(chain[0])
        if window is not None:
            self.cache_hits += 1
            if not window[0] <= at <= window[1]:
                raise _fail("certificate not valid at the date of signing", "cert_expired")
            return leaf
        self.cache_misses += 1
        extra = {hashlib.sha256(d).digest(): self.certificate(d) for d in chain[1:]}
        pool = {**self._pool, **extra}
        path = [leaf]
        current = leaf
        while hashlib.sha256(current.public_bytes(_DER)).digest() not in self._roots:
            if len(path) > MAX_DEPTH:
                raise _fail("chain too long", "cert_untrusted")
            issuer = self._find_issuer(current, pool)
            path.append(issuer)
            current = issuer
        start = max(c.not_valid_before_utc for c in path)
        end = min(c.not_valid_after_utc for c in path)
        if not start <= at <= end:
            raise _fail("certificate not valid at the date of signing", "cert_expired")
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[key] = (start, end)
        return leaf

    def _find_issuer(self, cert: x509.Certificate, pool) -> x509.Certificate:
        for candidate in pool.values():
            if candidate.subject != cert.issuer or candidate is cert:
                continue
            try:
                bc = candidate.extensions.get_extension_for_class(x509.BasicConstraints)
            except x509.ExtensionNotFound:
                continue
            if not bc.value.ca:
                continue
            try:
                cert.verify_directly_issued_by(candidate)
            except (InvalidSignature, ValueError, TypeError):
                continue
            return candidate
        raise _fail("no trusted issuer for " + cert.subject.rfc4514_string(), "cert_untrusted")

