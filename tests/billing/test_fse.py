"""Signed FSE: build, verify, and every way verification must refuse."""

from __future__ import annotations

from datetime import date

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.billing import cbor_det, cose
from firmware.billing.errors import CheckFailed, FseFormatError, FseVerificationError
from firmware.billing.fse import build_fse
from firmware.billing.invoice import Invoice
from firmware.cardapps.model import RightsPeriod

from .conftest import SIGNED_AT, UNIT_ID, beneficiary, card_signer, context, device_signer
from .fse_helpers import PATIENT, degraded, nurse_invoice, secured, verifier

REFUSED = (FseFormatError, FseVerificationError)


def test_secured_round_trip(pki, tariffs):
    fse = secured(pki, tariffs, number=42)
    v = verifier(pki).verify(fse.encoded)
    assert (v.mode, v.number, v.billing_number, v.unit_id) == ("secured", 42, "123456789",
                                                                UNIT_ID)
    assert v.signed_at == SIGNED_AT
    p = v.payload
    assert p["payment_guarantee"] is True and p["pj"] == ["ORDN"]
    assert p["vitale"]["serial"] == "0123456789"
    assert p["beneficiary"]["nir"] == "1800175123456"
    # AMI 1.5 = 4.725 -> 473 ; IFD 275 ; total 748 ; AMO 60% 283.8->284 + 165 = 449
    assert (p["amounts"]["total_cents"], p["amounts"]["amo_cents"]) == (748, 449)


def test_degraded_and_secured_distinguishable_at_a_glance(pki, tariffs):
    s, d = secured(pki, tariffs), degraded(pki, tariffs)
    ps = cose.parse(s.encoded)
    pd = cose.parse(d.encoded)
    assert ps.content_type == "application/vnd.opentla.fse.secured+cbor"
    assert pd.content_type == "application/vnd.opentla.fse.degraded+cbor"
    assert [x.role for x in ps.signatures] == ["cps", "vitale", "unit"]
    assert [x.role for x in pd.signatures] == ["cps", "unit"]
    vd = verifier(pki).verify(d.encoded)
    assert vd.payload["mode"] == "degraded" and vd.payload["payment_guarantee"] is False
    assert vd.payload["pj"] == ["ORDN", "FSP"] and vd.payload["vitale"] is None


def test_fse_is_frozen(pki, tariffs):
    fse = secured(pki, tariffs)
    with pytest.raises(AttributeError):
        fse.number = 2  # type: ignore[misc]
    copy = fse.payload()
    copy["amounts"]["total_cents"] = 1
    assert fse.payload()["amounts"]["total_cents"] == 748


def test_checks_block_signing(pki, tariffs):
    ben = beneficiary(rights=(RightsPeriod(date(2025, 1, 1), date(2025, 12, 31)),))
    with pytest.raises(CheckFailed) as exc:
        secured(pki, tariffs, ben=ben)
    assert exc.value.code == "rights_closed"
    assert exc.value.message_fr == "Droits fermés à la date"


def test_mode_and_signers_must_agree(pki, tariffs):
    ctx = context(nurse_invoice(patient=PATIENT), tariffs, mode="degraded")
    with pytest.raises(ValueError):
        build_fse(ctx, number=1, unit_id=UNIT_ID, signed_at=SIGNED_AT,
                  cps=card_signer(pki.cps_cert, pki.cps_key), device=device_signer(pki),
                  vitale=card_signer(pki.vitale_cert, pki.vitale_key))
    # the Vitale signer must be the card whose data were read (its certificate)
    from .conftest import vitale as vitale_card
    ben = beneficiary()
    ctx = context(nurse_invoice(), tariffs, ben=ben, card=vitale_card(ben, cert=pki.vitale_cert))
    build_fse(ctx, number=1, unit_id=UNIT_ID, signed_at=SIGNED_AT,
              cps=card_signer(pki.cps_cert, pki.cps_key), device=device_signer(pki),
              vitale=card_signer(pki.vitale_cert, pki.vitale_key))  # control
    with pytest.raises(ValueError):
        build_fse(ctx, number=1, unit_id=UNIT_ID, signed_at=SIGNED_AT,
                  cps=card_signer(pki.cps_cert, pki.cps_key), device=device_signer(pki),
                  vitale=card_signer(pki.other_cps_cert, pki.other_cps_key))


@pytest.fixture(scope="module")
def small_fse(pki, tariffs):
    return degraded(pki, tariffs).encoded


def test_every_single_bit_flip_is_rejected(pki, small_fse):
    ver = verifier(pki)
    ver.verify(small_fse)
    for i in range(len(small_fse) * 8):
        flipped = bytearray(small_fse)
        flipped[i // 8] ^= 1 << (i % 8)
        with pytest.raises(REFUSED):
            ver.verify(bytes(flipped))


@pytest.fixture(scope="module")
def secured_fse(pki, tariffs):
    return secured(pki, tariffs).encoded


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bit_flips_in_a_secured_fse_are_rejected(pki, secured_fse, data):
    bit = data.draw(st.integers(0, len(secured_fse) * 8 - 1))
    flipped = bytearray(secured_fse)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(REFUSED):
        verifier(pki).verify(bytes(flipped))


def test_sans_vitale_fse(pki, tariffs):
    rental = Invoice.from_dict({
        "invoice_id": "LOC-1", "billing_number": "123456789", "profession": "90",
        "date_of_care": "2026-03-10", "lines": [{"code": "LOC"}],
        "prescription": {"prescriber_id": "10001234567", "date": "2026-01-10"}})
    ctx = context(rental, tariffs, mode="sans_vitale", ben=beneficiary(),
                  vitale_read_on=date(2026, 2, 1))
    fse = build_fse(ctx, number=9, unit_id=UNIT_ID, signed_at=SIGNED_AT,
                    cps=card_signer(pki.cps_cert, pki.cps_key), device=device_signer(pki))
    v = verifier(pki).verify(fse.encoded)
    assert v.mode == "sans_vitale"
    assert cose.parse(fse.encoded).content_type.endswith(".sans_vitale+cbor")
    assert [s.role for s in cose.parse(fse.encoded).signatures] == ["cps", "unit"]
    assert v.payload["vitale"] == {"serial": "0123456789", "variant": "vitale2",
                                   "cert_sha256": None, "read_on": "2026-02-01"}
    assert v.payload["payment_guarantee"] is True and v.payload["pj"] == ["ORDN"]


def test_signature_by_the_wrong_card(pki, tariffs):
    # another valid CPS signs, but the payload names the card it relied on
    fse = secured(pki, tariffs, cps=card_signer(pki.other_cps_cert, pki.other_cps_key))
    verifier(pki).verify(fse.encoded)  # consistent: fine
    # swap the other card's signature into an FSE that names our card
    good = cose.parse(secured(pki, tariffs).encoded)
    other = cose.parse(fse.encoded)
    forged = _reassemble(good, [other.signatures[0], *good.signatures[1:]])
    with pytest.raises(FseVerificationError) as exc:
        verifier(pki).verify(forged)
    assert exc.value.code == "fse_wrong_card"
    # our certificate with a signature made by another key
    bad = secured(pki, tariffs, cps=card_signer(pki.cps_cert, pki.other_cps_key))
    with pytest.raises(FseVerificationError) as exc:
        verifier(pki).verify(bad.encoded)
    assert exc.value.code == "fse_bad_signature"


def test_vitale_signature_made_by_the_cps(pki, tariffs):
    fse = secured(pki, tariffs, vitale=card_signer(pki.cps_cert, pki.cps_key))
    with pytest.raises(FseVerificationError) as exc:
        verifier(pki).verify(fse.encoded)
    assert exc.value.code == "fse_signers"
    # Vitale certificates are checked against their own anchors when given
    from firmware.billing.trust import CardAuthorities
    from firmware.billing.verify import FseVerifier

    from .conftest import UNIT_ID, device_public
    ver = FseVerifier(pki.trust(), {UNIT_ID: device_public(pki)},
                      vitale_trust=CardAuthorities([pki.intermediate]))
    ver.verify(secured(pki, tariffs).encoded)  # the real Vitale chains to that anchor
    with pytest.raises(FseVerificationError) as exc:
        FseVerifier(pki.trust(), {UNIT_ID: device_public(pki)},
                    vitale_trust=CardAuthorities([pki.rogue_cps_cert])).verify(
                        secured(pki, tariffs).encoded)
    assert exc.value.code == "cert_untrusted"


def test_expired_and_untrusted_certificates(pki, tariffs):
    fse = secured(pki, tariffs, cps=card_signer(pki.expired_cps_cert, pki.cps_key))
    with pytest.raises(FseVerificationError) as exc:
        verifier(pki).verify(fse.encoded)
    assert exc.value.code == "cert_expired"
    rogue = secured(pki, tariffs, cps=card_signer(pki.rogue_cps_cert, pki.rogue_cps_key))
    with pytest.raises(FseVerificationError) as exc:
        verifier(pki).verify(rogue.encoded)
    assert exc.value.code == "cert_untrusted"


def test_chain_cache_respects_the_date(pki, tariffs):
    ver = verifier(pki)
    ver.verify(secured(pki, tariffs).encoded)
    misses = ver.trust.cache_misses
    ver.verify(secured(pki, tariffs, number=2).encoded)
    assert ver.trust.cache_misses == misses and ver.trust.cache_hits >= 2
    # the cached chain, asked about a date after the CPS certificate's end (2028-12-31)
    from datetime import UTC, datetime
    ver.trust.verify_chain([pki.cps_cert], datetime(2028, 12, 30, tzinfo=UTC))
    with pytest.raises(FseVerificationError) as exc:
        ver.trust.verify_chain([pki.cps_cert], datetime(2029, 1, 2, tzinfo=UTC))
    assert exc.value.code == "cert_expired"


def test_unknown_unit_and_wrong_seal(pki, tariffs):
    fse = secured(pki, tariffs)
    from firmware.billing.verify import FseVerifier
    with pytest.raises(FseVerificationError) as exc:
        FseVerifier(pki.trust(), {}).verify(fse.encoded)
    assert exc.value.code == "fse_unit_unknown"
    with pytest.raises(FseVerificationError) as exc:
        verifier(pki, seals=(b"\x00" * 32,)).verify(fse.encoded)
    assert exc.value.code == "fse_seal"


def _reassemble(msg: cose.ParsedCoseSign, sigs, payload: bytes | None = None) -> bytes:
    body = [msg.body_protected_bytes, {}, msg.payload if payload is None else payload,
            [[s.protected_bytes, {}, s.signature] for s in sigs]]
    return cose.TAG_PREFIX + cbor_det.encode(body)


def _resign(pki, msg: cose.ParsedCoseSign, payload: bytes) -> bytes:
    """Sign ``payload`` for real with every key (as a faulty unit would)."""
    keys = {"cps": card_signer(pki.cps_cert, pki.cps_key),
            "vitale": card_signer(pki.vitale_cert, pki.vitale_key),
            "unit": device_signer(pki)}
    sigs = []
    for s in msg.signatures:
        tbs = cose.sig_structure(msg.body_protected_bytes, s.protected_bytes, payload)
        sigs.append(cose.ParsedSignature(s.protected_bytes, s.protected, keys[s.role].sign(tbs)))
    return _reassemble(msg, sigs, payload)


def test_non_canonical_payload_rejected_even_when_signed(pki, tariffs):
    msg = cose.parse(secured(pki, tariffs).encoded)
    payload = cbor2.loads(msg.payload)
    # RFC 7049 length-first order (cbor2 canonical) is not RFC 8949 §4.2.1 order here?
    # Build a surely non-deterministic payload: same content, keys in reverse order.
    reordered = cbor2.dumps(dict(reversed(list(payload.items()))))
    assert reordered != msg.payload and cbor2.loads(reordered) == payload
    ver = verifier(pki)
    ver.verify(_resign(pki, msg, msg.payload))  # control: re-signing itself is fine
    with pytest.raises(FseFormatError) as exc:
        ver.verify(_resign(pki, msg, reordered))
    assert exc.value.code == "cbor_not_deterministic"


def test_mode_rules_enforced_on_verification(pki, tariffs):
    msg = cose.parse(secured(pki, tariffs).encoded)
    ver = verifier(pki)
    # a secured FSE whose Vitale signature was dropped
    stripped = _reassemble(msg, [msg.signatures[0], msg.signatures[2]])
    with pytest.raises(FseVerificationError) as exc:
        ver.verify(stripped)
    assert exc.value.code == "fse_signers"
    # a payload relabelled "degraded" under the secured content type
    payload = cbor2.loads(msg.payload)
    payload["mode"] = "degraded"
    with pytest.raises(FseVerificationError) as exc:
        ver.verify(_resign(pki, msg, cbor_det.encode(payload)))
    assert exc.value.code == "fse_mode_mismatch"
    # habilitation: situation not allowed to sign FSEs
    payload = cbor2.loads(msg.payload)
    payload["ps"]["situation"]["can_sign_fse"] = False
    with pytest.raises(FseVerificationError) as exc:
        ver.verify(_resign(pki, msg, cbor_det.encode(payload)))
    assert exc.value.code == "ps_not_allowed"
    # billed under a billing number that is not the signing situation's
    payload = cbor2.loads(msg.payload)
    payload["billing_number"] = "999999999"
    with pytest.raises(FseVerificationError) as exc:
        ver.verify(_resign(pki, msg, cbor_det.encode(payload)))
    assert exc.value.code == "fse_situation_mismatch"


def test_signers_satisfy_the_protocol(pki):
    assert isinstance(card_signer(pki.cps_cert, pki.cps_key), cose.Signer)
    assert isinstance(device_signer(pki), cose.Signer)
    assert card_signer(pki.cps_cert, pki.cps_key).alg == -257
    assert device_signer(pki).alg == -8


def test_a_card_key_that_is_not_rsa_is_refused_every_time(pki, tariffs):
    # an EC card certificate that chains to a trusted root: refused for its key, on the
    # first FSE and on the next one too (the verifier keeps only RSA keys per card)
    from cryptography.hazmat.primitives.asymmetric import ec

    from firmware.billing.cose import CardSigner
    from firmware.billing.trust import CardAuthorities
    from firmware.billing.verify import FseVerifier

    from .conftest import SEAL, UNIT_ID, _cert, _dt, device_public
    root_key, card_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    root = _cert("EC Root", root_key, "EC Root", root_key, _dt(2020, 1, 1), _dt(2040, 1, 1),
                 True)
    card = _cert("CPS EC", card_key, "EC Root", root_key, _dt(2024, 1, 1), _dt(2028, 12, 31),
                 False)
    fse = secured(pki, tariffs, cps=CardSigner(card, lambda digest: bytes(256)))
    ver = FseVerifier(CardAuthorities([root, pki.root], [pki.intermediate]),
                      {UNIT_ID: device_public(pki)}, reference_seals=[SEAL])
    for _ in range(2):
        with pytest.raises(FseVerificationError) as exc:
            ver.verify(fse.encoded)
        assert exc.value.code == "fse_alg"
    ver.verify(secured(pki, tariffs).encoded)  # the RSA cards of the same store: fine
