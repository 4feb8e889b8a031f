"""The unit's composition: store, card slots, clock, device key and firmware
seal (docs/visit.md). No UI and no hardware driver here: drivers are injected."""

from .clock import ClockNotSet, OffsetClock, UnitClock
from .device_key import DeviceKeyError
from .documents import DocumentError
from .seal import firmware_seal, sealed_files
from .unit import BatteryGauge, Unit, UnitConfig, firmware_version

__all__ = [
    "BatteryGauge", "ClockNotSet", "DeviceKeyError", "DocumentError", "OffsetClock", "Unit",
    "UnitClock", "UnitConfig", "firmware_seal", "firmware_version", "sealed_files",
]
