"""Reference seals from update bundles, and the import-time seal flag
(docs/update-office.md §Seals; the lot-time check is docs/lots.md §Seal check).

- :func:`seal_from_bundle`: ``tla seal add --bundle FILE`` takes the version and the
  seal from a bundle the unit's own verifier accepts (signature, manifest), the seal
  of the board the practice runs (``tla bundle build`` computed it over the bundle's
  wheel, as the unit computes it at each start).
- :class:`SealFlags`: ``tla unload`` flags each FSE it imports whose seal is the
  reference of no version, or not of the version the FSE names: the same rule as
  the lots' (``office_lots.seal_check``), applied as the FSE arrives, so the practice
  hears of it at the unload, not days later at ``tla lots make``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cbor2

from . import office_lots
from .office_db import OfficeDb


class SealSourceError(ValueError):
    """The bundle file cannot give a seal (exit 2; the message names the file)."""


def seal_from_bundle(path: Path, board: str | None) -> tuple[str, bytes]:
    """(version, seal) of ``board`` in the bundle at ``path``, verified first."""
    from firmware.update import bundle as fmt

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SealSourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        checked = fmt.verify_bundle(data, fmt.builtin_keys())
    except fmt.BundleError as exc:
        raise SealSourceError(f"{path}: not a valid update bundle: {exc} [{exc.code}]") from None
    seals = checked.manifest.seals
    if board is None:
        if len(seals) != 1:
            boards = ", ".join(sorted(seals)) or "none"
            raise SealSourceError(f"{path}: carries the seals of {boards}: pick the practice's "
                                  "board with --board" if seals else
                                  f"{path}: its manifest carries no seal")
        board = next(iter(seals))
    if board not in seals:
        raise SealSourceError(f"{path}: no seal for board {board!r} in the bundle "
                              f"(it has: {', '.join(sorted(seals)) or 'none'})")
    return checked.manifest.version, bytes.fromhex(seals[board])


@dataclass(frozen=True)
class SealFlag:
    fse_id: str
    code: str  # office_lots.HOLD_SEAL_UNKNOWN or HOLD_SEAL_MISMATCH
    message: str


class SealFlags:
    """The office's reference seals, read once per unload."""

    def __init__(self, db: OfficeDb) -> None:
        self.references = office_lots.reference_seals(db)

    def check(self, fse_id: str, cose: bytes, seal: bytes) -> SealFlag | None:
        """A flag when the FSE's seal fails the lots' seal check, else None."""
        claimed = office_lots._claimed_version(cbor2.loads(cose).value)  # the lots' reader
        _, reason = office_lots.seal_check(seal, [claimed], self.references)
        if not reason:
            return None
        named = f"firmware {claimed}" if claimed else "a firmware that names no version"
        if reason == office_lots.HOLD_SEAL_UNKNOWN:
            text = (f"seal {seal.hex()[:16]}... of {named} is no reference seal "
                    "(tla seal add VERSION SEAL, or tla seal add --bundle FILE)")
        else:
            text = (f"seal {seal.hex()[:16]}... is not the reference seal of {named} "
                    "(check the unit's firmware; tla seal list)")
        return SealFlag(fse_id, reason, text)
