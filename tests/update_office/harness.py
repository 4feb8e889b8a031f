"""A unit with A/B slots on a pty for the office's update tests: the real image group
(firmware/office_link/group_image.py) over the real update service and slot store,
the real SMP server (pairing, sessions), the real link runner.

What the whole unit's composition does around them is played here, as the unit's
docs describe it (docs/update.md): an OS reset drops the line for a moment, the unit
boots the slot ``SlotStore.boot`` picks, and a test boot runs its health check, which
confirms the slot or rolls back (``health_ok``). A cable can be cut after the Nth
upload answer (``cut_after_uploads``): the unit keeps serving, nothing reaches the PC.
"""

from __future__ import annotations

import threading

from link.helpers import FakeUnit
from transfer.helpers import UnitPort

from firmware.office_link.events import ResetRequested, Send
from firmware.office_link.framing import FrameDecoder, Packet
from firmware.office_link.group_image import ImageGroup
from firmware.office_link.security import Identity, MemoryPairedHosts
from firmware.office_link.server import SMPServer
from firmware.office_link.services import UnitInfo
from firmware.unit.seal import firmware_seal
from firmware.update import slots as slot_rules
from firmware.update.bundle import builtin_keys
from firmware.update.service import UpdateService
from firmware.update.slots import SlotInfo, SlotStore
from host_tools.bundle_build import sealed_roots

FACTORY = SlotInfo("0.1.0", "11" * 32)
DOWN_S = 0.6  # how long the line stays silent while the unit restarts
BUF = 32768  # the USB link's buffer (firmware.office_link.data_groups.TRANSFER_BUF_SIZE)


class BoardUnit(FakeUnit):
    """Unit info: the running slot's version, the board kind."""

    def __init__(self, owner: ImageUnit) -> None:
        super().__init__()
        self.owner = owner

    def unit_info(self) -> UnitInfo:
        info = self.owner.slots.load().info(self.owner.running)
        version = info.version if info else "?"
        return UnitInfo("TLA-UPD", version, "ab" * 32, 55, 1000, 8000, False, self.owner.board)


def _header(data: bytes) -> tuple[int, int] | None:
    items = FrameDecoder(1 << 17).feed(data)
    if len(items) == 1 and isinstance(items[0], Packet):
        packet = items[0].data
        return int.from_bytes(packet[4:6], "big"), packet[7]
    return None


class ImageUnit(UnitPort):
    def __init__(self, tmp, *, board: str = "sim", health_ok: bool = True,
                 down_s: float = DOWN_S, allow_downgrade: bool = False) -> None:
        self.board = board
        self.allow_downgrade = allow_downgrade
        self.down_s = down_s
        self.health_ok = health_ok
        self.identity = Identity.generate()
        self.hosts = MemoryPairedHosts()
        self.slots = SlotStore(tmp / "update", FACTORY)
        self.boots: list[str] = []
        self.outcomes: list[str] = []
        self.cut_after_uploads: int | None = None
        self.upload_answers = 0
        self.cut = False
        self.down_until: float | None = None
        super().__init__(self._boot())
        self._thread = threading.Thread(target=self.serve, daemon=True, name="image-unit")
        self._thread.start()

    # ---- the unit's life -----------------------------------------------------------------
    def _boot(self) -> SMPServer:
        slot, state = self.slots.boot()
        self.running = slot
        self.boots.append(slot)
        self.service = UpdateService(self.slots, slot, builtin_keys(), board=self.board,
                                     seal_of=self._seal_of,
                                     allow_downgrade=self.allow_downgrade,
                                     health_passed=lambda: self.health_ok)
        if state.trying == slot:  # a test boot: the health check decides
            if self.health_ok:
                self.service.confirm_running()
                self.outcomes.append("confirmed")
            else:
                self.slots.save(slot_rules.reject(self.slots.load(), "health_check"))
                self.outcomes.append("rolled_back")
                self.down_until = -1.0  # restart again, into the primary
        return SMPServer(self.identity, self.hosts, BoardUnit(self), buf_size=BUF,
                         groups=[ImageGroup(self.service)],
                         update_open=self.service.mode.active)  # as firmware/app.py

    def _seal_of(self, site) -> str:
        return firmware_seal(sealed_roots(self.board), site).hex()

    def _restart(self, now: float) -> None:
        self.server = self._boot()
        self.down_until = now + self.down_s if self.down_until == -1.0 else None
        if self.down_until is None:
            self.runner.reset()

    # ---- the link ------------------------------------------------------------------------
    def outgoing(self, actions: list) -> list:
        kept = []
        for action in actions:
            if isinstance(action, ResetRequested):
                self.down_until = self.runner.clock() + self.down_s
                continue
            if isinstance(action, Send):
                if _header(action.data) == (1, 1):
                    self.upload_answers += 1
                    if self.cut_after_uploads is not None and \
                            self.upload_answers > self.cut_after_uploads:
                        self.cut = True
                if self.cut:
                    continue
            kept.append(action)
        return kept

    def receive_data(self, data: bytes, now: float) -> list:
        if self.down_until is not None and now < self.down_until:
            return []  # restarting: nobody listens
        return super().receive_data(data, now)

    def tick(self, now: float) -> list:
        if self.down_until is not None and now >= self.down_until:
            self._restart(now)
        return super().tick(now)

    def replug(self) -> None:
        """The cable comes back (on the unit's thread)."""
        self.cut, self.cut_after_uploads = False, None
        self.runner.reset()

    # ---- test side -----------------------------------------------------------------------
    def call(self, fn):
        import queue

        box: queue.Queue = queue.Queue()
        self.calls.put((fn, box))
        ok, value = box.get(timeout=60)
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=10)
