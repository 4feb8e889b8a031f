"""Fixtures for the billing tests: a small test PKI built with `cryptography`
(independent of board/sim/pki.py), card domain objects and signers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from firmware.billing.checks import CheckContext
from firmware.billing.cose import CardSigner, DeviceSigner
from firmware.billing.tariffs import TariffTable
from firmware.billing.trust import CardAuthorities
from firmware.cardapps.model import (
    Beneficiary,
    PartialDate,
    ProfessionalCard,
    RightsPeriod,
    Situation,
    VitaleCard,
)

TODAY = date(2026, 3, 10)
SIGNED_AT = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
SEAL = bytes(range(32))  # a stand-in firmware seal (SHA-256 sized)
UNIT_ID = "TLA-0001"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, key, issuer, issuer_key, start, end, ca: bool):
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _dt(y, m, d):
    return datetime(y, m, d, tzinfo=UTC)


@dataclass
class Pki:
    root: bytes
    intermediate: bytes
    cps_key: rsa.RSAPrivateKey
    cps_cert: bytes
    vitale_key: rsa.RSAPrivateKey
    vitale_cert: bytes
    other_cps_key: rsa.RSAPrivateKey
    other_cps_cert: bytes
    expired_cps_cert: bytes  # same CPS key, validity ended 2025-06-30
    rogue_cps_key: rsa.RSAPrivateKey
    rogue_cps_cert: bytes  # chains to a root that is not in the trust store
    device_key: Ed25519PrivateKey

    def trust(self) -> CardAuthorities:
        return CardAuthorities([self.root], [self.intermediate])


@pytest.fixture(scope="session")
def pki() -> Pki:
    root_key = ec.generate_private_key(ec.SECP256R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    rogue_root_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("Test Root CA", root_key, "Test Root CA", root_key,
                 _dt(2020, 1, 1), _dt(2040, 1, 1), True)
    inter = _cert("Test Card CA", inter_key, "Test Root CA", root_key,
                  _dt(2020, 1, 1), _dt(2035, 1, 1), True)
    cps_key, vit_key, other_key, rogue_key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(4))

    def leaf(cn, key, start, end, issuer="Test Card CA", ikey=inter_key):
        return _cert(cn, key, issuer, ikey, start, end, False)

    return Pki(
        root=root,
        intermediate=inter,
        cps_key=cps_key,
        cps_cert=leaf("CPS 810001234567", cps_key, _dt(2024, 1, 1), _dt(2028, 12, 31)),
        vitale_key=vit_key,
        vitale_cert=leaf("Vitale 0123456789", vit_key, _dt(2024, 1, 1), _dt(2030, 12, 31)),
        other_cps_key=other_key,
        other_cps_cert=leaf("CPS 810009999999", other_key, _dt(2024, 1, 1), _dt(2028, 12, 31)),
        expired_cps_cert=leaf("CPS 810001234567", cps_key, _dt(2020, 1, 1), _dt(2025, 6, 30)),
        rogue_cps_key=rogue_key,
        rogue_cps_cert=_cert("CPS rogue", rogue_key, "Rogue Root", rogue_root_key,
                             _dt(2024, 1, 1), _dt(2028, 1, 1), False),
        device_key=Ed25519PrivateKey.generate(),
    )


def card_signer(cert: bytes, key: rsa.RSAPrivateKey) -> CardSigner:
    """What the card does: PKCS#1 v1.5 signature of a SHA-256 DigestInfo."""

    def sign_digest(digest: bytes) -> bytes:
        assert len(digest) == 32
        return key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))

    return CardSigner(cert, sign_digest)


def device_signer(pki: Pki, seal: bytes = SEAL) -> DeviceSigner:
    return DeviceSigner(UNIT_ID, pki.device_key, seal)


def device_public(pki: Pki) -> bytes:
    return pki.device_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# ---- card domain objects -----------------------------------------------------
def situation(profession="60", billing="123456789", can_sign_fse=True, can_sign_lot=True):
    return Situation(index=0, billing_number=billing, profession=profession, specialty="00",
                     convention_sector="1", tariff_zone="30", can_sign_fse=can_sign_fse,
                     can_sign_lot=can_sign_lot)


def ps_card(sit: Situation, card_type="CPS", valid_until=date(2028, 12, 31)):
    return ProfessionalCard(card_type=card_type, id_type="8", national_id="810001234567",
                            name="MARTIN", first_name="CLAIRE", serial="CPS0001",
                            valid_until=valid_until, situations=(sit,))


OPEN_RIGHTS = (RightsPeriod(date(2025, 1, 1), None),)
HOLDER_BIRTH = PartialDate(1980, 1, 15)


def beneficiary(index=0, rights=OPEN_RIGHTS, nir="1800175123456", key="42",
                rank=1, birth=HOLDER_BIRTH, name="DUPONT", first="JEAN"):
    return Beneficiary(index=index, name=name, first_name=first, birth_date=birth,
                       birth_rank=rank, quality="00" if index == 0 else "06", nir=nir,
                       nir_key=key, regime="01", caisse="341", centre="0000", rights=rights)


def vitale(*bens, serial="0123456789", valid_until=None, cert=None):
    return VitaleCard(serial=serial, variant="vitale2", valid_until=valid_until,
                      holder_nir=bens[0].nir, beneficiaries=tuple(bens), certificate=cert)


@pytest.fixture(scope="session")
def tariffs() -> TariffTable:
    return TariffTable.load_sample()


def context(invoice, tariffs, *, mode="secured", sit=None, ben=None, card=None, **kw):
    sit = sit or situation(profession=invoice.profession, billing=invoice.billing_number)
    if mode == "secured" and ben is None:
        ben = beneficiary()
    if ben is not None and card is None and mode != "degraded":
        card = vitale(ben)
    return CheckContext(invoice=invoice, mode=mode, tariffs=tariffs,
                        ps_card=kw.pop("ps", ps_card(sit)), situation=sit, today=TODAY,
                        vitale=card, beneficiary=ben, **kw)
