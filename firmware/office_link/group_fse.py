"""Group 84: signed FSEs to the office (``docs/protocol.md`` §7).

Commands 1-3 (LIST, PULL, ACK) are the shared unload commands of
:mod:`firmware.office_link.group_unload`; command 0 tells the office which key signs the
unit's part of each FSE:

- DEVICE (cmd 0, read) ``{}`` -> ``{"unit_id": "SIM-0001", "key": h'32 bytes'}``:
  the FSE payload's ``unit_id`` and the raw Ed25519 public key of the unit's
  device signature (RFC 8032). The office learns it over the authenticated session
  and checks every FSE's unit signature with it.

FSE lifecycle on the unit (firmware.store): ``signed`` -> ``offered`` when its last
byte is pulled -> ``imported`` on ACK with the office's import id -> purgeable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .dispatch import Context, Route
from .group_unload import UnloadGroup
from .header import Op, Request

GROUP_FSE = 84
PENDING = ("signed", "offered")


@dataclass(frozen=True)
class DeviceIdentity:
    """The unit's FSE signing identity: payload ``unit_id`` and Ed25519 public key."""

    unit_id: str
    public_key: bytes


class FseSource:
    """Signed FSEs of a firmware.store Store (duck-typed, see RecordSource)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def unlocked(self) -> bool:
        return bool(self.store.is_unlocked)

    def order(self) -> list[tuple[str, int, str, str, int]]:
        return [(f.fse_id, f.fse_number, f.professional_id, f.status, f.size)
                for f in self.store.list_fses()]

    def pending(self, status: str) -> bool:
        return status in PENDING

    def read(self, record_id: str) -> bytes:
        return self.store.get_fse(record_id)

    def served(self, record_id: str) -> None:
        if self.store.fse_info(record_id).status == "signed":
            self.store.offer(record_id)

    def acknowledge(self, record_id: str, import_id: str) -> None:
        if self.store.fse_info(record_id).status == "signed":
            self.store.offer(record_id)  # pulled before a crash of the unit: still sent
        self.store.confirm_import(record_id, import_id)


class FseGroup(UnloadGroup):
    """Group 84 = the unload commands over FSEs, plus DEVICE."""

    def __init__(self, store: Any, device: DeviceIdentity, buf_size: int) -> None:
        super().__init__(GROUP_FSE, FseSource(store), buf_size)
        self.device = device

    def routes(self) -> Iterable[Route]:
        return [Route(0, Op.READ, self.device_info), *super().routes()]

    def device_info(self, request: Request, ctx: Context) -> dict[str, Any]:
        return {"unit_id": self.device.unit_id, "key": self.device.public_key}
