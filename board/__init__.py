"""The composition root: ``build(config)`` returns the parts of the chosen board.

    from board import build
    from board.config import load_config
    parts = build(load_config(board="sim"))     # a firmware.parts.Board

Kinds (docs/board.md): ``sim`` (simulated twins, ``board/sim/parts.py``), ``pi``
(the reference Raspberry Pi board, ``board/pi/parts.py``), ``pc`` (PC/SC readers
and the PC's clock, ``board/pc.py``). Each kind's module is imported only when
chosen, so the sim board never imports a hardware library.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from firmware.parts import Board

from .config import BoardConfig, ConfigError

log = logging.getLogger("opentla.board")

# Files of the board package every kind runs (the seal covers them, docs/visit.md §Seal).
COMMON_SEALED = ("board/__init__.py", "board/config.py", "board/main.py", "board/run.py",
                 "board/systemd.py")


def build(config: BoardConfig) -> Board:
    """The parts of ``config.board``; raises :class:`ConfigError` for a bad
    configuration and the driver's own error (OSError...) for missing hardware."""
    if config.board == "sim":
        from .sim import parts as sim

        return sim.build(config)
    if config.board == "pi":
        from .pi import parts as pi

        return pi.build(config)
    if config.board == "pc":
        from . import pc

        return pc.build(config)
    raise ConfigError(f"unknown board {config.board!r} (sim, pi or pc)")


def link_symlink(path: Path, target: str) -> Callable[[], None]:
    """Point ``path`` at the pty ``target`` (replacing an old symlink); return
    what removes it."""
    if path.is_symlink():
        path.unlink()
    elif path.exists():
        raise ConfigError(f"link: {path} exists and is not a symlink; not replacing it")
    path.symlink_to(target)
    log.info("link_ready path=%s pty=%s", path, target)

    def remove() -> None:
        if path.is_symlink():
            path.unlink()
    return remove


__all__ = ["COMMON_SEALED", "BoardConfig", "ConfigError", "build", "link_symlink"]
