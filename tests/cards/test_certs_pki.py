"""Certificate chains of card keys, validity at the date of use, sample loading."""

from datetime import UTC, date, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from board.sim.cardos.apdu_connection import ApduConnection
from board.sim.cards.loader import PersonalisationError, build_card, list_samples, personalisation
from board.sim.pki import TestPki, cached_key
from firmware.cards.certs import (
    CertificateExpired,
    CertificateUntrusted,
    TrustStore,
    verify_chain,
)
from firmware.cards.errors import CertificateInvalid
from firmware.cards.vitale import read_vitale


@pytest.fixture(scope="module")
def pki():
    return TestPki.create()


def test_professional_chain_valid(pki):
    _, cert = pki.issue_professional("CLAIRE ESSAI", "8100000001", date(2024, 2, 1), date(2027, 1, 31))
    path = verify_chain(cert.public_bytes(serialization.Encoding.DER), pki.trust_store(), date(2025, 6, 1))
    assert [c.subject for c in path] == [cert.subject, pki.cps_ca.subject, pki.root.subject]


def test_vitale_card_certificate_chains_to_vitale_ca(pki):
    card = read_vitale(ApduConnection(build_card(personalisation("vitale_famille_essai"), pki)))
    path = verify_chain(card.certificate, pki.trust_store(), date(2025, 1, 1))
    assert path[1].subject == pki.vitale_ca.subject


def test_expired_at_date_of_use(pki):
    _, cert = pki.issue_professional("MARC ESSAI-EXPIRE", "8100000006", date(2021, 1, 1), date(2024, 12, 31))
    store = pki.trust_store()
    verify_chain(cert, store, datetime(2024, 12, 31, 23, 0, tzinfo=UTC))
    with pytest.raises(CertificateExpired) as exc:
        verify_chain(cert, store, date(2025, 1, 1))
    assert exc.value.code == "card_cert_expired"
    with pytest.raises(CertificateExpired):
        verify_chain(cert, store, date(2020, 12, 31))  # not yet valid


def test_wrong_issuer_same_name_other_key(pki):
    _, cert = pki.issue_with_foreign_ca("X ESSAI", "8199999999", date(2024, 1, 1), date(2027, 1, 1))
    assert cert.issuer == pki.cps_ca.subject  # the name matches, the signature does not
    with pytest.raises(CertificateUntrusted):
        verify_chain(cert, pki.trust_store(), date(2025, 1, 1))


def test_missing_intermediate_and_garbage(pki):
    _, cert = pki.issue_professional("CLAIRE ESSAI", "8100000001", date(2024, 2, 1), date(2027, 1, 31))
    with pytest.raises(CertificateUntrusted):
        verify_chain(cert, TrustStore(roots=(pki.root,)), date(2025, 1, 1))
    with pytest.raises(CertificateInvalid):
        verify_chain(b"\x30\x03\x02\x01\x00", pki.trust_store(), date(2025, 1, 1))


def test_leaf_cannot_act_as_ca(pki):
    leaf_key, leaf = pki.issue_professional("CLAIRE ESSAI", "8100000001", date(2024, 2, 1), date(2027, 1, 31))
    store = TrustStore(roots=(pki.root,), intermediates=(pki.cps_ca, leaf))
    child_key = cached_key("child-of-leaf")
    child = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CHILD")]))
        .issuer_name(leaf.subject)
        .public_key(child_key.public_key())
        .serial_number(5)
        .not_valid_before(datetime(2024, 3, 1, tzinfo=UTC))
        .not_valid_after(datetime(2026, 1, 1, tzinfo=UTC))
        .sign(leaf_key, hashes.SHA256())
    )
    with pytest.raises(CertificateInvalid, match="not a CA"):
        verify_chain(child, store, date(2025, 1, 1))


def test_all_samples_load_and_keys_are_checked():
    assert {"vitale_famille_essai", "cps_medecin", "cps_infirmier", "cps_kine",
            "cpe_ambulance", "cde_direction"} <= set(list_samples())
    spec = personalisation("vitale_famille_essai")
    spec["beneficiaries"][0]["nir_key"] = "57"
    with pytest.raises(PersonalisationError, match="NIR key"):
        build_card(spec)
    spec = personalisation("cps_medecin")
    spec["situations"][0]["billing_number"] = "759999015"
    with pytest.raises(PersonalisationError, match="billing"):
        build_card(spec)
    with pytest.raises(PersonalisationError, match="no sample card"):
        personalisation("nope")
