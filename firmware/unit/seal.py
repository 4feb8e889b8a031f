"""The firmware seal (scellement, DESIGN.md §2): a SHA-256 fingerprint of the
installed ``firmware/`` package, computed at each start and carried in the
unit's FSE signature (docs/fse.md, header -65538).

Definition (docs/visit.md §Seal), so the office can recompute it from a release:

- files: every regular file under the package root, recursively, except
  ``__pycache__`` directories and ``*.pyc`` files (caches the interpreter
  writes; they change without the code changing);
- order: by relative path with ``/`` separators, compared as UTF-8 bytes;
- each file contributes ``path (UTF-8) || 0x00 || size (8 bytes, big-endian) ||
  content``; the length framing makes the byte stream unambiguous (a byte moved
  from one file's end to the next file's start changes the seal).

Seal = SHA-256 over the concatenation (FIPS 180-4).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import firmware

SKIP_DIRS = frozenset({"__pycache__"})
SKIP_SUFFIXES = (".pyc",)


def default_root() -> Path:
    return Path(firmware.__file__).resolve().parent


def sealed_files(root: str | Path) -> list[str]:
    """Relative paths (``/``-separated) of the files the seal covers, in seal order."""
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for name in filenames:
            full = Path(dirpath, name)
            if name.endswith(SKIP_SUFFIXES) or not full.is_file() or full.is_symlink():
                continue
            found.append(full.relative_to(root).as_posix())
    return sorted(found, key=lambda p: p.encode())


def firmware_seal(root: str | Path | None = None) -> bytes:
    """SHA-256 seal of the package at ``root`` (default: the running firmware)."""
    root = Path(root) if root is not None else default_root()
    h = hashlib.sha256()
    for rel in sealed_files(root):
        data = (root / rel).read_bytes()
        h.update(rel.encode() + b"\x00" + len(data).to_bytes(8, "big"))
        h.update(data)
    return h.digest()
