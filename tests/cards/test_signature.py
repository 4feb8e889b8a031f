"""firmware.cardapps.signature: a card answer checked under the card's key, asked again once."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from firmware.cardapps.errors import CertificateInvalid
from firmware.cardapps.signature import (
    CardSignatureInvalid,
    card_public_key,
    digest_signature_valid,
    sign_checked,
)

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
DIGEST = hashlib.sha256(b"Sig_structure").digest()
GOOD = KEY.sign(DIGEST, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
BAD = GOOD[:100] + bytes([GOOD[100] ^ 0x03]) + GOOD[101:]  # one byte hit on the line


def certificate(key) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "card")])
    signer = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2030, 1, 1, tzinfo=UTC))
            .sign(signer, hashes.SHA256()))
    return cert.public_bytes(Encoding.DER)


class Card:
    def __init__(self, *answers: bytes):
        self.answers = list(answers)
        self.asked: list[bytes] = []

    def sign_digest(self, digest: bytes) -> bytes:
        self.asked.append(digest)
        return self.answers.pop(0)


def test_a_damaged_answer_is_asked_again_once():
    card = Card(BAD, GOOD)
    assert sign_checked(card.sign_digest, KEY.public_key(), DIGEST) == GOOD
    assert card.asked == [DIGEST, DIGEST]


def test_a_good_answer_is_asked_once():
    card = Card(GOOD)
    assert sign_checked(card.sign_digest, KEY.public_key(), DIGEST) == GOOD
    assert len(card.asked) == 1


def test_two_damaged_answers_fail_with_card_bad_signature():
    card = Card(BAD, BAD, GOOD)
    with pytest.raises(CardSignatureInvalid) as exc:
        sign_checked(card.sign_digest, KEY.public_key(), DIGEST)
    assert (exc.value.code, exc.value.message_fr) == ("card_bad_signature",
                                                       "Signature carte erronée")
    assert len(card.asked) == 2


def test_the_rule_the_office_applies():
    key = card_public_key(certificate(KEY))
    assert key.public_numbers() == KEY.public_key().public_numbers()
    assert digest_signature_valid(key, DIGEST, GOOD)
    assert not digest_signature_valid(key, DIGEST, BAD)
    assert not digest_signature_valid(key, hashlib.sha256(b"other").digest(), GOOD)
    assert not digest_signature_valid(key, DIGEST, GOOD[:-1])  # a character lost


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x02\x01\x01", None])
def test_a_certificate_without_an_rsa_key_is_refused(der):
    if der is None:  # a well-formed certificate of an EC key
        der = certificate(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(CertificateInvalid) as exc:
        card_public_key(der)
    assert exc.value.code == "card_cert_invalid"
