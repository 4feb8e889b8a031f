"""``make image``'s size report: the unit's image by component (docs/image.md §Sizes).

    python board/image/sizes.py --root DIR --boot DIR --image FILE [--root-part FILE] [--json FILE]

Components: kernel and firmware (the boot partition, the kernel's modules), OS (the rest
of the Debian root), Python (the interpreter and its standard library), our dependencies
(the venv's site-packages but ours) and our code (firmware/, board/, host_tools/ and
their metadata). Sizes are the files' apparent sizes (a file counted once, hard links
too); the targets are the issue's: root file system under 400 MiB, image under 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
ROOT_TARGET_MIB = 400
IMAGE_TARGET_MIB = 1024
OURS = ("firmware", "board", "host_tools")
VENV = "opt/opentla"


def component(rel: str) -> str:
    """The component of one file of the root, by its path relative to the root."""
    if rel.startswith("usr/lib/modules/") or rel.startswith("usr/lib/firmware/"):
        return "kernel and firmware"
    if rel.startswith(VENV + "/"):
        parts = rel.split("/")
        # opt/opentla/lib/python3.11/site-packages/<top>/...
        if len(parts) > 5 and parts[2] == "lib" and parts[4] == "site-packages":
            top = parts[5]
            if top in OURS or top.startswith("opentla-"):
                return "our code"
            return "our dependencies"
        return "our code"  # the venv's bin/ and pyvenv.cfg
    if (rel.startswith("usr/lib/python3") or rel.startswith("usr/bin/python3")
            or rel.startswith("usr/lib/aarch64-linux-gnu/libpython3")):
        return "Python"
    return "OS"


def tree_sizes(root: Path) -> dict[str, int]:
    seen: set[tuple[int, int]] = set()
    sizes: dict[str, int] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            st = path.lstat()
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            kind = component(path.relative_to(root).as_posix())
            sizes[kind] = sizes.get(kind, 0) + st.st_size
    return sizes


def report(root: Path, boot: Path, image: Path, root_part: Path | None) -> dict[str, Any]:
    sizes = tree_sizes(root)
    boot_bytes = sum(tree_sizes(boot).values())
    sizes["kernel and firmware"] = sizes.get("kernel and firmware", 0) + boot_bytes
    root_files = sum(tree_sizes(root).values())
    return {
        "components_mib": {k: round(sizes.get(k, 0) / MIB, 1) for k in (
            "kernel and firmware", "OS", "Python", "our dependencies", "our code")},
        "boot_files_mib": round(boot_bytes / MIB, 1),
        "root_files_mib": round(root_files / MIB, 1),
        "root_partition_mib": round(root_part.stat().st_size / MIB, 1) if root_part else None,
        "image_mib": round(image.stat().st_size / MIB, 1),
        "root_target_mib": ROOT_TARGET_MIB,
        "image_target_mib": IMAGE_TARGET_MIB,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the root file system's tree")
    parser.add_argument("--boot", type=Path, required=True, help="the boot partition's tree")
    parser.add_argument("--image", type=Path, required=True, help="the disk image")
    parser.add_argument("--root-part", type=Path, help="the root partition's file")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    r = report(args.root, args.boot, args.image, args.root_part)
    if args.json:
        args.json.write_text(json.dumps(r, indent=1) + "\n")
    print("size by component (MiB; kernel and firmware include the boot partition's files):")
    for name, mib in r["components_mib"].items():
        print(f"  {name:22} {mib:8.1f}")
    ok_root = r["root_files_mib"] < ROOT_TARGET_MIB
    ok_image = r["image_mib"] < IMAGE_TARGET_MIB
    print(f"root file system files  {r['root_files_mib']:8.1f} MiB  (target < {ROOT_TARGET_MIB} "
          f"MiB: {'ok' if ok_root else 'OVER'}; partition {r['root_partition_mib']} MiB)")
    print(f"image                   {r['image_mib']:8.1f} MiB  (target < {IMAGE_TARGET_MIB} "
          f"MiB: {'ok' if ok_image else 'OVER'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
