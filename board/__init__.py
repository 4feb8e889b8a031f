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

from firmware.parts import Board

from .config import BoardConfig, ConfigError

# Files of the board package every kind runs (the seal covers them, docs/visit.md §Seal).
COMMON_SEALED = ("board/__init__.py", "board/config.py", "board/main.py")


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


__all__ = ["COMMON_SEALED", "BoardConfig", "ConfigError", "build"]
