"""The one error the office's link calls raise when the unit says no (or cannot be trusted)."""

from __future__ import annotations


class LinkRefused(Exception):
    """The unit answered with an SMP error, or failed to prove who it is."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
