"""Errors of the card applications (Vitale and CPS readers).

Each one carries a stable English ``code`` (logs, traces, office link) and a short
French ``message_fr`` for the 128x64 screen (with its accents, docs/ui.md).
:func:`check_sw` turns an ISO 7816-4 status word into the precise error.
"""

from __future__ import annotations

from firmware.iso7816.apdu import ResponseAPDU
from firmware.iso7816.errors import CardError


class CardAppError(CardError):
    code = "card_app"
    message_fr = "Erreur carte"


class WrongCard(CardAppError):
    """The expected application is not on this card (6A82 on SELECT by AID)."""

    code = "card_wrong_type"
    message_fr = "Carte non reconnue"


class CardFileMissing(CardAppError):
    code = "card_file_missing"
    message_fr = "Carte incomplète"


class CardDataError(CardAppError):
    """The card answered, but its data do not follow the profile."""

    code = "card_data_invalid"
    message_fr = "Données carte invalides"


class WrongPin(CardAppError):
    code = "pin_wrong"

    def __init__(self, tries_left: int, detail: str = ""):
        self.tries_left = tries_left
        plural = "s" if tries_left > 1 else ""
        super().__init__(
            detail or f"{tries_left} tries left",
            message_fr=f"Code faux, {tries_left} essai{plural} restant{plural}",
        )


class PinBlocked(CardAppError):
    code = "pin_blocked"
    message_fr = "Carte bloquée"


class PinFormatError(CardAppError):
    code = "pin_format"
    message_fr = "Code à 4 chiffres"


class UnblockCodeWrong(CardAppError):
    code = "puk_wrong"

    def __init__(self, tries_left: int, detail: str = ""):
        self.tries_left = tries_left
        super().__init__(
            detail or f"{tries_left} tries left",
            message_fr=f"Code déblocage faux ({tries_left})",
        )


class CardDead(CardAppError):
    """The unblocking code is blocked too: the card is unusable."""

    code = "card_dead"
    message_fr = "Carte inutilisable"


class PinRequired(CardAppError):
    code = "pin_required"
    message_fr = "Code porteur requis"


class CardRefused(CardAppError):
    """Conditions of use not satisfied (6985) or another refusal."""

    code = "card_refused"
    message_fr = "Opération refusée"


class CardExpired(CardAppError):
    code = "card_expired"
    message_fr = "Carte expirée"


class VitaleOpposed(CardAppError):
    code = "vitale_opposed"
    message_fr = "Carte Vitale en opposition"


class NoFseHabilitation(CardAppError):
    code = "cps_no_fse_right"
    message_fr = "Carte non habilitée FSE"


class NoLotHabilitation(CardAppError):
    code = "cps_no_lot_right"
    message_fr = "Carte non habilitée lots"


class CertificateInvalid(CardAppError):
    code = "card_cert_invalid"
    message_fr = "Certificat carte invalide"


class UnexpectedStatus(CardAppError):
    code = "card_status"
    message_fr = "Erreur carte"

    def __init__(self, sw: int, detail: str = ""):
        self.sw = sw
        super().__init__(detail or f"SW {sw:04X}", code=f"card_sw_{sw:04X}")


def check_sw(resp: ResponseAPDU, what: str, *, allow: tuple[int, ...] = ()) -> ResponseAPDU:
    """Return ``resp`` if it is 9000 (or in ``allow``); raise the precise error otherwise.

    ``what`` names the operation for the log detail. Mapping (ISO 7816-4 §5.1.3):
    63Cx -> WrongPin(x), 63C0 and 6983 -> PinBlocked; 6982 -> PinRequired; 6985 -> CardRefused;
    6A82 -> CardFileMissing; anything else -> UnexpectedStatus with ``card_sw_XXXX``.
    """
    sw = resp.sw
    if sw == 0x9000 or sw in allow:
        return resp
    detail = f"{what}: {resp.describe()}"
    if resp.sw1 == 0x63 and resp.sw2 & 0xF0 == 0xC0:
        if resp.sw2 == 0xC0:
            raise PinBlocked(detail)  # the last try just failed
        raise WrongPin(resp.sw2 & 0x0F, detail)
    if sw == 0x6983:
        raise PinBlocked(detail)
    if sw == 0x6982:
        raise PinRequired(detail)
    if sw == 0x6985:
        raise CardRefused(detail)
    if sw == 0x6A82:
        raise CardFileMissing(detail)
    raise UnexpectedStatus(sw, detail)
