"""Errors of the unit's store. Each carries a stable English ``code`` (logs,
traces, the office link) and a short French ``message_fr`` for the 128x64 screen.

Whose fault it is decides the class (as in h11): :class:`StoreUsageError` means
the caller asked for something the store's rules forbid (bad transition, unknown
record, locked store); :class:`StoreCorrupted` and :class:`StoreIOError` mean the
medium let us down. None of them ever carries keys, PINs or patient data.
"""

from __future__ import annotations

from firmware.errors import TlaError


class StoreError(TlaError):
    code = "store_error"
    message_fr = "Erreur mémoire"


class StoreUsageError(StoreError):
    """The caller broke a rule of the store (bad transition, duplicate id...)."""

    code = "store_usage"
    message_fr = "Opération refusée"


class UnknownRecord(StoreUsageError):
    code = "store_unknown_record"
    message_fr = "Élément introuvable"


class DuplicateRecord(StoreUsageError):
    code = "store_duplicate"
    message_fr = "Élément déjà présent"


class BadTransition(StoreUsageError):
    code = "store_bad_transition"
    message_fr = "État incompatible"


class StoreLocked(StoreUsageError):
    """Patient data needs the unit unlocked with the CPS and its PIN."""

    code = "store_locked"
    message_fr = "Insérer carte CPS"


class NotProvisioned(StoreUsageError):
    code = "store_not_provisioned"
    message_fr = "Appairer le terminal"


class WrongCardProof(StoreError):
    """The card proof does not open any enrolled key wrap."""

    code = "store_wrong_card"
    message_fr = "Carte CPS non reconnue"


class StoreFull(StoreError):
    """A load would eat into the room reserved for signatures."""

    code = "store_full"
    message_fr = "Mémoire pleine"


class FseRangeRefused(StoreUsageError):
    """A new FSE number range does not start after every number already covered
    for that billing number (docs/store.md §FSE numbers): loading it could make a
    number go backwards or repeat."""

    code = "store_range_not_after"
    message_fr = "Plage FSE déjà couverte"


class NoFseNumber(StoreError):
    code = "store_no_fse_number"
    message_fr = "Plus de numéros FSE"


class StoreIOError(StoreError):
    """The medium failed a write or a sync; the call was not acknowledged."""

    code = "store_io"
    message_fr = "Erreur écriture mémoire"


class StoreCorrupted(StoreError):
    """The database failed its integrity check at start. ``export_path`` names
    the salvage export written before anything else was done."""

    code = "store_corrupted"
    message_fr = "Mémoire endommagée"

    def __init__(self, detail: str = "", *, export_path: str | None = None):
        super().__init__(detail)
        self.export_path = export_path


class StoreTooNew(StoreError):
    code = "store_too_new"
    message_fr = "Mémoire d'une version future"
