"""The sealing formats, checked against an independent reading of RFC 9180.

``rfc9180_open`` below is written from the RFC's pseudo-code (§4.1 DHKEM,
§5.1 KeySchedule, §5.2 Open) with bare primitives; it is first checked
against the RFC's own test vector A.1.1, then used to open the store's
envelopes, which shows any HPKE implementation at the office can read them.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from hypothesis import given
from hypothesis import strategies as st

from firmware.store import WrongCardProof, crypto


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or b"\0" * 32, ikm, hashlib.sha256).digest()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def _labeled_extract(suite_id, salt, label, ikm):
    return _extract(salt, b"HPKE-v1" + suite_id + label + ikm)


def _labeled_expand(suite_id, prk, label, info, length):
    return _expand(prk, length.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info, length)


def rfc9180_open(sk_r: bytes, enc: bytes, ct: bytes, info: bytes, aad: bytes, aead_id: int) -> bytes:
    kem_suite = b"KEM" + (0x20).to_bytes(2, "big")
    priv = X25519PrivateKey.from_private_bytes(sk_r)
    dh = priv.exchange(X25519PublicKey.from_public_bytes(enc))
    pk_rm = crypto.public_raw(priv.public_key())
    eae = _labeled_extract(kem_suite, b"", b"eae_prk", dh)
    shared = _labeled_expand(kem_suite, eae, b"shared_secret", enc + pk_rm, 32)
    suite = b"HPKE" + (0x20).to_bytes(2, "big") + (1).to_bytes(2, "big") + aead_id.to_bytes(2, "big")
    psk_id_hash = _labeled_extract(suite, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(suite, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash
    secret = _labeled_extract(suite, shared, b"secret", b"")
    nk = 16 if aead_id == 1 else 32
    key = _labeled_expand(suite, secret, b"key", context, nk)
    nonce = _labeled_expand(suite, secret, b"base_nonce", context, 12)
    aead = AESGCM(key) if aead_id == 1 else ChaCha20Poly1305(key)
    return aead.decrypt(nonce, ct, aad)  # sequence number 0: nonce = base_nonce


def test_reference_hpke_matches_rfc9180_vector_a11():
    pt = rfc9180_open(
        bytes.fromhex("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8"),
        bytes.fromhex("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431"),
        bytes.fromhex("f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a9"
                      "6d8770ac83d07bea87e13c512a"),
        bytes.fromhex("4f6465206f6e2061204772656369616e2055726e"),
        b"Count-0", aead_id=1)
    assert pt == b"Beauty is truth, truth beauty"


def test_sealed_to_unit_is_plain_rfc9180_base_mode():
    unit = X25519PrivateKey.generate()
    raw_priv = unit.private_bytes_raw()
    env = crypto.seal_to_unit(crypto.public_raw(unit.public_key()), "invoice", "INV-7", b"payload")
    assert env[0] == 0x01
    info = b"opentla/store/record/v1\x00invoice\x00INV-7"
    assert rfc9180_open(raw_priv, env[1:33], env[33:], info, b"", aead_id=3) == b"payload"


def test_record_key_envelope_is_rfc8439_with_context_as_aad():
    bundle = crypto.KeyBundle.generate()
    env = crypto.seal_with_record_key(bundle.record_key, "fse", "F1", b"cose")
    aad = b"opentla/store/record/v1\x00fse\x00F1"
    assert ChaCha20Poly1305(bytes(bundle.record_key)).decrypt(env[1:13], env[13:], aad) == b"cose"


@given(payload=st.binary(max_size=2000), kind=st.sampled_from(["invoice", "fse", "patient"]),
       record_id=st.from_regex(r"[A-Za-z0-9._:-]{1,20}", fullmatch=True), to_unit=st.booleans())
def test_round_trip_and_binding(payload, kind, record_id, to_unit):
    bundle = crypto.KeyBundle.generate()
    if to_unit:
        env = crypto.seal_to_unit(bundle.public_raw(), kind, record_id, payload)
    else:
        env = crypto.seal_with_record_key(bundle.record_key, kind, record_id, payload)
    assert crypto.open_record(bundle, kind, record_id, env) == payload
    with pytest.raises(crypto.RecordUnreadable):
        crypto.open_record(bundle, kind, record_id + "x", env)
    with pytest.raises(crypto.RecordUnreadable):
        crypto.open_record(bundle, "tariff", record_id, env)
    with pytest.raises(crypto.RecordUnreadable):
        crypto.open_record(crypto.KeyBundle.generate(), kind, record_id, env)


@given(flip=st.integers(min_value=0))
def test_any_flipped_bit_is_detected(flip):
    bundle = crypto.KeyBundle.generate()
    env = bytearray(crypto.seal_with_record_key(bundle.record_key, "fse", "F1", b"x" * 40))
    env[flip % len(env)] ^= 1 << (flip % 8)
    with pytest.raises(crypto.RecordUnreadable):
        crypto.open_record(bundle, "fse", "F1", bytes(env))


def test_card_wrap_needs_the_same_proof_salt_and_unit():
    bundle = crypto.KeyBundle.generate()
    proof, salt, unit = b"\x42" * 256, b"s" * 16, b"u" * 16
    wrapped = crypto.wrap_for_card(bundle, crypto.derive_unlock_key(proof, salt), unit)
    opened = crypto.unwrap_for_card(wrapped, crypto.derive_unlock_key(proof, salt), unit)
    assert opened.to_bytes() == bundle.to_bytes()
    for p, s, u in ((b"\x43" * 256, salt, unit), (proof, b"t" * 16, unit), (proof, salt, b"v" * 16)):
        with pytest.raises(WrongCardProof):
            crypto.unwrap_for_card(wrapped, crypto.derive_unlock_key(p, s), u)


def test_unlock_key_is_rfc5869_hkdf_of_the_proof():
    proof, salt = b"\x01" * 256, b"\x02" * 16
    prk = hmac.new(salt, proof, hashlib.sha256).digest()
    okm = hmac.new(prk, b"opentla/store/unlock/v1\x01", hashlib.sha256).digest()
    assert crypto.derive_unlock_key(proof, salt) == okm


def test_wipe_clears_the_record_key():
    bundle = crypto.KeyBundle.generate()
    bundle.wipe()
    assert bytes(bundle.record_key) == b"\0" * 32


@given(junk=st.binary(max_size=200))
def test_any_bytes_give_a_clear_error(junk):
    bundle = crypto.KeyBundle.generate()
    for envelope in (junk, b"\x01" + junk, b"\x02" + junk):
        with pytest.raises(crypto.RecordUnreadable) as err:
            crypto.open_record(bundle, "fse", "F1", envelope)
        assert err.value.code == "store_record_unreadable"
    with pytest.raises(WrongCardProof):
        crypto.unwrap_for_card(junk, b"k" * 32, b"u" * 16)
    with pytest.raises(WrongCardProof):
        crypto.open_for_office(junk, X25519PrivateKey.generate(), b"u" * 16)
