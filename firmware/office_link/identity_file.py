"""The unit's long-term link identity (docs/security.md), kept in one file.

``unit_identity.json``: ``{"sign": <hex Ed25519 private>, "kx": <hex X25519
private>}``, mode 0600, written atomically; created on first use.
"""

from __future__ import annotations

import json
from pathlib import Path

from .security import Identity, write_atomically


def load_identity(path: Path) -> Identity:
    """The unit's keys from ``path`` (created on first use, mode 0600)."""
    if path.exists():
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Identity.from_raw(bytes.fromhex(raw["sign"]), bytes.fromhex(raw["kx"]))
    identity = Identity.generate()
    sign, kx = identity.raw_private()
    write_atomically(path, json.dumps({"sign": sign.hex(), "kx": kx.hex()}).encode())
    return identity
