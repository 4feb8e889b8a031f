"""The office PC's long-term keys and the units it is paired with, in one JSON file.

Default path: ``$OPENTLA_HOME/host_keys.json`` or ``~/.config/opentla/host_keys.json``;
created on first use with mode 0600 and replaced atomically on every change.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from firmware.office_link.security import Identity, write_atomically


def default_path() -> Path:
    home = os.environ.get("OPENTLA_HOME")
    base = Path(home) if home else Path.home() / ".config" / "opentla"
    return base / "host_keys.json"


class KeyFileError(ValueError):
    """The key file exists but cannot be used (the message says why, in English)."""


@dataclass
class KnownUnit:
    uid: bytes  # the unit's Ed25519 public key
    kx_public: bytes  # the unit's X25519 public key
    label: str = ""  # serial once known


@dataclass
class HostKeys:
    path: Path
    identity: Identity
    name: str
    units: dict[bytes, KnownUnit] = field(default_factory=dict)

    @classmethod
    def load_or_create(cls, path: Path | None = None) -> HostKeys:
        path = Path(path) if path else default_path()
        if not path.exists():
            keys = cls(path, Identity.generate(), socket.gethostname()[:32] or "office")
            keys.save()
            return keys
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            identity = Identity.from_raw(bytes.fromhex(raw["sign"]), bytes.fromhex(raw["kx"]))
            units = {
                bytes.fromhex(uid): KnownUnit(bytes.fromhex(uid), bytes.fromhex(u["kx"]), u.get("label", ""))
                for uid, u in raw.get("units", {}).items()
            }
            return cls(path, identity, str(raw.get("name", "office"))[:32], units)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyFileError(f"host key file {path} is unusable: {exc}") from None

    def save(self) -> None:
        sign, kx = self.identity.raw_private()
        raw = {
            "sign": sign.hex(),
            "kx": kx.hex(),
            "name": self.name,
            "units": {
                u.uid.hex(): {"kx": u.kx_public.hex(), "label": u.label} for u in self.units.values()
            },
        }
        write_atomically(self.path, json.dumps(raw, indent=1, sort_keys=True).encode())

    def remember(self, unit: KnownUnit) -> None:
        self.units[unit.uid] = unit
        self.save()
