"""``tla bundle build``: a real MCUboot image (imgtool verify accepts it), the tree's
wheel at the bundle's version, each board's seal as the unit computes it."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from firmware.update import bundle as fmt
from host_tools import bundle_build
from host_tools.cli import main as tla

from .conftest import VERSION

IMGTOOL = str(Path(sys.executable).parent / "imgtool")


def imgtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([IMGTOOL, *args], capture_output=True, text=True, timeout=120)


def cli(tmp_path, *args) -> int:
    return tla(["--keys", str(tmp_path / "keys.json"), *args])


def test_the_real_imgtool_verifies_the_bundle_with_the_dev_key(built, tmp_path):
    done = imgtool("verify", "-k", str(bundle_build.DEV_KEY), str(built.path))
    assert done.returncode == 0, done.stdout
    assert "Image was correctly validated" in done.stdout
    assert f"Image version: {VERSION}+0" in done.stdout
    other = tmp_path / "other.pem"
    assert imgtool("keygen", "-k", str(other), "-t", "ed25519").returncode == 0
    refused = imgtool("verify", "-k", str(other), str(built.path))
    assert refused.returncode == 1 and "No signature found for the given key" in refused.stdout


def test_the_payload_is_the_trees_wheel_at_the_bundle_version(built):
    checked = fmt.verify_bundle(built.path.read_bytes(), fmt.builtin_keys())
    assert str(checked.version) == VERSION and checked.manifest.version == VERSION
    assert checked.manifest.boards == ("sim", "pi", "pc")
    wheels = checked.wheels()
    assert list(wheels) == [f"opentla-{VERSION}-py3-none-any.whl"]
    z = zipfile.ZipFile(io.BytesIO(wheels[f"opentla-{VERSION}-py3-none-any.whl"]))
    metadata = z.read(f"opentla-{VERSION}.dist-info/METADATA").decode()
    assert f"\nVersion: {VERSION}\n" in metadata  # the unit reports this as its firmware
    tree = Path(bundle_build.TREE)
    assert z.read("firmware/unit/seal.py") == (tree / "firmware/unit/seal.py").read_bytes()
    # the unit checks bundles against its built-in key: the wheel must carry it
    assert "firmware/update/keys/dev-ed25519.pub.pem" in z.namelist()
    assert f"image hash {checked.hash.hex()}" in built.out


def _seal_by_hand(wheel: zipfile.ZipFile, roots: tuple[str, ...]) -> str:
    """docs/visit.md §Seal, written again from the spec over the wheel's entries."""
    def covered(name: str) -> bool:
        return any(name == r or name.startswith(r.rstrip("/") + "/") for r in roots)

    names = sorted((n for n in wheel.namelist() if covered(n) and not n.endswith("/")
                    and "__pycache__" not in n and not n.endswith(".pyc")),
                   key=lambda n: n.encode())
    h = hashlib.sha256()
    for name in names:
        data = wheel.read(name)
        h.update(name.encode() + b"\x00" + len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def test_each_boards_seal_is_the_seal_of_the_wheels_files(built):
    checked = fmt.verify_bundle(built.path.read_bytes(), fmt.builtin_keys())
    wheel = zipfile.ZipFile(io.BytesIO(next(iter(checked.wheels().values()))))
    sim = ("board/__init__.py", "board/config.py", "board/main.py", "board/run.py",
           "board/systemd.py", "board/sim",
           "board/pi/__init__.py", "board/pi/fuel_gauge.py", "firmware")
    assert checked.manifest.seals["sim"] == _seal_by_hand(wheel, sim)
    assert len(set(checked.manifest.seals.values())) == 3  # each board seals other files
    for board, seal in checked.manifest.seals.items():
        assert f"seal on {board}: {seal}" in built.out


def test_an_ecdsa_p256_key_signs_too_and_is_flagged_not_built_in(built, tmp_path, capsys):
    key = tmp_path / "p256.pem"
    assert imgtool("keygen", "-k", str(key), "-t", "ecdsa-p256").returncode == 0
    wheel = tmp_path / f"opentla-{VERSION}-py3-none-any.whl"
    checked = fmt.verify_bundle(built.path.read_bytes(), fmt.builtin_keys())
    wheel.write_bytes(next(iter(checked.wheels().values())))
    out = tmp_path / "p256.bundle"
    made = bundle_build.build_bundle(VERSION, out, key=key, boards=("pi",), wheel=wheel)
    assert not made.builtin_key and made.bundle.manifest.boards == ("pi",)
    done = imgtool("verify", "-k", str(key), str(out))
    assert done.returncode == 0 and "Image was correctly validated" in done.stdout
    with pytest.raises(fmt.BundleError) as refused:  # the units hold the dev key only
        fmt.verify_bundle(out.read_bytes(), fmt.builtin_keys())
    assert refused.value.code == "bundle.bad_signature"


@pytest.mark.parametrize(("args", "message"), [
    (["--version", "1.2"], "--version: version '1.2' is not MAJOR.MINOR.REV[+BUILD]"),
    (["--version", "256.0.0"], "--version: version '256.0.0' is out of MCUboot's range"),
    (["--version", "0.3.0", "--key", "/nonexistent/k.pem"], "--key /nonexistent/k.pem: cannot read"),
    (["--version", "0.3.0", "--wheel", "deps.tar"], "--wheel deps.tar: not a wheel file"),
])
def test_bad_options_exit_2_with_one_line_before_anything_is_built(tmp_path, capsys, args,
                                                                   message):
    out = tmp_path / "b.bundle"
    assert cli(tmp_path, "bundle", "build", *args, "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
    assert not out.exists()


def test_an_rsa_key_is_refused(tmp_path, capsys):
    key = tmp_path / "rsa.pem"
    key.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    assert cli(tmp_path, "bundle", "build", "--version", "0.3.0", "--key", str(key),
               "-o", str(tmp_path / "b.bundle")) == 2
    assert "must be an Ed25519 or ECDSA P-256 key" in capsys.readouterr().err
