"""``tla bundle build``: the update bundle of this source tree (docs/update-office.md).

1. the wheel of this tree, built by pip (``pip wheel --no-deps``) from a copy whose
   ``pyproject.toml`` carries the bundle's version, so the installed package, the
   manifest and the MCUboot header all say the same version;
2. the payload tar (``firmware.update.bundle.build_payload``: the manifest with the
   boards and each board's firmware seal, then the wheels);
3. signed by the real ``imgtool sign`` (Ed25519 or ECDSA P-256 key), the version in
   the header; then checked by the unit's own verifier before it is written out.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware.unit.seal import FIRMWARE_ROOTS, firmware_seal
from firmware.update import bundle as fmt

TREE = Path(__file__).resolve().parents[1]  # the source tree this tla runs from
DEV_KEY = TREE / "update_keys" / "dev-ed25519.pem"
BOARDS = ("sim", "pi", "pc")
IMAGE_HEADER_SIZE = 0x200  # MCUboot's usual header room (imgtool -H, --pad-header)
# what goes into the wheel (pyproject.toml: packages, readme, license)
TREE_FILES = ("pyproject.toml", "README.md", "LICENSE")
TREE_PACKAGES = ("firmware", "board", "host_tools")
_VERSION_LINE = re.compile(r'(?m)^version\s*=\s*"[^"]*"')


class BundleBuildError(Exception):
    """Bad options or files for ``tla bundle build`` (exit 2); one English line."""


class ToolFailed(Exception):
    """pip or imgtool failed (exit 1): the message carries the tool's last lines."""


@dataclass(frozen=True)
class Built:
    path: Path
    size: int
    bundle: fmt.Bundle
    builtin_key: bool  # signed by a key the units have built in


def sealed_roots(board: str) -> tuple[str, ...]:
    """The files a unit of this board kind seals (docs/visit.md §Seal): the firmware
    and the board modules' own lists, as ``firmware/app.py`` composes them."""
    if board == "sim":
        from board.sim.parts import SEALED as sim
        return FIRMWARE_ROOTS + sim
    if board == "pi":
        from board.pi.parts import SEALED as pi
        return FIRMWARE_ROOTS + pi
    if board == "pc":
        from board.pc import SEALED as pc
        return FIRMWARE_ROOTS + pc
    raise BundleBuildError(f"--board: unknown board kind {board!r} ({', '.join(BOARDS)})")


def wheel_seals(wheel: Path, boards: tuple[str, ...], work: Path) -> dict[str, str]:
    """Each board's seal over the wheel as pip installs it (a pure-Python wheel's
    files land as they are in site-packages, the seal's base)."""
    base = work / "installed"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(base)
    return {b: firmware_seal(sealed_roots(b), base).hex() for b in boards}


def signing_key(path: Path) -> None:
    """A readable PEM private key, Ed25519 or ECDSA P-256 (what imgtool signs with)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise BundleBuildError(f"--key {path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, TypeError) as exc:
        raise BundleBuildError(f"--key {path}: not an unencrypted PEM private key ({exc})") \
            from None
    p256 = isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    if not (isinstance(key, Ed25519PrivateKey) or p256):
        raise BundleBuildError(f"--key {path}: must be an Ed25519 or ECDSA P-256 key")


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise ToolFailed(f"{what} failed (exit {done.returncode}): {tail}")


def build_wheel(version: str, work: Path) -> Path:
    """This tree's wheel at ``version`` (pip builds it, isolated, from a copy)."""
    src = work / "src"
    src.mkdir()
    for name in TREE_FILES:
        shutil.copy2(TREE / name, src / name)
    for name in TREE_PACKAGES:
        shutil.copytree(TREE / name, src / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pyproject = src / "pyproject.toml"
    text, n = _VERSION_LINE.subn(f'version = "{version}"', pyproject.read_text(), count=1)
    if n != 1:
        raise ToolFailed(f"{TREE / 'pyproject.toml'} has no version line to set")
    pyproject.write_text(text)
    out = work / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out),
          str(src)], "pip wheel")
    wheels = sorted(out.glob("opentla-*.whl"))
    if len(wheels) != 1:
        raise ToolFailed(f"pip wheel made {len(wheels)} opentla wheels, expected one")
    return wheels[0]


def imgtool_sign(payload: Path, key: Path, version: str, out: Path) -> None:
    """The real ``imgtool sign`` (MCUboot's tool): header with the version, SHA256 TLV,
    key hash and signature TLVs."""
    _run([sys.executable, "-m", "imgtool.main", "sign", "--key", str(key), "--version", version,
          "--header-size", str(IMAGE_HEADER_SIZE), "--pad-header",
          "--slot-size", str(fmt.BUNDLE_MAX), str(payload), str(out)], "imgtool sign")


def build_bundle(version: str, out: Path, *, key: Path = DEV_KEY,
                 boards: tuple[str, ...] = BOARDS, extra_wheels: tuple[Path, ...] = (),
                 wheel: Path | None = None) -> Built:
    """Build, sign and check the bundle; write it to ``out`` only when it checks out.

    ``wheel``: use this already built wheel of the tree instead of building one (its
    version must be ``version``); ``extra_wheels``: dependency wheels to ship too."""
    fmt.ImageVersion.parse(version)  # BundleError (exit 2) before any work
    for board in boards:
        sealed_roots(board)
    signing_key(key)
    extras: dict[str, bytes] = {}
    for path in extra_wheels:
        if not path.name.endswith(".whl"):
            raise BundleBuildError(f"--wheel {path}: not a wheel file (NAME.whl)")
        try:
            extras[path.name] = path.read_bytes()
        except OSError as exc:
            raise BundleBuildError(f"--wheel {path}: cannot read: {exc.strerror or exc}") \
                from None
    with tempfile.TemporaryDirectory(prefix="tla-bundle-") as tmp:
        work = Path(tmp)
        ours = wheel if wheel is not None else build_wheel(version, work)
        if f"-{version}-" not in ours.name:
            raise BundleBuildError(f"wheel {ours.name} is not version {version}")
        wheels = {ours.name: ours.read_bytes(), **extras}
        seals = wheel_seals(ours, boards, work)
        payload = work / "payload.tar"
        payload.write_bytes(fmt.build_payload(version, boards, wheels, seals))
        signed = work / "bundle.img"
        imgtool_sign(payload, key, version, signed)
        data = signed.read_bytes()
        own = fmt.load_key(key)  # the public half of the signing key
        checked = fmt.verify_bundle(data, [own])
        builtin = any(k.der == own.der for k in fmt.builtin_keys())
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp_out = out.with_name(out.name + ".part")
            tmp_out.write_bytes(data)
            tmp_out.replace(out)
        except OSError as exc:
            raise BundleBuildError(f"-o {out}: cannot write: {exc.strerror or exc}") from None
    return Built(out, len(data), checked, builtin)
