"""Errors and check findings of the billing core.

Every problem has a stable English ``code`` (logs, office link) and a short French
``message_fr`` for the unit's 128x64 screen (ASCII only: the display font has no
accents, same convention as firmware/iso7816/errors.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.errors import TlaError


class BillingError(TlaError):
    """Base class. ``field`` names the offending field (e.g. ``lines[2].coefficient``)."""

    code = "billing_error"
    message_fr = "Erreur facturation"

    def __init__(
        self,
        detail: str = "",
        *,
        code: str | None = None,
        message_fr: str | None = None,
        field: str = "",
    ):
        super().__init__(detail, code=code, message_fr=message_fr)
        self.field = field

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        return f"{self.code}{where}: {self.detail}" if self.detail else f"{self.code}{where}"


class InvoiceFormatError(BillingError):
    """A dict (from CBOR/JSON) does not describe a valid invoice or tariff."""

    code = "invoice_format"
    message_fr = "Facture illisible"


class TariffError(BillingError):
    code = "tariff_invalid"
    message_fr = "Tarif invalide"


class CheckFailed(BillingError):
    """Raised by :func:`firmware.billing.fse.build_fse` when a blocking check failed."""

    code = "check_failed"
    message_fr = "Contrôle refusé"

    def __init__(self, issues: tuple[Issue, ...]):
        errors = [i for i in issues if i.blocking]
        first = errors[0] if errors else None
        super().__init__(
            "; ".join(f"{i.code}({i.field})" for i in errors),
            code=first.code if first else None,
            message_fr=first.message_fr if first else None,
            field=first.field if first else "",
        )
        self.issues = issues


class FseFormatError(BillingError):
    """Bytes are not a well-formed FSE (structure, CBOR, headers)."""

    code = "fse_format"
    message_fr = "FSE illisible"


class FseVerificationError(BillingError):
    """A well-formed FSE failed verification (signature, chain, rules)."""

    code = "fse_invalid"
    message_fr = "FSE non valide"


ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Issue:
    """One finding of the checks before signing."""

    code: str
    message_fr: str
    severity: str = ERROR  # ERROR blocks the signature, WARNING is shown and recorded
    field: str = ""
    detail: str = ""

    @property
    def blocking(self) -> bool:
        return self.severity == ERROR
