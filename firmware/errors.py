"""The one error shape of the unit's application.

Every error the firmware raises on purpose carries a stable English ``code``
(logs, traces, structured codes on the office link) and a short French
``message_fr`` for the 128x64 screen (French with its accents: the UI ships a
font that has them, docs/ui.md).
Each package (card link, cards, billing, store, visit) derives its own family
from :class:`TlaError`, so the UI can catch one class and show ``message_fr``.
"""

from __future__ import annotations


class TlaError(Exception):
    code = "error"
    message_fr = "Erreur"

    def __init__(self, detail: str = "", *, code: str | None = None, message_fr: str | None = None):
        super().__init__(detail or code or self.code)
        self.detail = detail
        if code is not None:
            self.code = code
        if message_fr is not None:
            self.message_fr = message_fr

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code


class InternalError(RuntimeError):
    """Our own bug: the code reached a state its own rules rule out. Deliberately
    not a :class:`TlaError`: nothing presents it as the user's, card's or peer's
    fault; the UI logs it with its traceback and shows "Erreur interne"."""
