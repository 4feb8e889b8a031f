"""A/B application slots (docs/update.md §Slots): sans-I/O decisions and a small file state.

Two slots, ``a`` and ``b``. The **primary** is the confirmed one the unit boots; an
upload lands in the other slot (the running slot is never written), is verified and
installed there. ``pending`` names a slot to try at the next boot (image state write
``confirm: false``); booting it makes it ``trying`` with ``BOOT_ATTEMPTS`` boots (RAUC's
boot-attempts): each boot of a trying slot spends one, and once they are spent without
a confirmation the unit boots the primary again and marks the trying slot not
bootable. The health check after a trying boot either confirms it (it becomes the
primary, permanent) or rejects it (rolled back at once). A slot installed at the
factory (the code the unit shipped with) has ``factory`` set and no slot directory.

The pure functions (:func:`boot`, :func:`confirm`, :func:`reject`, :func:`mark_pending`,
:func:`install_target`, :func:`erase`) take and return a :class:`SlotState`;
:class:`SlotStore` keeps it in ``state.json`` (written to a temporary file, then
renamed: a power cut leaves the old state or the new one) and does the file work
through :class:`~firmware.update.fsops.FsOps`.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path, PurePosixPath

from .fsops import FsOps, RealFs

log = logging.getLogger("opentla.update")

SLOTS = ("a", "b")
BOOT_ATTEMPTS = 3
STATE_FORMAT = 1


class SlotError(ValueError):
    """A slot operation refused; ``code`` is stable (group_image maps it to an rc)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SlotInfo:
    version: str
    hash: str  # hex: the image's SHA256 TLV (the factory slot: its seal)
    seal: str = ""  # hex seal of the installed code for this board ("" unknown)
    bootable: bool = True
    factory: bool = False


@dataclass(frozen=True)
class SlotState:
    slots: dict[str, SlotInfo | None]
    primary: str = "a"
    pending: str | None = None
    trying: str | None = None
    attempts: int = 0
    last: str = ""  # the last outcome, for the log and `tla update --status`

    def info(self, slot: str) -> SlotInfo | None:
        return self.slots.get(slot)

    def to_json(self) -> dict:
        body = asdict(self)
        body["format"] = STATE_FORMAT
        return body

    @classmethod
    def from_json(cls, raw: dict) -> SlotState:
        if raw.get("format") != STATE_FORMAT:
            raise ValueError(f"slot state format {raw.get('format')!r}")
        slots = {name: (SlotInfo(**raw["slots"][name]) if raw["slots"].get(name) else None)
                 for name in SLOTS}
        return cls(slots, raw["primary"], raw.get("pending"), raw.get("trying"),
                   int(raw.get("attempts", 0)), raw.get("last", ""))


def other(slot: str) -> str:
    return "b" if slot == "a" else "a"


def factory_state(factory: SlotInfo) -> SlotState:
    return SlotState({"a": replace(factory, factory=True), "b": None})


# ---- decisions (pure) -------------------------------------------------------------
def boot(state: SlotState) -> tuple[str, SlotState]:
    """Which slot to start now, and the state to make durable *before* starting it."""
    if state.pending is not None:
        slot = state.pending
        info = state.info(slot)
        if info is not None and info.bootable:
            return slot, replace(state, pending=None, trying=slot, attempts=BOOT_ATTEMPTS - 1)
        state = replace(state, pending=None)
    if state.trying is not None:
        if state.attempts > 0:
            return state.trying, replace(state, attempts=state.attempts - 1)
        state = reject(state, "boot_attempts")
    return state.primary, state


def confirm(state: SlotState) -> SlotState:
    """The trying slot passed its health check: it becomes the primary, permanently."""
    if state.trying is None:
        raise SlotError("slot.nothing_to_confirm", "no slot is on trial")
    slot = state.trying
    info = state.info(slot)
    return replace(state, primary=slot, trying=None, attempts=0,
                   last=f"confirmed {slot} {info.version if info else ''}".strip())


def reject(state: SlotState, reason: str) -> SlotState:
    """The trying slot failed (health check, or its boots ran out): back to the primary."""
    if state.trying is None:
        return state
    slot = state.trying
    info = state.info(slot)
    slots = dict(state.slots)
    if info is not None:
        slots[slot] = replace(info, bootable=False)
    return replace(state, slots=slots, trying=None, attempts=0,
                   last=f"rolled_back {slot} {reason}")


def mark_pending(state: SlotState, image_hash: bytes, running: str) -> SlotState:
    """Image state write ``{hash, confirm: false}``: try that slot at the next boot."""
    for slot in SLOTS:
        info = state.info(slot)
        if info is not None and info.hash == image_hash.hex():
            if slot == running:
                raise SlotError("slot.test_running", "that image is the one running")
            if not info.bootable:
                raise SlotError("slot.not_bootable", "that image failed its trial; upload it again")
            return replace(state, pending=slot)
    raise SlotError("slot.no_image", "no slot holds an image with that hash")


def install_target(state: SlotState, running: str) -> str:
    """The slot an upload may land in: never the running one, never the fallback of a trial."""
    if state.trying == running:
        raise SlotError("slot.on_trial", "the running version is on trial: wait for it to be "
                                         "confirmed (or rolled back) before uploading again")
    return other(running)


def installing(state: SlotState, slot: str) -> SlotState:
    """Before the slot's files change: it holds nothing bootable any more."""
    slots = dict(state.slots)
    slots[slot] = None
    return replace(state, slots=slots, pending=None if state.pending == slot else state.pending)


def installed(state: SlotState, slot: str, info: SlotInfo) -> SlotState:
    slots = dict(state.slots)
    slots[slot] = info
    return replace(state, slots=slots, last=f"installed {slot} {info.version}")


def erase(state: SlotState, slot: str, running: str) -> SlotState:
    if slot == running or slot == state.primary or slot == state.trying:
        raise SlotError("slot.in_use", f"slot {slot} is running or is the fallback")
    return installing(state, slot)


# ---- the file-backed store --------------------------------------------------------------
class SlotStore:
    """``root`` (``<state dir>/update``) holds ``state.json``, ``slot-a/`` and ``slot-b/``
    (each ``site/``: the unpacked wheels, and ``image.bin``: the verified bundle), and
    the upload in progress (``staging.bin``)."""

    def __init__(self, root: str | Path, factory: SlotInfo, fs: FsOps | None = None):
        self.root = Path(root)
        self.factory = factory
        self.fs: FsOps = fs or RealFs()
        self.state_path = self.root / "state.json"
        self.staging = self.root / "staging.bin"

    def slot_dir(self, slot: str) -> Path:
        return self.root / f"slot-{slot}"

    def site(self, slot: str) -> Path | None:
        """Where the slot's code is (None: the factory code, the running tree)."""
        info = self.load().info(slot)
        if info is None or info.factory:
            return None
        return self.slot_dir(slot) / "site"

    def load(self) -> SlotState:
        try:
            raw = json.loads(self.state_path.read_text(encoding="utf-8"))
            return SlotState.from_json(raw)
        except FileNotFoundError:
            return factory_state(self.factory)
        except (ValueError, KeyError, TypeError) as exc:  # cannot happen with atomic writes
            log.error("update_state_unreadable error=%s: starting the factory slot", exc)
            return factory_state(self.factory)

    def save(self, state: SlotState) -> None:
        self.fs.makedirs(self.root)
        tmp = self.state_path.with_name("state.json.tmp")
        self.fs.write(tmp, json.dumps(state.to_json(), indent=1, sort_keys=True).encode())
        self.fs.rename(tmp, self.state_path)

    def boot(self) -> tuple[str, SlotState]:
        """Decide the slot to start and make that decision durable first. A slot whose
        directory is missing is not bootable (as MCUboot checks the image at boot)."""
        state = self.load()
        for slot in SLOTS:
            info = state.info(slot)
            if info is not None and not info.factory and info.bootable and \
                    not (self.slot_dir(slot) / "site").is_dir():
                state = installed(state, slot, replace(info, bootable=False))
        slot, new = boot(state)
        if new != self.load():
            self.save(new)
        self._tidy(new)
        return slot, new

    def _tidy(self, state: SlotState) -> None:
        """Leftovers of a cut install: temporary directories, a slot dir no state names,
        the upload a restart dropped."""
        if self.staging.exists():
            self.fs.remove(self.staging)
        for slot in SLOTS:
            tmp = self.slot_dir(slot).with_name(f"slot-{slot}.new")
            if tmp.exists():
                self.fs.remove(tmp)
            info = state.info(slot)
            if (info is None or info.factory) and self.slot_dir(slot).exists():
                self.fs.remove(self.slot_dir(slot))

    # ---- install -----------------------------------------------------------------------
    def install(self, slot: str, image: bytes, version: str, image_hash: bytes,
                wheels: dict[str, bytes], seal_of: Callable[[Path], str] | None = None,
                expected_seal: str = "") -> SlotInfo:
        """Unpack ``wheels`` into ``slot`` (never the running one: the caller's check) and
        record it. A power cut at any step leaves the slot not bootable and the rest as
        it was. ``seal_of(site)`` computes the seal of the unpacked code; when the
        manifest gave one for this board (``expected_seal``) they must agree."""
        self.save(installing(self.load(), slot))
        tmp = self.slot_dir(slot).with_name(f"slot-{slot}.new")
        self.fs.remove(tmp)
        self.fs.makedirs(tmp / "site")
        for name in sorted(wheels):
            self._unpack_wheel(wheels[name], tmp / "site", name)
        self.fs.write(tmp / "image.bin", image, durable=False)
        self.fs.sync()  # the whole slot is on the medium before anything names it
        seal = seal_of(tmp / "site") if seal_of is not None else ""
        if expected_seal and seal != expected_seal:
            self.fs.remove(tmp)
            raise SlotError("slot.seal_mismatch", f"the installed code's seal {seal[:16]}... is "
                                                  f"not the manifest's {expected_seal[:16]}...")
        self.fs.remove(self.slot_dir(slot))
        self.fs.rename(tmp, self.slot_dir(slot))
        info = SlotInfo(version, image_hash.hex(), seal)
        self.save(installed(self.load(), slot, info))
        self.fs.remove(self.staging)
        log.info("update_installed slot=%s version=%s", slot, version)
        return info

    def _unpack_wheel(self, data: bytes, site: Path, name: str) -> None:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            members = archive.infolist()
        except zipfile.BadZipFile as exc:
            raise SlotError("slot.bad_wheel", f"{name}: not a wheel: {exc}") from None
        for member in members:
            rel = PurePosixPath(member.filename)
            if rel.is_absolute() or ".." in rel.parts:
                raise SlotError("slot.bad_wheel", f"{name}: entry {member.filename!r} escapes")
            target = site.joinpath(*rel.parts)
            if member.is_dir():
                self.fs.makedirs(target)
                continue
            self.fs.makedirs(target.parent)
            self.fs.write(target, archive.read(member), durable=False)

