"""The firmware seal (scellement, DESIGN.md §2): a SHA-256 fingerprint of the
code the unit runs, computed at each start and carried in the unit's FSE
signature (docs/fse.md, header -65538).

What it covers comes from the composition root: the ``firmware`` package plus
the files of the chosen board (``board.build(config).sealed``, e.g.
``board/__init__.py``, ``board/config.py`` and ``board/pi``). The firmware
itself names no board.

Definition (docs/visit.md §Seal), so the office can recompute it from a release:

- roots: paths relative to the *base*, the directory that holds the
  ``firmware`` package (the source tree or ``site-packages``); a root is a
  directory (every regular file under it, recursively) or one file;
- skipped: ``__pycache__`` directories, ``*.pyc`` files (caches the interpreter
  writes; they change without the code changing) and symlinks;
- order: every file of every root together, by its ``/``-separated path
  relative to the base, compared as UTF-8 bytes (a file named twice counts once);
- each file contributes ``path (UTF-8) || 0x00 || size (8 bytes, big-endian) ||
  content``; the length framing makes the byte stream unambiguous (a byte moved
  from one file's end to the next file's start changes the seal).

Seal = SHA-256 over the concatenation (FIPS 180-4).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import firmware

SKIP_DIRS = frozenset({"__pycache__"})
SKIP_SUFFIXES = (".pyc",)
FIRMWARE_ROOTS: tuple[str, ...] = ("firmware",)


class SealRootError(ValueError):
    """A seal root that is absolute, climbs out of the base, or does not exist:
    a bug in the composition root, never something to skip silently."""


def default_base() -> Path:
    """The directory holding the running ``firmware`` package."""
    return Path(firmware.__file__).resolve().parent.parent


def _check_root(base: Path, root: str) -> Path:
    rel = PurePosixPath(root)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise SealRootError(f"seal root {root!r} must be a relative path inside the base")
    full = base.joinpath(*rel.parts)
    if full.is_symlink() or not (full.is_dir() or full.is_file()):
        raise SealRootError(f"seal root {root!r} is not a file or directory under {base}")
    return full


def sealed_files(roots: Sequence[str] = FIRMWARE_ROOTS, base: str | Path | None = None
                 ) -> list[str]:
    """Paths (``/``-separated, relative to ``base``) the seal covers, in seal order."""
    base = Path(base) if base is not None else default_base()
    found: set[str] = set()
    for root in roots:
        full = _check_root(base, root)
        if full.is_file():
            if not full.name.endswith(SKIP_SUFFIXES):
                found.add(full.relative_to(base).as_posix())
            continue
        for dirpath, dirnames, filenames in os.walk(full):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
            for name in filenames:
                path = Path(dirpath, name)
                if name.endswith(SKIP_SUFFIXES) or path.is_symlink() or not path.is_file():
                    continue
                found.add(path.relative_to(base).as_posix())
    return sorted(found, key=lambda p: p.encode())


def firmware_seal(roots: Sequence[str] = FIRMWARE_ROOTS, base: str | Path | None = None
                  ) -> bytes:
    """SHA-256 seal of ``roots`` under ``base`` (default: the running firmware alone)."""
    base = Path(base) if base is not None else default_base()
    h = hashlib.sha256()
    for rel in sealed_files(roots, base):
        data = base.joinpath(*rel.split("/")).read_bytes()
        h.update(rel.encode() + b"\x00" + len(data).to_bytes(8, "big"))
        h.update(data)
    return h.digest()
