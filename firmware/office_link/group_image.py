"""SMP group 1, image management (Zephyr ``img_mgmt``), over the unit's A/B slots.

Commands (Zephyr *SMP group 1* specification; docs/update.md §Image group):

- 0 state, read: ``{"images": [{image, slot, version, hash, bootable, pending,
  confirmed, active, permanent}]}`` for slot 0 (``a``) and slot 1 (``b``); public;
- 0 state, write: ``{"hash": h, "confirm": false}`` tries that image at the next reset;
  ``{"confirm": true}`` (no hash, or the running one's) confirms the running image;
- 1 upload, write: ``{"image", "len", "off", "sha", "data", "upgrade"}`` ->
  ``{"off": n}``, and ``"match": true`` in the last answer;
- 5 erase, write: ``{"slot": n}`` (default: the slot that is not running);
- 6 slot info, read.

Only a host in an authenticated session, or any host while a person at the unit has
opened the update mode (``Access.UPDATE``, checked by the server with its
``update_open``), may upload, write state or erase; the bundle's signature
decides in every case whether anything is installed. Refusals are group errors with
Zephyr's ``img_mgmt`` codes (:class:`ImgErr`), v1 clients get the general code.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import Any

from firmware.update.bundle import BUNDLE_MAX, BundleError
from firmware.update.service import UpdateService
from firmware.update.slots import SLOTS, SlotError

from .dispatch import Access, Context, Route
from .header import GroupError, MgmtErr, MgmtError, Op, Request

GROUP_IMAGE = 1


class ImageCommand(IntEnum):
    STATE = 0
    UPLOAD = 1
    ERASE = 5
    SLOT_INFO = 6


class ImgErr(IntEnum):
    """Zephyr ``enum img_mgmt_err_code_t`` values the unit answers."""

    UNKNOWN = 1
    NO_IMAGE = 3
    INVALID_TLV = 5
    HASH_NOT_FOUND = 8
    NO_FREE_SLOT = 9
    FLASH_WRITE_FAILED = 12
    INVALID_SLOT = 14
    INVALID_LENGTH = 21
    INVALID_IMAGE_HEADER = 22
    INVALID_IMAGE_HEADER_MAGIC = 23
    INVALID_HASH = 24
    INVALID_FLASH_ADDRESS = 25
    CURRENT_VERSION_IS_NEWER = 27
    INVALID_IMAGE_DATA_OVERRUN = 31
    IMAGE_CONFIRMATION_DENIED = 32
    IMAGE_SETTING_TEST_TO_ACTIVE_DENIED = 33


# stable refusal code -> (img_mgmt rc, general code for v1 clients)
CODES: dict[str, tuple[ImgErr, MgmtErr]] = {
    "bundle.truncated": (ImgErr.INVALID_IMAGE_HEADER, MgmtErr.EINVAL),
    "bundle.bad_header": (ImgErr.INVALID_IMAGE_HEADER, MgmtErr.EINVAL),
    "bundle.trailing_data": (ImgErr.INVALID_IMAGE_HEADER, MgmtErr.EINVAL),
    "bundle.unsupported": (ImgErr.INVALID_IMAGE_HEADER, MgmtErr.ENOTSUP),
    "bundle.bad_magic": (ImgErr.INVALID_IMAGE_HEADER_MAGIC, MgmtErr.EINVAL),
    "bundle.bad_tlv": (ImgErr.INVALID_TLV, MgmtErr.EINVAL),
    "bundle.no_hash": (ImgErr.HASH_NOT_FOUND, MgmtErr.EINVAL),
    "bundle.bad_hash": (ImgErr.INVALID_HASH, MgmtErr.EINVAL),
    "bundle.sha_mismatch": (ImgErr.INVALID_HASH, MgmtErr.EINVAL),
    "bundle.unsigned": (ImgErr.INVALID_TLV, MgmtErr.EACCESSDENIED),
    "bundle.bad_signature": (ImgErr.INVALID_TLV, MgmtErr.EACCESSDENIED),
    "bundle.bad_payload": (ImgErr.INVALID_IMAGE_HEADER, MgmtErr.EINVAL),
    "bundle.bad_manifest": (ImgErr.INVALID_IMAGE_HEADER, MgmtErr.EINVAL),
    "bundle.bad_version": (ImgErr.INVALID_IMAGE_HEADER, MgmtErr.EINVAL),
    "bundle.wrong_board": (ImgErr.INVALID_FLASH_ADDRESS, MgmtErr.EINVAL),
    "bundle.not_newer": (ImgErr.CURRENT_VERSION_IS_NEWER, MgmtErr.EBADSTATE),
    "bundle.downgrade": (ImgErr.CURRENT_VERSION_IS_NEWER, MgmtErr.EBADSTATE),
    "slot.bad_length": (ImgErr.INVALID_LENGTH, MgmtErr.EINVAL),
    "slot.overrun": (ImgErr.INVALID_IMAGE_DATA_OVERRUN, MgmtErr.EINVAL),
    "slot.on_trial": (ImgErr.NO_FREE_SLOT, MgmtErr.EBUSY),
    "slot.no_upload": (ImgErr.NO_IMAGE, MgmtErr.EBADSTATE),
    "slot.no_image": (ImgErr.NO_IMAGE, MgmtErr.ENOENT),
    "slot.not_bootable": (ImgErr.NO_IMAGE, MgmtErr.EBADSTATE),
    "slot.test_running": (ImgErr.IMAGE_SETTING_TEST_TO_ACTIVE_DENIED, MgmtErr.EBADSTATE),
    "slot.not_checked": (ImgErr.IMAGE_CONFIRMATION_DENIED, MgmtErr.EBADSTATE),
    "slot.in_use": (ImgErr.INVALID_SLOT, MgmtErr.EBADSTATE),
    "slot.bad_wheel": (ImgErr.INVALID_IMAGE_HEADER, MgmtErr.EINVAL),
    "slot.seal_mismatch": (ImgErr.INVALID_HASH, MgmtErr.EINVAL),
    "slot.write_failed": (ImgErr.FLASH_WRITE_FAILED, MgmtErr.EUNKNOWN),
}


def refusal(exc: BundleError | SlotError) -> GroupError:
    rc, v1 = CODES.get(exc.code, (ImgErr.UNKNOWN, MgmtErr.EUNKNOWN))
    return GroupError(GROUP_IMAGE, int(rc), v1, f"{exc.code}: {exc.message}")


class ImageGroup:
    """Group 1 over an :class:`~firmware.update.service.UpdateService`."""

    group_id = GROUP_IMAGE

    def __init__(self, service: UpdateService):
        self.service = service

    def routes(self) -> Iterable[Route]:
        # Access.UPDATE: the server lets these through with a session (MAC checked) or
        # while SMPServer(update_open=...) says the update mode is open
        return [
            Route(ImageCommand.STATE, Op.READ, self.state_read, Access.PUBLIC),
            Route(ImageCommand.STATE, Op.WRITE, self.state_write, Access.UPDATE),
            Route(ImageCommand.UPLOAD, Op.WRITE, self.upload, Access.UPDATE),
            Route(ImageCommand.ERASE, Op.WRITE, self.erase, Access.UPDATE),
            Route(ImageCommand.SLOT_INFO, Op.READ, self.slot_info, Access.PUBLIC),
        ]

    # ---- state -----------------------------------------------------------------------------
    def images(self) -> list[dict[str, Any]]:
        state = self.service.state()
        images = []
        for index, slot in enumerate(SLOTS):
            info = state.info(slot)
            if info is None:
                continue
            images.append({
                "image": 0, "slot": index, "version": info.version,
                "hash": bytes.fromhex(info.hash), "bootable": info.bootable,
                "pending": state.pending == slot, "confirmed": state.primary == slot,
                "active": self.service.running == slot,
                "permanent": state.primary == slot and state.trying is None,
            })
        return images

    def state_read(self, request: Request, ctx: Context) -> dict[str, Any]:
        return {"images": self.images()}

    def state_write(self, request: Request, ctx: Context) -> dict[str, Any]:
        body = request.body
        image_hash, confirm = body.get("hash"), body.get("confirm", False)
        if not isinstance(confirm, bool) or (image_hash is not None and (
                not isinstance(image_hash, bytes) or len(image_hash) != 32)):
            raise MgmtError(MgmtErr.EINVAL, "'hash' must be 32 bytes and 'confirm' a boolean")
        running = self.service.state().info(self.service.running)
        try:
            if confirm and (image_hash is None or running is not None
                            and image_hash.hex() == running.hash):
                self.service.confirm_running()
            elif confirm:  # permanent without a trial: never (the health check decides)
                raise SlotError("slot.not_checked", "an image is confirmed only by its own "
                                                    "health check after a test boot")
            elif image_hash is None:
                raise MgmtError(MgmtErr.EINVAL, "'hash' is required to test an image")
            else:
                self.service.test(image_hash)
        except (BundleError, SlotError) as exc:
            raise refusal(exc) from None
        return {"images": self.images()}

    # ---- upload -------------------------------------------------------------------------------
    def upload(self, request: Request, ctx: Context) -> dict[str, Any]:
        body = request.body
        off, data = body.get("off"), body.get("data", b"")
        image, length = body.get("image", 0), body.get("len")
        sha, upgrade = body.get("sha"), body.get("upgrade", False)
        if isinstance(off, bool) or not isinstance(off, int) or off < 0 \
                or not isinstance(data, bytes):
            raise MgmtError(MgmtErr.EINVAL, "'off' must be an unsigned integer, 'data' bytes")
        if off == 0:
            if image not in (0, 1):  # one application image; 1 = its other slot (smpmgr --slot 1)
                raise refusal(SlotError("slot.in_use", f"no image {image!r}"))
            if isinstance(length, bool) or not isinstance(length, int):
                raise refusal(SlotError("slot.bad_length", "'len' is required at offset 0"))
            if length > BUNDLE_MAX:
                raise refusal(SlotError("slot.bad_length", f"'len' above {BUNDLE_MAX}"))
            if sha is not None and (not isinstance(sha, bytes) or len(sha) != 32):
                raise MgmtError(MgmtErr.EINVAL, "'sha' must be the 32-byte SHA-256 of the file")
            if not isinstance(upgrade, bool):
                raise MgmtError(MgmtErr.EINVAL, "'upgrade' must be a boolean")
        try:
            progress = self.service.upload_chunk(
                off, data, length=length if off == 0 else None,
                sha=sha if off == 0 else None, upgrade=bool(upgrade) if off == 0 else False)
        except (BundleError, SlotError) as exc:
            raise refusal(exc) from None
        except OSError as exc:  # the unit's storage: its fault, nothing installed
            self.service.abort_upload()
            raise refusal(SlotError("slot.write_failed", str(exc))) from None
        answer: dict[str, Any] = {"off": progress.offset}
        if progress.done:
            answer["match"] = True
        return answer

    # ---- erase, slot info ----------------------------------------------------------------------
    def erase(self, request: Request, ctx: Context) -> dict[str, Any]:
        slot_index = request.body.get("slot")
        if slot_index is None:
            slot = "b" if self.service.running == "a" else "a"
        elif slot_index in (0, 1) and not isinstance(slot_index, bool):
            slot = SLOTS[slot_index]
        else:
            raise refusal(SlotError("slot.in_use", f"no slot {slot_index!r}"))
        try:
            self.service.erase(slot)
        except SlotError as exc:
            raise refusal(exc) from None
        return {}

    def slot_info(self, request: Request, ctx: Context) -> dict[str, Any]:
        slots = [{"slot": i, "size": BUNDLE_MAX} for i in range(len(SLOTS))]
        return {"images": [{"image": 0, "slots": slots, "max_image_size": BUNDLE_MAX}]}
