"""What the SMP server hands back to its driver: bytes to send and events for the unit.

The driver (a serial port, the simulated pty) writes :class:`Send` data to the line;
the application shows the screen events (each has French text in ``message_fr``) and
logs the rest under their stable English ``code``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Send:
    """Write these bytes to the serial line."""

    data: bytes


@dataclass(frozen=True)
class PairingRequested:
    """A host asks to pair: show the code, wait for Valider (confirm) or Annuler (reject)."""

    code: str
    host_name: str

    @property
    def message_fr(self) -> str:
        return f"Appairage PC\n{self.host_name[:16]}\nCode {self.code}\nValider ?"


@dataclass(frozen=True)
class PairingEnded:
    """The pairing request is over. ``reason``: paired, rejected, expired, failed."""

    reason: str
    host_name: str = ""

    @property
    def message_fr(self) -> str:
        return {
            "paired": "PC appairé",
            "rejected": "Appairage refusé",
            "expired": "Appairage expiré",
        }.get(self.reason, "Appairage échoué")


@dataclass(frozen=True)
class SessionOpened:
    host_name: str

    @property
    def message_fr(self) -> str:
        return f"Connecté à\n{self.host_name[:16]}"


@dataclass(frozen=True)
class SessionClosed:
    """``reason``: ended (by the host), idle (timeout), reset (link reset)."""

    reason: str


@dataclass(frozen=True)
class ClockSet:
    """The office set the unit's clock (UTC)."""

    utc: datetime


@dataclass(frozen=True)
class ResetRequested:
    """Restart the unit once the response has been sent (OS group, command 5)."""


@dataclass(frozen=True)
class LinkError:
    """Something on the link was refused or dropped; ``code`` is stable for logs/traces."""

    code: str
    detail: str


Action = Send | PairingRequested | PairingEnded | SessionOpened | SessionClosed | ClockSet | ResetRequested | LinkError
