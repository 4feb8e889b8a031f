"""The unit's update service: what the image group (SMP group 1) asks of the slots.

``UpdateService(slots, running, keys, board=..., seal_of=...)`` holds one upload at a
time (in RAM, its bytes in ``staging.bin``), verifies the finished file with
:func:`firmware.update.bundle.verify_bundle` and installs it in the slot that is not
running (:class:`~firmware.update.slots.SlotStore`). Every refusal is a
:class:`~firmware.update.bundle.BundleError` or a
:class:`~firmware.update.slots.SlotError` with a stable code; nothing is installed
from a file that did not verify, and a refused file changes nothing.

:class:`UpdateMode` is the window a person opens at the unit (keypad, "Mise à jour")
in which hosts without a session may use the image group (docs/update.md §Access).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from . import slots as slot_rules
from .bundle import (
    BUNDLE_MAX,
    HEADER,
    IMAGE_MAGIC,
    BundleError,
    ImageVersion,
    TrustedKey,
    verify_bundle,
)
from .slots import SlotError, SlotState, SlotStore

log = logging.getLogger("opentla.update")

UPDATE_MODE_S = 600.0  # the keypad's update mode lasts 10 minutes at most


class UpdateMode:
    """Opened by a person at the unit; ends at :meth:`close` or after ``duration_s``
    (``clock``: the unit's monotonic clock, the one the link's requests are timed by)."""

    def __init__(self, duration_s: float = UPDATE_MODE_S,
                 clock: Callable[[], float] = time.monotonic):
        self.duration_s = duration_s
        self.clock = clock
        self._until: float | None = None

    def open(self, now: float | None = None) -> None:
        self._until = (self.clock() if now is None else now) + self.duration_s
        log.info("update_mode_opened duration_s=%g", self.duration_s)

    def close(self) -> None:
        if self._until is not None:
            log.info("update_mode_closed")
        self._until = None

    def active(self, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        if self._until is not None and now >= self._until:
            self.close()
        return self._until is not None

    def left_s(self, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        return max(0.0, self._until - now) if self.active(now) and self._until else 0.0


@dataclass
class Upload:
    length: int
    sha: bytes | None
    upgrade: bool
    target: str
    offset: int = 0


@dataclass(frozen=True)
class UploadProgress:
    offset: int
    done: bool = False  # the last byte arrived, the bundle verified and is installed


class UpdateService:
    """See the module docstring. ``running`` is the slot this process booted;
    ``seal_of(site)`` the seal of code unpacked at ``site`` for this board."""

    def __init__(self, slots: SlotStore, running: str, keys: Sequence[TrustedKey], *,
                 board: str | None, seal_of: Callable[[Path], str] | None = None,
                 allow_downgrade: bool = False, mode: UpdateMode | None = None,
                 health_passed: Callable[[], bool] = lambda: False):
        self.slots = slots
        self.running = running
        self.keys = list(keys)
        self.board = board
        self.seal_of = seal_of
        self.allow_downgrade = allow_downgrade
        self.mode = mode or UpdateMode()
        self.health_passed = health_passed
        self.upload: Upload | None = None
        self._file: BinaryIO | None = None

    # ---- facts -----------------------------------------------------------------------
    def state(self) -> SlotState:
        return self.slots.load()

    def running_version(self) -> ImageVersion:
        info = self.state().info(self.running)
        return ImageVersion.of_package(info.version if info else "")

    # ---- upload -------------------------------------------------------------------------
    def upload_chunk(self, off: int, data: bytes, *, length: int | None = None,
                     sha: bytes | None = None, upgrade: bool = False) -> UploadProgress:
        """One upload request (docs/update.md §Upload): ``off == 0`` starts (or, same
        ``sha`` and ``length``, resumes) an upload; another offset must be the unit's,
        else the unit's offset is returned and nothing is written."""
        if off == 0:
            current = self.upload
            if (current is not None and sha is not None and current.sha == sha
                    and current.length == length and current.offset > 0):
                return UploadProgress(current.offset)  # resume where the cut left it
            self._start(length, sha, upgrade)
        current = self.upload
        if current is None or off != current.offset:
            return UploadProgress(current.offset if current else 0)
        if off + len(data) > current.length:
            raise SlotError("slot.overrun", f"{off + len(data)} bytes sent, {current.length} "
                                            "announced")
        if off == 0 and len(data) >= 32:
            self._early_check(data, current)
        if data:
            if self._file is None:
                raise SlotError("slot.no_upload", "no upload in progress")
            self._file.write(data)
            current.offset += len(data)
        if current.offset < current.length:
            return UploadProgress(current.offset)
        self._finish(current)
        return UploadProgress(current.length, done=True)

    def _start(self, length: int | None, sha: bytes | None, upgrade: bool) -> None:
        self.abort_upload()
        if length is None or not 32 < length <= BUNDLE_MAX:
            raise SlotError("slot.bad_length", f"'len' must be 33..{BUNDLE_MAX} at offset 0")
        target = slot_rules.install_target(self.state(), self.running)
        self.slots.fs.makedirs(self.slots.root)
        self._file = open(self.slots.staging, "wb")  # noqa: SIM115 - held across requests
        self.upload = Upload(length, sha, upgrade, target)
        log.info("update_upload_started len=%d target=%s", length, target)

    def _early_check(self, head: bytes, current: Upload) -> None:
        """At the first chunk: an MCUboot header, and newer when ``upgrade`` asks it."""
        try:
            version = _header_version(head)
            if current.upgrade and not version > self.running_version():
                raise BundleError("bundle.not_newer", f"version {version} is not newer than "
                                                      f"the running {self.running_version()}")
        except BundleError:
            self.abort_upload()
            raise

    def _finish(self, current: Upload) -> None:
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None
        try:
            data = self.slots.staging.read_bytes()
            if current.sha is not None and hashlib.sha256(data).digest() != current.sha:
                raise BundleError("bundle.sha_mismatch", "the file received does not match the "
                                                         "'sha' of the first packet")
            bundle = verify_bundle(data, self.keys, board=self.board,
                                   running=self.running_version(), upgrade=current.upgrade,
                                   allow_downgrade=self.allow_downgrade)
            expected = bundle.manifest.seals.get(self.board or "", "")
            self.slots.install(current.target, data, str(bundle.version), bundle.hash,
                               bundle.wheels(), self.seal_of, expected)
        except (BundleError, SlotError) as exc:
            log.warning("update_refused code=%s reason=%s", exc.code, exc.message)
            self.abort_upload()
            raise
        self.upload = None

    def abort_upload(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.upload = None
        self.slots.fs.remove(self.slots.staging)

    # ---- state write, erase ---------------------------------------------------------------
    def test(self, image_hash: bytes) -> SlotState:
        """Try the image with that hash at the next reset; an older version than the
        running one (going back to the previous slot) needs the technician flag."""
        state = slot_rules.mark_pending(self.state(), image_hash, self.running)
        target = state.info(state.pending or "")
        if target is not None and not self.allow_downgrade and \
                ImageVersion.of_package(target.version) < self.running_version():
            raise BundleError("bundle.downgrade", f"version {target.version} is older than "
                              f"the running {self.running_version()}: a technician must allow "
                              "downgrades")
        self.slots.save(state)
        log.info("update_pending slot=%s", state.pending)
        return state

    def confirm_running(self) -> SlotState:
        """``confirm: true`` for the running image: granted once confirmed or once its
        health check passed (the unit confirms itself then); never before."""
        state = self.state()
        if state.trying == self.running:
            if not self.health_passed():
                raise SlotError("slot.not_checked", "the health check has not passed yet")
            state = slot_rules.confirm(state)
            self.slots.save(state)
        return state

    def erase(self, slot: str) -> SlotState:
        state = slot_rules.erase(self.state(), slot, self.running)
        self.abort_upload()
        self.slots.save(state)
        self.slots.fs.remove(self.slots.slot_dir(slot))
        return state


def _header_version(head: bytes) -> ImageVersion:
    """The version in the first 32 bytes (the magic checked): the early upload check."""
    magic, *_rest = HEADER.unpack_from(head)
    if magic != IMAGE_MAGIC:
        raise BundleError("bundle.bad_magic", f"not an MCUboot image (magic 0x{magic:08x})")
    major, minor, revision, build = HEADER.unpack_from(head)[6:10]
    return ImageVersion(major, minor, revision, build)
