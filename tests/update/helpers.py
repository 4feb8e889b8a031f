"""Bundles for the update tests, made by the real ``imgtool sign`` (MCUboot's tool)."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

from firmware.update.bundle import build_payload

ROOT = Path(__file__).parents[2]
VENV_BIN = Path(sys.executable).parent
DEV_KEY = ROOT / "update_keys" / "dev-ed25519.pem"


def imgtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "imgtool"), *args], capture_output=True, text=True,
                          timeout=60)


def make_wheel(version: str, files: dict[str, str] | None = None) -> tuple[str, bytes]:
    """A small wheel: dist-info and the given files (path -> text)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(f"opentla-{version}.dist-info/METADATA",
                   f"Metadata-Version: 2.1\nName: opentla\nVersion: {version}\n")
        for path, text in (files or {"firmware/slot_marker.py": f"VERSION = {version!r}\n"}).items():
            z.writestr(path, text)
    return f"opentla-{version}-py3-none-any.whl", out.getvalue()


def make_bundle(tmp: Path, version: str, *, boards=("sim",), key: Path = DEV_KEY,
                manifest_version: str | None = None, seals: dict[str, str] | None = None,
                wheel: tuple[str, bytes] | None = None) -> Path:
    """``imgtool sign`` of a payload tar; returns the image file."""
    name, data = wheel or make_wheel(version)
    payload = tmp / f"payload-{version}.tar"
    payload.write_bytes(build_payload(manifest_version or version, boards, {name: data}, seals))
    out = tmp / f"opentla-{version}-{'-'.join(boards)}-{key.stem}.bin"
    done = imgtool("sign", "-k", str(key), "--pad-header", "-H", "32", "-S", "0x4000000",
                   "-v", version, str(payload), str(out))
    if done.returncode != 0:
        raise RuntimeError(f"imgtool sign failed: {done.stderr}{done.stdout}")
    return out


def make_tree_wheel(version: str) -> tuple[str, bytes]:
    """A wheel of this tree's ``firmware`` and ``board`` packages (what a real wheel of
    the new version holds), marked with its version so its seal differs."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for package in ("firmware", "board"):
            for path in sorted((ROOT / package).rglob("*")):
                if "__pycache__" in path.parts or not path.is_file() or path.suffix == ".pyc":
                    continue
                z.write(path, path.relative_to(ROOT).as_posix())
        z.writestr("firmware/release.txt", f"{version}\n")
        z.writestr(f"opentla-{version}.dist-info/METADATA",
                   f"Metadata-Version: 2.1\nName: opentla\nVersion: {version}\n")
    return f"opentla-{version}-py3-none-any.whl", out.getvalue()


def slot_info(state, slot: str):
    """The slot's info, which the test expects to be there."""
    found = state.info(slot)
    assert found is not None, f"slot {slot} is empty"
    return found
