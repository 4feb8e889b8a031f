"""The visit use cases (docs/visit.md): unlock with the CPS, prepared invoices,
Vitale reading, beneficiary choice, checks, signature in secured, degraded or
SESAM sans Vitale mode, invoices created on the spot, Vitale read only.
No UI code: the keypad-and-screen interface drives :class:`Terminal` and
:class:`Visit` and shows their plain results and French error texts."""

from .errors import ChecksRefused, PinRejected, VisitError, WrongState
from .results import (
    ActChoice,
    ActOption,
    BeneficiaryView,
    CheckReport,
    InvoiceSummary,
    IssueView,
    Professional,
    SignedResult,
    SituationView,
    VitaleReadResult,
    VitaleView,
)
from .terminal import Terminal
from .visit import TRANSITIONS, Visit, VitaleRead

__all__ = [
    "TRANSITIONS", "ActChoice", "ActOption", "BeneficiaryView", "CheckReport", "ChecksRefused",
    "InvoiceSummary", "IssueView", "PinRejected", "Professional", "SignedResult",
    "SituationView", "Terminal", "Visit", "VisitError", "VitaleRead", "VitaleReadResult",
    "VitaleView",
    "WrongState",
]
