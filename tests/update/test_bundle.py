"""The bundle parser against images made and checked by the real imgtool."""

from __future__ import annotations

import hashlib
import re

import pytest

from firmware.update.bundle import (
    BundleError,
    ImageVersion,
    builtin_keys,
    load_keys,
    parse_image,
    verify_bundle,
)

from .helpers import imgtool, make_bundle


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="module")
def other_key(work):
    key = work / "other-p256.pem"
    assert imgtool("keygen", "-k", str(key), "-t", "ecdsa-p256").returncode == 0
    return key


def imgtool_digest(path) -> bytes:
    """What `imgtool verify` reports as the image digest (its own parser)."""
    done = imgtool("verify", str(path))
    assert done.returncode == 0, done.stderr
    found = re.search(r"Image digest: ([0-9a-f]{64})", done.stdout)
    assert found is not None, done.stdout
    return bytes.fromhex(found[1])


def test_good_bundle_verifies_and_matches_imgtool(work):
    path = make_bundle(work, "0.2.0", boards=("sim", "pi"))
    data = path.read_bytes()
    bundle = verify_bundle(data, builtin_keys(), board="pi", running=ImageVersion(0, 1, 0))
    assert str(bundle.version) == "0.2.0"
    assert bundle.hash == imgtool_digest(path)  # the SHA256 TLV, as imgtool reads it
    assert bundle.manifest.boards == ("sim", "pi")
    assert bundle.key_name == "dev-ed25519.pub.pem"
    [(name, wheel)] = bundle.wheels().items()
    assert name == "opentla-0.2.0-py3-none-any.whl"
    assert hashlib.sha256(wheel).hexdigest() == bundle.manifest.wheels[name]


def test_build_number_and_ecdsa_p256_key(work, other_key):
    path = make_bundle(work, "0.3.1+7", key=other_key)
    bundle = verify_bundle(path.read_bytes(), load_keys([other_key]), board="sim")
    assert bundle.version == ImageVersion(0, 3, 1, 7) and str(bundle.version) == "0.3.1+7"
    assert bundle.hash == imgtool_digest(path)


def test_wrong_key_is_refused(work, other_key):
    data = make_bundle(work, "0.2.0", key=other_key).read_bytes()
    with pytest.raises(BundleError) as err:
        verify_bundle(data, builtin_keys(), board="sim")
    assert err.value.code == "bundle.bad_signature"


@pytest.mark.parametrize("cut", [10, 31, 32, 100, -70, -1])
def test_truncated_is_refused(work, cut):
    data = make_bundle(work, "0.2.0").read_bytes()
    with pytest.raises(BundleError) as err:
        verify_bundle(data[:cut], builtin_keys(), board="sim")
    assert err.value.code in ("bundle.truncated", "bundle.bad_tlv")


def test_flipped_payload_byte_fails_the_hash(work):
    data = bytearray(make_bundle(work, "0.2.0").read_bytes())
    data[40] ^= 1
    with pytest.raises(BundleError) as err:
        verify_bundle(bytes(data), builtin_keys(), board="sim")
    assert err.value.code == "bundle.bad_hash"


def test_wrong_board_is_refused(work):
    data = make_bundle(work, "0.2.0", boards=("pi",)).read_bytes()
    with pytest.raises(BundleError) as err:
        verify_bundle(data, builtin_keys(), board="sim")
    assert err.value.code == "bundle.wrong_board"
    assert "not for this sim unit" in err.value.message


def test_older_or_same_version(work):
    data = make_bundle(work, "0.2.0").read_bytes()
    with pytest.raises(BundleError) as err:
        verify_bundle(data, builtin_keys(), board="sim", running=ImageVersion(0, 3, 0))
    assert err.value.code == "bundle.downgrade"
    with pytest.raises(BundleError) as err:
        verify_bundle(data, builtin_keys(), board="sim", running=ImageVersion(0, 2, 0),
                      upgrade=True)
    assert err.value.code == "bundle.not_newer"
    # the technician flag allows the downgrade; the same version without `upgrade` too
    assert verify_bundle(data, builtin_keys(), board="sim", running=ImageVersion(0, 3, 0),
                         allow_downgrade=True).version == ImageVersion(0, 2, 0)
    assert verify_bundle(data, builtin_keys(), board="sim",
                         running=ImageVersion(0, 2, 0)).version == ImageVersion(0, 2, 0)


def test_manifest_version_must_match_the_header(work):
    data = make_bundle(work, "0.4.0", manifest_version="0.5.0").read_bytes()
    with pytest.raises(BundleError) as err:
        verify_bundle(data, builtin_keys(), board="sim")
    assert err.value.code == "bundle.bad_manifest"


def test_not_an_image(work):
    with pytest.raises(BundleError) as err:
        parse_image(b"PK\x03\x04" + bytes(60))
    assert err.value.code == "bundle.bad_magic"


def test_imgtool_verifies_with_the_committed_dev_key(work):
    path = make_bundle(work, "0.2.0")
    done = imgtool("verify", "-k", str(builtin_keys_dir() / "dev-ed25519.pub.pem"), str(path))
    assert done.returncode == 0 and "correctly validated" in done.stdout


def builtin_keys_dir():
    from firmware.update.bundle import BUILTIN_KEYS_DIR

    return BUILTIN_KEYS_DIR
