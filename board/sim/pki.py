"""A test PKI for emulated cards, built with ``cryptography``.

Hierarchy (all names carry "OpenTLA TEST" so nothing is mistaken for real):
- root CA "OpenTLA Test Root", valid 2020-01-01 .. 2045-12-31
- "OpenTLA Test CA Professionnels" (CPS/CPE/CDE signature keys), 2020-01-01 .. 2040-12-31
- "OpenTLA Test CA Vitale" (Vitale card-authentication keys), 2020-01-01 .. 2040-12-31
- card certificates: from the personalisation's issue date to its valid-until date.

RSA-2048 key generation is slow, so keys are generated once per label and cached
as PEM files under ``var/cache/test-keys/`` (gitignored; override with the
``OPENTLA_KEY_CACHE`` environment variable). Certificates are rebuilt each
process; PKCS#1 v1.5 signatures are deterministic, so same keys give same bytes.

>>> pki = TestPki.create()
>>> authorities = pki.trust_store()   # what an office trusts: root, CPS CA, Vitale CA
"""

from __future__ import annotations

import functools
import os
import tempfile
from datetime import UTC, date, datetime, time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from firmware.billing.trust import CardAuthorities

CA_START = date(2020, 1, 1)
ROOT_END = date(2045, 12, 31)
INTERMEDIATE_END = date(2040, 12, 31)
_REPO = Path(__file__).resolve().parents[2]


def key_cache_dir() -> Path:
    return Path(os.environ.get("OPENTLA_KEY_CACHE", _REPO / "var" / "cache" / "test-keys"))


def cached_key(label: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    """The RSA key named ``label``: loaded from the cache or generated and saved
    atomically (write to a temporary file, then rename)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in label)
    path = key_cache_dir() / f"{safe}-{bits}.pem"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, rsa.RSAPrivateKey) and key.key_size == bits:
            return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.replace(tmp, path)
    return key


def _name(cn: str, serial: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenTLA TEST"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ]
    if serial:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


def _utc(d: date, end: bool = False) -> datetime:
    return datetime.combine(d, time(23, 59, 59) if end else time(0, 0), tzinfo=UTC)


def _serial(label: str) -> int:
    # Deterministic positive 63-bit serial from the label (RFC 5280 §4.1.2.2: <= 20 octets)
    import hashlib

    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big") >> 1 or 1


class TestPki:
    """Root + two intermediates; issues card certificates."""

    __test__ = False  # not a pytest test class

    def __init__(self, bits: int = 2048):
        self.bits = bits
        self._root_key = cached_key("root-ca", bits)
        self.root = self._cert(
            _name("OpenTLA Test Root"), self._root_key, _name("OpenTLA Test Root"),
            self._root_key, CA_START, ROOT_END, ca=True, label="root",
        )
        self._cps_key = cached_key("ca-professionnels", bits)
        self.cps_ca = self._cert(
            _name("OpenTLA Test CA Professionnels"), self._cps_key, self.root.subject,
            self._root_key, CA_START, INTERMEDIATE_END, ca=True, label="ca-ps",
        )
        self._vitale_key = cached_key("ca-vitale", bits)
        self.vitale_ca = self._cert(
            _name("OpenTLA Test CA Vitale"), self._vitale_key, self.root.subject,
            self._root_key, CA_START, INTERMEDIATE_END, ca=True, label="ca-vitale",
        )

    @classmethod
    @functools.cache
    def create(cls, now: datetime | None = None, bits: int = 2048) -> TestPki:
        """The process-wide PKI (``now`` is accepted for API symmetry; the CA
        validity periods are fixed so results do not depend on the clock)."""
        return cls(bits)

    @staticmethod
    def _cert(subject, subject_key, issuer, issuer_key, start, end, *, ca, label,
              eku=None) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(subject_key.public_key())
            .serial_number(_serial(label))
            .not_valid_before(_utc(start))
            .not_valid_after(_utc(end, end=True))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=not ca, content_commitment=not ca, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                    crl_sign=ca, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
        )
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def trust_store(self) -> CardAuthorities:
        """The card authorities an office trusts: this PKI's root, its CPS and Vitale CAs."""
        return CardAuthorities([self.root.public_bytes(serialization.Encoding.DER)],
                               [c.public_bytes(serialization.Encoding.DER) for c in (self.cps_ca, self.vitale_ca)])

    def issue_professional(
        self, name: str, serial: str, start: date, end: date, key_label: str | None = None
    ) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        """Key and certificate for a CPS-family signature key."""
        key = cached_key(key_label or f"ps-{serial}", self.bits)
        cert = self._cert(
            _name(name, serial), key, self.cps_ca.subject, self._cps_key, start, end,
            ca=False, label=f"ps-{serial}", eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
        )
        return key, cert

    def issue_vitale(
        self, holder: str, serial: str, start: date, end: date, key_label: str | None = None
    ) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        """Key and certificate for a Vitale card-authentication key."""
        key = cached_key(key_label or f"vitale-{serial}", self.bits)
        cert = self._cert(
            _name(holder, serial), key, self.vitale_ca.subject, self._vitale_key, start, end,
            ca=False, label=f"vitale-{serial}",
        )
        return key, cert

    def issue_with_foreign_ca(
        self, name: str, serial: str, start: date, end: date
    ) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        """A card certificate from a CA outside the trust store (for negative tests)."""
        rogue_key = cached_key("rogue-ca", self.bits)
        rogue = _name("OpenTLA Test CA Professionnels")  # same name, other key
        key = cached_key(f"rogue-{serial}", self.bits)
        cert = self._cert(
            _name(name, serial), key, rogue, rogue_key, start, end, ca=False,
            label=f"rogue-{serial}",
        )
        return key, cert
