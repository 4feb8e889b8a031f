"""Errors of the visit use cases. Every one has a stable English ``code`` (logs,
traces, the office link) and a French ``message_fr`` for the 128x64 screen
(with its accents, docs/ui.md). The keypad UI catches :class:`VisitError` only:
errors of the cards, the store, the billing core and the unit are translated
here, keeping their own code and French text (docs/visit.md §Errors).
"""

from __future__ import annotations

from firmware.billing.errors import Issue
from firmware.cardapps.errors import WrongPin
from firmware.errors import TlaError


class VisitError(TlaError):
    """A use case could not be done. ``cause`` is the underlying error, if any."""

    code = "visit_error"
    message_fr = "Opération impossible"

    def __init__(self, detail: str = "", *, code: str | None = None,
                 message_fr: str | None = None, cause: BaseException | None = None):
        super().__init__(detail, code=code, message_fr=message_fr)
        self.cause = cause


class WrongState(VisitError):
    """The UI asked for a step the current state does not allow (our bug)."""

    code = "visit_wrong_state"
    message_fr = "Étape non permise"


class PinRejected(VisitError):
    """Wrong PIN; ``tries_left`` says how many tries remain before blocking."""

    def __init__(self, cause: WrongPin):
        # The card reader's error already words it for the screen: keep its code and text.
        super().__init__(f"{cause.tries_left} tries left", code=cause.code,
                         message_fr=cause.message_fr, cause=cause)
        self.tries_left = cause.tries_left


class ChecksRefused(VisitError):
    """Blocking billing checks; ``issues`` holds them all (errors and warnings),
    the first error gives the code and the French text."""

    def __init__(self, issues: tuple[Issue, ...]):
        errors = [i for i in issues if i.blocking]
        first = errors[0] if errors else Issue("check_failed", "Contrôle refusé")
        super().__init__("; ".join(f"{i.code}({i.field})" for i in errors),
                         code=first.code, message_fr=first.message_fr)
        self.issues = issues


CARD_NAMES = {"cps": "CPS", "vitale": "Vitale"}
SLOT_MESSAGES = {"card_removed": "Carte {} retirée", "card_absent": "Insérer carte {}",
                 "card_bad_signature": "Signature {} erronée"}


def translate(exc: BaseException, slot: str = "") -> VisitError:
    """The VisitError for an error of a lower layer (keeps its code and text).
    ``slot`` ("cps" or "vitale") names the card for card errors."""
    if isinstance(exc, VisitError):
        return exc
    if isinstance(exc, TlaError):
        detail = f"{slot}: {exc}" if slot else str(exc)
        message = getattr(exc, "message_fr", None)
        if slot and exc.code in SLOT_MESSAGES:
            message = SLOT_MESSAGES[exc.code].format(CARD_NAMES.get(slot, slot))
        return VisitError(detail, code=exc.code, message_fr=message, cause=exc)
    raise exc
