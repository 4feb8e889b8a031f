"""The few filesystem operations the update code makes, behind one small interface.

Every write, rename and removal of an install, a switch or a confirmation goes
through a :class:`FsOps`, so a test can cut the power at any one of them
(:class:`CuttingFs`, the MCUboot simulator's way: interrupt the N-th flash
operation, for every N). :class:`RealFs` is the unit's: each file is written and
fsync'd, each rename is followed by an fsync of its directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol


class FsOps(Protocol):
    def write(self, path: Path, data: bytes, durable: bool = True) -> None:
        """Create or truncate ``path``, write ``data``, fsync the file (``durable``;
        else the caller makes many files durable at once with :meth:`sync`)."""
        ...

    def sync(self) -> None:
        """Everything written so far is on the medium."""
        ...

    def append(self, path: Path, data: bytes) -> None:
        """Append ``data`` to ``path`` (created if absent), fsync the file."""
        ...

    def rename(self, src: Path, dst: Path) -> None:
        """``os.replace`` then fsync of the destination's directory."""
        ...

    def remove(self, path: Path) -> None:
        """Remove a file or a whole directory tree (absent: nothing to do)."""
        ...

    def makedirs(self, path: Path) -> None:
        ...


class RealFs:
    """The unit's filesystem (see the module docstring)."""

    def write(self, path: Path, data: bytes, durable: bool = True) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)

    def sync(self) -> None:
        os.sync()  # one sync for a whole unpacked slot instead of one fsync per file

    def append(self, path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def rename(self, src: Path, dst: Path) -> None:
        os.replace(src, dst)
        fd = os.open(Path(dst).parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove(self, path: Path) -> None:
        path = Path(path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()

    def makedirs(self, path: Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)


class PowerCut(BaseException):
    """The simulated power went off (BaseException: no ``except Exception`` survives it)."""


class CuttingFs(RealFs):
    """:class:`RealFs` that cuts the power at operation number ``cut_at`` (1-based):
    that operation is done halfway (a write keeps the first half of its bytes, a
    rename or removal does not happen) and :class:`PowerCut` is raised. ``count``
    says how many operations ran; ``cut_at=None`` never cuts."""

    def __init__(self, cut_at: int | None = None):
        self.cut_at = cut_at
        self.count = 0
        self.cut = False

    def _tick(self) -> bool:
        self.count += 1
        return self.cut_at is not None and self.count == self.cut_at

    def write(self, path: Path, data: bytes, durable: bool = True) -> None:
        if self._tick():
            super().write(path, data[:len(data) // 2], durable)
            self.cut = True
            raise PowerCut(f"write {path}")
        super().write(path, data, durable)

    def sync(self) -> None:
        if self._tick():
            self.cut = True
            raise PowerCut("sync")
        super().sync()

    def append(self, path: Path, data: bytes) -> None:
        if self._tick():
            super().append(path, data[:len(data) // 2])
            self.cut = True
            raise PowerCut(f"append {path}")
        super().append(path, data)

    def rename(self, src: Path, dst: Path) -> None:
        if self._tick():
            self.cut = True
            raise PowerCut(f"rename {src}")
        super().rename(src, dst)

    def remove(self, path: Path) -> None:
        if self._tick():
            self.cut = True
            raise PowerCut(f"remove {path}")
        super().remove(path)

    def makedirs(self, path: Path) -> None:
        if self._tick():
            self.cut = True
            raise PowerCut(f"makedirs {path}")
        super().makedirs(path)
