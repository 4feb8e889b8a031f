"""The ``pc`` board: the same firmware on a PC or tablet with standard PC/SC
readers (DESIGN.md §3, docs/board.md). Slots: two PC/SC readers
(``vitale_reader``, ``cps_reader``) through :mod:`board.pcsc` (pyscard, the
``pcsc`` extra, imported only when this board is built); clock: the PC's own;
no battery, display, keypad or buzzer; link: a pty like the sim board's (the
office tools on the same PC open it, ``link`` names a symlink to it).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from board import COMMON_SEALED, link_symlink
from board.config import BoardConfig, ConfigError
from firmware.parts import Board

log = logging.getLogger("opentla.board.pc")

SEALED = (*COMMON_SEALED, "board/pc.py", "board/pcsc.py", "board/sim/__init__.py",
          "board/sim/link_port.py")


class PcClock:
    """The PC's clock (kept by the PC, NTP): always set; the office cannot set it."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def set(self, utc: datetime) -> None:
        raise OSError("the pc board runs on the PC's own clock (set it with the PC's "
                      "settings or NTP), not from the office link")


def build(config: BoardConfig) -> Board:
    from board.pcsc import PcscReader  # pyscard: the pcsc extra
    from board.sim.link_port import PtyLinkPort

    missing = [key for key in ("vitale_reader", "cps_reader") if not getattr(config, key)]
    if missing:
        raise ConfigError(f"the pc board needs {' and '.join(missing)} (PC/SC reader names, "
                          "see `tla-card read --list` or pcsc_scan)")
    vitale, cps = PcscReader(config.vitale_reader), PcscReader(config.cps_reader)
    link = PtyLinkPort()
    board = Board(kind="pc", vitale=vitale, cps=cps, link=link, clock=PcClock(),
                  sealed=SEALED, closers=[vitale.close, cps.close])
    if config.link:
        board.closers.append(link_symlink(Path(config.link), link.path))
    return board
