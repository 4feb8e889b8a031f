"""The unit: store, card slots, clock, device key, seal, battery, composed once.

>>> # unit = Unit(UnitConfig(store_path="/data/tla.db"), vitale_slot=..., cps_slot=...,
>>> #             clock=rtc, gauge=fuel_gauge)
>>> # unit.unit_info().seal  -> hex SHA-256 of the running firmware

It implements the office link's :class:`firmware.office_link.services.UnitServices`
(unit_info, clock_now, set_clock). The visit use cases
(:mod:`firmware.visit`) reach the store, the slots and the keys only through it.
A slot is any callable returning a ready :class:`CardConnection` for the card in
that slot (the simulated :class:`~firmware.iso7816.link.CardLink` over a
``SimCardSlot``, the Pi slot, or a PC/SC connection); it raises
:class:`~firmware.iso7816.errors.CardError` (``card_absent`` ...) otherwise.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from typing import TypeVar

from firmware.billing.cose import DeviceSigner
from firmware.billing.tariffs import TariffTable
from firmware.iso7816.apdu import CardConnection
from firmware.office_link.services import UnitInfo
from firmware.parts import BatteryGauge
from firmware.store import Store
from firmware.store.capacity import DEFAULT_BUDGET
from firmware.store.errors import StoreError

from . import device_key, documents
from .clock import ClockNotSet, UnitClock
from .seal import FIRMWARE_ROOTS, firmware_seal

log = logging.getLogger("opentla.unit")

SlotFactory = Callable[[], CardConnection]
T = TypeVar("T")


@dataclass(frozen=True)
class UnitConfig:
    """Where things live. ``key_path`` defaults to ``<store_path>.device-key``;
    ``serial`` defaults to ``TLA-`` + the first 6 bytes of the store's random
    unit id in hex (stable for the life of the store); ``seal_roots`` and
    ``seal_base`` say what the seal covers (docs/visit.md §Seal; default: the
    running ``firmware`` package alone; the app adds the board's files);
    ``board`` is the board kind the office sees in the unit's info; ``version``
    the firmware version it reports (default: the installed package's; the
    running update slot's, docs/update.md); ``migrate`` False leaves the store's
    schema as it is (a new firmware on trial); ``seal`` the seal of ``seal_roots``
    under ``seal_base`` when the caller has just computed it (None: computed here)."""

    store_path: str
    key_path: str | None = None
    serial: str | None = None
    seal_roots: tuple[str, ...] = FIRMWARE_ROOTS
    seal_base: str | None = None
    board: str | None = None
    idle_timeout_s: float = 900.0
    budget_bytes: int | None = None
    version: str | None = None
    migrate: bool = True
    seal: bytes | None = None


def trace_code(text: str) -> str:
    """A store trace code (1-48 of [a-z0-9_.]) from an error or operation code."""
    return re.sub(r"[^a-z0-9_.]", "_", text.lower())[:48] or "unknown"


def firmware_version() -> str:
    try:
        return metadata.version("opentla")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


class Unit:
    """See the module docstring. ``monotonic`` drives the store's idle timer."""

    def __init__(self, config: UnitConfig, *, vitale_slot: SlotFactory, cps_slot: SlotFactory,
                 clock: UnitClock, gauge: BatteryGauge | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        self.config = config
        self.clock = clock
        self.gauge = gauge
        self.monotonic = monotonic
        self._vitale_slot = vitale_slot
        self._cps_slot = cps_slot
        self.seal = (config.seal if config.seal is not None
                     else firmware_seal(config.seal_roots, config.seal_base))
        self.firmware = config.version or firmware_version()
        self._device_key = device_key.load_or_create(
            config.key_path or config.store_path + ".device-key")
        budget = DEFAULT_BUDGET if config.budget_bytes is None else config.budget_bytes
        self.store = Store.open(config.store_path, clock=monotonic, wall_clock=self._wall,
                                idle_timeout_s=config.idle_timeout_s, budget_bytes=budget,
                                migrate=config.migrate)
        self.serial = config.serial or "TLA-" + self.store.unit_id[:6].hex().upper()
        self._tariff_cache: tuple[tuple, TariffTable] | None = None
        log.info("unit_started serial=%s seal=%s", self.serial, self.seal.hex()[:16])

    # ---- parts -------------------------------------------------------------------
    def connect_vitale(self) -> CardConnection:
        return self._vitale_slot()

    def connect_cps(self) -> CardConnection:
        return self._cps_slot()

    def device_signer(self) -> DeviceSigner:
        return DeviceSigner(self.serial, self._device_key, self.seal, self.firmware)

    def device_public_key(self) -> bytes:
        """Raw Ed25519 public key: what the office's FseVerifier needs for this unit."""
        return device_key.public_raw(self._device_key)

    def _wall(self) -> float:
        try:
            return self.clock.now().timestamp()
        except ClockNotSet:  # never set: the store still needs a timestamp
            return time.time()

    # ---- loaded data (store must be unlocked) -------------------------------------
    def tariffs(self) -> TariffTable:
        """The newest loaded tariff table (by load time, then id)."""
        infos = self.store.list_records("tariff")
        if not infos:
            raise documents.DocumentError("no tariff loaded", code="tariff_missing",
                                          message_fr="Aucun tarif chargé")
        info = max(infos, key=lambda i: (i.updated_at, i.record_id))
        key = (info.record_id, info.updated_at, info.size)
        if self._tariff_cache is None or self._tariff_cache[0] != key:
            table = documents.tariffs(self.store.get_record("tariff", info.record_id),
                                      info.record_id)
            self._tariff_cache = (key, table)
        return self._tariff_cache[1]

    def opposition(self) -> frozenset[str]:
        """Opposed Vitale serials of every loaded opposition list (empty if none)."""
        serials: set[str] = set()
        for info in self.store.list_records("opposition"):
            serials |= documents.opposition(self.store.get_record("opposition", info.record_id))
        return frozenset(serials)

    # ---- traces (DESIGN.md §4.7) -----------------------------------------------------
    def trace(self, operation: str, started: float, outcome: str) -> None:
        """Record how long ``operation`` took since ``started`` (``monotonic``) and
        its outcome code. Never fails the operation: a trace that cannot be
        written is only logged."""
        try:
            self.store.add_trace(trace_code(operation), self.monotonic() - started,
                                 trace_code(outcome))
        except StoreError as exc:
            log.warning("trace_not_written operation=%s code=%s", operation, exc.code)

    def timed(self, operation: str, fn: Callable[[], T]) -> T:
        """Run ``fn()`` and trace it as ``operation``: outcome ``ok``, or the raised
        error's ``code`` (``error`` when it has none); the error is re-raised."""
        started = self.monotonic()
        try:
            result = fn()
        except Exception as exc:
            self.trace(operation, started, str(getattr(exc, "code", "") or "error"))
            raise
        self.trace(operation, started, "ok")
        return result

    # ---- UnitServices (firmware/office_link/services.py) ---------------------------------
    def unit_info(self) -> UnitInfo:
        usage = self.store.usage()
        return UnitInfo(
            serial=self.serial,
            firmware=self.firmware,
            seal=self.seal.hex(),
            battery_percent=None if self.gauge is None else self.gauge.percent(),
            storage_used=usage.used_bytes,
            storage_total=usage.budget_bytes,
            locked=not self.store.is_unlocked,
            board=self.config.board,
        )

    def clock_now(self) -> datetime:
        return self.clock.now()

    def set_clock(self, utc: datetime) -> None:
        self.clock.set(utc)
        log.info("clock_set")

    def close(self) -> None:
        self.store.close()
