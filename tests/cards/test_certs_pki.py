"""Certificate chains of card keys against the one chain check the office and the lot
signer use (firmware/billing/trust.py), validity at the date of use, sample loading."""

from datetime import UTC, date, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from board.sim.cardos.apdu_connection import ApduConnection
from board.sim.cards.loader import PersonalisationError, build_card, list_samples, personalisation
from board.sim.pki import TestPki, cached_key
from firmware.billing.errors import FseVerificationError
from firmware.billing.trust import CardAuthorities
from firmware.cardapps.vitale import read_vitale

DER = serialization.Encoding.DER


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(DER)


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def pki():
    return TestPki.create()


def test_professional_chain_valid(pki):
    _, cert = pki.issue_professional("CLAIRE ESSAI", "8100000001", date(2024, 2, 1), date(2027, 1, 31))
    leaf = pki.trust_store().verify_chain([der(cert)], at(date(2025, 6, 1)))
    assert leaf.subject == cert.subject and leaf.issuer == pki.cps_ca.subject


def test_vitale_card_certificate_chains_to_vitale_ca(pki):
    card = read_vitale(ApduConnection(build_card(personalisation("vitale_famille_essai"), pki)))
    leaf = pki.trust_store().verify_chain([card.certificate], at(date(2025, 1, 1)))
    assert leaf.issuer == pki.vitale_ca.subject
    # without the Vitale CA, the card's certificate leads nowhere
    only_cps = CardAuthorities([der(pki.root)], [der(pki.cps_ca)])
    with pytest.raises(FseVerificationError) as exc:
        only_cps.verify_chain([card.certificate], at(date(2025, 1, 1)))
    assert exc.value.code == "cert_untrusted"


def test_expired_at_date_of_use(pki):
    _, cert = pki.issue_professional("MARC ESSAI-EXPIRE", "8100000006", date(2021, 1, 1), date(2024, 12, 31))
    store = pki.trust_store()
    store.verify_chain([der(cert)], datetime(2024, 12, 31, 23, 0, tzinfo=UTC))
    for day in (date(2025, 1, 1), date(2020, 12, 31)):  # after, and not yet valid
        with pytest.raises(FseVerificationError) as exc:
            pki.trust_store().verify_chain([der(cert)], at(day))
        assert exc.value.code == "cert_expired"


def test_wrong_issuer_same_name_other_key(pki):
    _, cert = pki.issue_with_foreign_ca("X ESSAI", "8199999999", date(2024, 1, 1), date(2027, 1, 1))
    assert cert.issuer == pki.cps_ca.subject  # the name matches, the signature does not
    with pytest.raises(FseVerificationError) as exc:
        pki.trust_store().verify_chain([der(cert)], at(date(2025, 1, 1)))
    assert exc.value.code == "cert_untrusted"


def test_missing_intermediate_and_garbage(pki):
    _, cert = pki.issue_professional("CLAIRE ESSAI", "8100000001", date(2024, 2, 1), date(2027, 1, 31))
    with pytest.raises(FseVerificationError) as exc:
        CardAuthorities([der(pki.root)]).verify_chain([der(cert)], at(date(2025, 1, 1)))
    assert exc.value.code == "cert_untrusted"
    with pytest.raises(FseVerificationError) as exc:
        pki.trust_store().verify_chain([b"\x30\x03\x02\x01\x00"], at(date(2025, 1, 1)))
    assert exc.value.code == "cert_invalid"


def test_leaf_cannot_act_as_ca(pki):
    leaf_key, leaf = pki.issue_professional("CLAIRE ESSAI", "8100000001", date(2024, 2, 1), date(2027, 1, 31))
    store = CardAuthorities([der(pki.root)], [der(pki.cps_ca), der(leaf)])
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
    with pytest.raises(FseVerificationError) as exc:
        store.verify_chain([der(child)], at(date(2025, 1, 1)))
    assert exc.value.code == "cert_untrusted"  # the leaf is no CA: no issuer found


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
