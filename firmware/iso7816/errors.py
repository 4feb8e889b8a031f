"""Errors of the card link. Each carries a stable English ``code`` (logs, traces,
the office link) and a short French ``message_fr`` for the unit's screen.

Following h11, whose fault it is decides the class:
- :class:`CardProtocolError`: the card broke ISO 7816-3 (bad ATR, bad block, ...).
- :class:`LinkUsageError`: we misused the engine (a bug on our side): not a
  :class:`CardError`, so no use case shows it as a card fault; it reaches the top
  as an internal error.
- :class:`CardGone` / :class:`CardMute`: the card left or stopped answering.
"""

from __future__ import annotations

from firmware.errors import TlaError


class CardError(TlaError):
    code = "card_error"
    message_fr = "Erreur carte"


class CardAbsent(CardError):
    code = "card_absent"
    message_fr = "Carte absente"


class CardGone(CardError):
    """The card was removed (or its slot powered down) during an operation."""

    code = "card_removed"
    message_fr = "Carte retirée"


class CardMute(CardError):
    """No answer within the waiting time (ATR, WWT, BWT, CWT)."""

    code = "card_mute"
    message_fr = "Carte muette"


class CardProtocolError(CardError):
    """The card broke the rules of ISO 7816-3."""

    code = "card_protocol"
    message_fr = "Carte illisible"


class AtrError(CardProtocolError):
    code = "atr_invalid"
    message_fr = "Carte illisible (ATR)"


class PpsError(CardProtocolError):
    code = "pps_failed"
    message_fr = "Carte illisible (PPS)"


class LinkUsageError(TlaError, RuntimeError):
    """We called the engine in a state where that call is not allowed."""

    code = "link_usage"
    message_fr = "Erreur interne lecteur"
