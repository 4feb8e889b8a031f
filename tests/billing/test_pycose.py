"""An independent COSE implementation (pycose) verifies our FSE signatures:
RS256 (-257) for the cards, EdDSA (-8) for the unit, over the Sig_structure it
builds itself from the COSE_Sign structure (RFC 9052 §4.4).

pycose 1.1.0's ``CoseMessage.decode`` fails with cbor2 6.x, which decodes the
content of a tag as a tuple (pycose checks ``isinstance(obj, list)``). So the tag is
checked with cbor2 and the untagged array is handed to pycose's own
``SignMessage.from_cose_obj``; header parsing, Sig_structure and signature checks
are pycose's.
"""

from __future__ import annotations

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pycose.keys import OKPKey, RSAKey
from pycose.keys.curves import Ed25519
from pycose.keys.keyparam import KpKty, OKPKpCurve, OKPKpX
from pycose.keys.keytype import KtyOKP
from pycose.messages import SignMessage

from firmware.billing import cose

from .conftest import device_public
from .fse_helpers import degraded, secured


def _card_key(der: bytes) -> RSAKey:
    pem = x509.load_der_x509_certificate(der).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return RSAKey.from_pem_public_key(pem.decode())


def _pycose_decode(data: bytes) -> SignMessage:
    assert cbor2.loads(data).tag == 98  # COSE_Sign (RFC 9052 §2)
    return SignMessage.from_cose_obj(cbor2.loads(data[2:]), True)


def _unit_key(pki) -> OKPKey:
    return OKPKey.from_dict({KpKty: KtyOKP, OKPKpCurve: Ed25519, OKPKpX: device_public(pki)})


@pytest.mark.parametrize("build", [secured, degraded])
def test_pycose_verifies_every_signature(pki, tariffs, build):
    fse = build(pki, tariffs)
    msg = _pycose_decode(fse.encoded)
    assert msg.payload == fse.payload_bytes
    ours = cose.parse(fse.encoded)
    assert len(msg.signers) == len(ours.signatures)
    every = ours.to_be_signed_all()  # what FseVerifier checks the signatures over
    for signer, mine, tbs in zip(msg.signers, ours.signatures, every, strict=True):
        # pycose builds the ToBeSigned itself: it must equal ours byte for byte
        assert signer._create_sig_structure() == ours.to_be_signed(mine) == tbs
        signer.key = _unit_key(pki) if mine.role == "unit" else _card_key(mine.chain()[0])
        assert signer.verify_signature() is True


def test_pycose_refuses_a_changed_payload(pki, tariffs):
    fse = secured(pki, tariffs)
    msg = _pycose_decode(fse.encoded)
    msg.payload = fse.payload_bytes.replace(b"DUPONT", b"DUPONS")
    ours = cose.parse(fse.encoded)
    for signer, mine in zip(msg.signers, ours.signatures, strict=True):
        signer.key = _unit_key(pki) if mine.role == "unit" else _card_key(mine.chain()[0])
        assert signer.verify_signature() is False
