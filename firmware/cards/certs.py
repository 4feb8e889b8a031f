"""Certificate checks for card keys: chain to a trust store and validity at the
date of use (RFC 5280 §6.1, simplified to the path the test PKI issues:
root -> intermediate -> card; no revocation, no name constraints).

The firmware and the office tools both call :func:`verify_chain`; the office
tools' trust store is :meth:`board.sim.pki.TestPki.trust_store` in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from firmware.cards.errors import CertificateInvalid

MAX_DEPTH = 4


class CertificateExpired(CertificateInvalid):
    code = "card_cert_expired"
    message_fr = "Certificat carte expiré"


class CertificateUntrusted(CertificateInvalid):
    code = "card_cert_untrusted"
    message_fr = "Certificat carte inconnu"


@dataclass(frozen=True)
class TrustStore:
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = field(default_factory=tuple)


def load_certificate(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateInvalid(f"not a DER certificate: {exc}") from exc


def _as_datetime(at: date | datetime) -> datetime:
    if isinstance(at, datetime):
        return at if at.tzinfo else at.replace(tzinfo=UTC)
    return datetime.combine(at, time(12, 0), tzinfo=UTC)


def _check_time(cert: x509.Certificate, at: datetime) -> None:
    # RFC 5280 §6.1.3 (a)(2): the certificate validity period includes the current time
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise CertificateExpired(
            f"{cert.subject.rfc4514_string()} valid {cert.not_valid_before_utc:%Y-%m-%d}"
            f"..{cert.not_valid_after_utc:%Y-%m-%d}, used {at:%Y-%m-%d}"
        )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _find_issuer(cert: x509.Certificate, candidates: list[x509.Certificate]):
    for cand in candidates:
        if cand.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(cand)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return cand
    return None


def verify_chain(
    leaf: bytes | x509.Certificate, store: TrustStore, at: date | datetime
) -> list[x509.Certificate]:
    """Return the path [leaf, ..., root] or raise CertificateInvalid /
    CertificateExpired / CertificateUntrusted."""
    cert = load_certificate(leaf) if isinstance(leaf, bytes | bytearray) else leaf
    when = _as_datetime(at)
    path = [cert]
    roots = list(store.roots)
    pool = list(store.intermediates) + roots
    for _ in range(MAX_DEPTH):
        _check_time(cert, when)
        if cert in roots:
            return path
        issuer = _find_issuer(cert, pool)
        if issuer is None:
            raise CertificateUntrusted(f"no trusted issuer for {cert.subject.rfc4514_string()}")
        if not _is_ca(issuer):
            raise CertificateInvalid(f"{issuer.subject.rfc4514_string()} is not a CA")
        path.append(issuer)
        cert = issuer
    raise CertificateUntrusted("certificate path too long")
