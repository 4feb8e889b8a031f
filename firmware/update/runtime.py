"""Updates in the running unit: which slot booted, its trial and health check.

``UnitUpdates.start(state_dir, roots, board=...)`` makes the boot decision durable
(:meth:`firmware.update.slots.SlotStore.boot`) and says what the unit runs: the slot,
its version (what the unit reports), the base its seal is computed over (the slot's
unpacked code), whether it is on trial. The unit composition
(:class:`firmware.app.UnitApp`) then runs, and after ``HEALTH_ROUNDS`` main-loop rounds
of a trial calls :meth:`UnitUpdates.health` with the checks' result: confirmed
(primary, permanent; the store's deferred migrations run then) or rolled back (the
unit resets into the previous slot).

On the simulated board a slot's code is the running tree: the slot gives the version
and the seal. On the Pi, ``tla-unit run`` execs the slot's code (docs/update.md §Boot).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from firmware.unit.seal import firmware_seal
from firmware.unit.unit import firmware_version

from . import slots as slot_rules
from .bundle import TrustedKey, builtin_keys, load_keys
from .fsops import FsOps
from .service import UpdateMode, UpdateService
from .slots import SlotError, SlotInfo, SlotStore

log = logging.getLogger("opentla.update")

HEALTH_ROUNDS = 5  # main-loop rounds (link, keypad, cards, screen) before the check


@dataclass
class UnitUpdates:
    slots: SlotStore
    slot: str  # the slot this process runs
    info: SlotInfo
    site: Path | None  # the slot's code (None: the factory code, the running tree)
    trial: bool
    service: UpdateService
    decided: bool = False  # the trial's health check ran (or there was no trial)
    healthy: bool = False
    started_s: float = field(default_factory=time.monotonic)
    boot_s: float = 0.0  # how long the boot decision took
    # the running tree's seal as start() computed it: (roots, seal_base, seal), so the
    # unit does not read and hash every sealed file a second time at boot
    factory_seal: tuple[tuple[str, ...], str | None, bytes] | None = None

    @classmethod
    def start(cls, state_dir: str | Path, roots: Sequence[str], *, board: str | None,
              seal_base: str | None = None, keys: Sequence[TrustedKey] | None = None,
              allow_downgrade: bool = False, fs: FsOps | None = None,
              mode: UpdateMode | None = None, booted: str | None = None) -> UnitUpdates:
        """``booted``: the slot a launcher already decided and exec'd into (its decision
        is durable; deciding again would spend a second boot attempt)."""
        began = time.monotonic()
        running_seal = firmware_seal(roots, seal_base)
        factory = SlotInfo(firmware_version(), running_seal.hex(), factory=True)
        slots = SlotStore(Path(state_dir) / "update", factory, fs)
        if booted in slot_rules.SLOTS:
            slot, state = booted, slots.load()
        else:
            slot, state = slots.boot()
        info = state.info(slot) or factory
        if info.factory:  # its version and seal are the running code's
            info = factory
        site = slots.site(slot)
        trial = state.trying == slot

        def seal_of(where: Path) -> str:
            try:
                return firmware_seal(roots, where).hex()
            except ValueError as exc:  # SealRootError: the bundle lacks the unit's code
                raise SlotError("slot.bad_wheel", f"the bundle does not hold the unit's "
                                                  f"code: {exc}") from None

        updates = cls(slots, slot, info, site, trial, UpdateService(
            slots, slot, keys if keys is not None else builtin_keys(), board=board,
            seal_of=seal_of, allow_downgrade=allow_downgrade, mode=mode))
        updates.factory_seal = (tuple(roots), seal_base, running_seal)
        updates.service.health_passed = lambda: updates.healthy
        updates.decided = not trial
        updates.boot_s = time.monotonic() - began
        log.info("update_boot slot=%s version=%s trial=%s", slot, info.version, trial)
        return updates

    @property
    def version(self) -> str:
        return self.info.version

    @property
    def seal_base(self) -> str | None:
        return str(self.site) if self.site is not None else None

    def health(self, problems: list[str]) -> bool:
        """The trial's verdict: no problem -> confirmed; else rolled back (the caller
        resets). Returns True when confirmed."""
        self.decided = True
        state = self.slots.load()
        if state.trying != self.slot:
            return True
        if problems:
            self.slots.save(slot_rules.reject(state, f"health: {problems[0]}"))
            log.error("update_rolled_back slot=%s problems=%s", self.slot, "; ".join(problems))
            return False
        self.slots.save(slot_rules.confirm(state))
        self.healthy = True
        log.info("update_confirmed slot=%s version=%s", self.slot, self.version)
        return True


def trusted_keys(paths: str) -> list[TrustedKey]:
    """``update_keys`` of the unit's config: a ``:``-separated list of PEM files or
    directories; empty = the built-in development key."""
    if not paths:
        return builtin_keys()
    return load_keys([p for p in paths.split(os.pathsep) if p])

