"""The unit's side of an update on the simulated board: ``install_s`` and ``rollback_s``.

- ``install_s``: once the last byte of a bundle is in, the time the unit takes to
  verify it and install it in the other slot (``UpdateService.upload_chunk`` with the
  whole file: staging write, SHA-256 of the file, the image's hash and Ed25519
  signature, the manifest and wheels' SHA-256, unpacking every file of the wheel, one
  sync, the seal of the unpacked code, the slot state). Bound printed beside it: the
  SHA-256 of the file plus of the unpacked code, the CPU floor of what must be checked.
- ``rollback_s``: from a trial's failed health check to the previous slot serving
  again: the rejection written, the unit closed (the reset), the boot decision and a
  new ``UnitApp`` on the sim board through its first main-loop round.

The bundle is a wheel of this tree's ``firmware`` and ``board`` packages, signed with
the development key by the real ``imgtool sign``. The office side's update bench calls
:func:`measure` for its ``install_s`` and ``rollback_s``.

    python bench/update_unit.py [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from board import build  # noqa: E402
from board.config import load_config  # noqa: E402
from firmware.app import UnitApp  # noqa: E402
from firmware.update.bundle import build_payload  # noqa: E402

DEV_KEY = ROOT / "update_keys" / "dev-ed25519.pem"


def tree_wheel(version: str) -> tuple[str, bytes]:
    """A wheel of this tree's ``firmware`` and ``board`` (what a release wheel holds)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for package in ("firmware", "board"):
            for path in sorted((ROOT / package).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    z.write(path, path.relative_to(ROOT).as_posix())
        z.writestr("firmware/release.txt", f"{version}\n")
        z.writestr(f"opentla-{version}.dist-info/METADATA",
                   f"Metadata-Version: 2.1\nName: opentla\nVersion: {version}\n")
    return f"opentla-{version}-py3-none-any.whl", out.getvalue()


def make_bundle(workdir: Path, version: str = "9.0.0") -> Path:
    name, wheel = tree_wheel(version)
    payload = workdir / "payload.tar"
    payload.write_bytes(build_payload(version, ["sim", "pi", "pc"], {name: wheel}))
    out = workdir / f"opentla-{version}.bin"
    imgtool = Path(sys.executable).parent / "imgtool"
    subprocess.run([str(imgtool), "sign", "-k", str(DEV_KEY), "--pad-header", "-H", "32",
                    "-S", "0x4000000", "-v", version, str(payload), str(out)],
                   check=True, capture_output=True)
    return out


def _app(state: Path) -> UnitApp:
    config = load_config(board="sim", config_path=None, env={}, state_dir=str(state))
    return UnitApp(build(config), state)


def measure(workdir: Path, bundle: Path | None = None) -> dict:
    """``{"install_s", "install_floor_s", "rollback_s", "bundle_bytes", "unpacked_bytes"}``."""
    bundle = bundle or make_bundle(workdir)
    data = bundle.read_bytes()
    state = workdir / "unit"
    app = _app(state)
    service = app.updates.service
    t0 = time.perf_counter()
    progress = service.upload_chunk(0, data, length=len(data), sha=hashlib.sha256(data).digest())
    install_s = time.perf_counter() - t0
    if not progress.done:
        raise RuntimeError("the bundle was not installed")
    site = service.slots.slot_dir("b") / "site"
    unpacked = [p.read_bytes() for p in site.rglob("*") if p.is_file()]
    t0 = time.perf_counter()
    hashlib.sha256(data).digest()
    for blob in unpacked:
        hashlib.sha256(blob).digest()
    floor_s = time.perf_counter() - t0
    service.test(bytes.fromhex(service.state().slots["b"].hash))  # type: ignore[union-attr]
    app.close()
    trial = _app(state)  # slot b on trial
    if trial.updates.slot != "b" or not trial.updates.trial:
        raise RuntimeError("the new slot did not boot on trial")
    t0 = time.perf_counter()
    trial.updates.health(["bench: forced failure"])
    trial.close()
    back = _app(state)
    back.step(0)
    rollback_s = time.perf_counter() - t0
    if back.updates.slot != "a":
        raise RuntimeError("the unit did not roll back to slot a")
    back.close()
    return {"install_s": round(install_s, 4), "install_floor_s": round(floor_s, 4),
            "rollback_s": round(rollback_s, 4), "bundle_bytes": len(data),
            "unpacked_bytes": sum(map(len, unpacked))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-update-unit-") as tmp:
        figures = measure(Path(tmp))
    if args.json:
        print(json.dumps(figures, sort_keys=True))
        return 0
    print(f"bundle {figures['bundle_bytes']:,} bytes, {figures['unpacked_bytes']:,} bytes unpacked")
    print(f"install_s  {figures['install_s']:.3f} s  (SHA-256 floor of file + unpacked code "
          f"{figures['install_floor_s']:.3f} s)")
    print(f"rollback_s {figures['rollback_s']:.3f} s  (reject, reset, boot decision, unit up)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
