"""CPS-family reader (CPS, CPE, CDE): identity, situations, PIN, signature.

The PIN is turned into its 8-byte block only inside :meth:`CpsReader.verify_pin`
and is neither kept nor logged (connections log :func:`reader_base.redacted`).
"""

from __future__ import annotations

from datetime import date

from firmware.cardapps import cps_profile as cp
from firmware.cardapps.errors import (
    CardDead,
    CardExpired,
    NoFseHabilitation,
    NoLotHabilitation,
    PinFormatError,
    UnblockCodeWrong,
    check_sw,
)
from firmware.cardapps.model import ProfessionalCard, Situation
from firmware.cardapps.reader_base import CardAppReader
from firmware.iso7816.apdu import CardConnection, CommandAPDU

# What a CPS signature may be asked for (see sign_digest).
SIGN_PURPOSES = ("fse", "lot", "unlock")

class CpsReader(CardAppReader):
    """Reads and uses one inserted CPS-family card (cached for this insertion)."""

    aid = cp.AID
    card_name = "CPS"

    def __init__(self, conn: CardConnection):
        super().__init__(conn)
        self._card: ProfessionalCard | None = None
        self._pin_ok = False
        self._mse_ready = False

    # -- reading ---------------------------------------------------------------
    def read(self) -> ProfessionalCard:
        """Identity, situations, certificate and PIN tries left."""
        if self._card is not None:
            return self._card
        with self.decoding("CPS identity"):
            ident = cp.decode_identity(self.read_sfi(cp.SFI_IDENTITY, "CPS identity"))
        records = self.read_records(cp.EF_SITUATIONS)
        with self.decoding("CPS situations"):
            situations = tuple(cp.decode_situation(i, r) for i, r in enumerate(records))
        cert = self.read_sfi(cp.SFI_CERTIFICATE, "CPS certificate")
        tries = self.pin_tries_left()
        self._card = ProfessionalCard(
            situations=situations, certificate=cert, pin_tries_left=tries,
            atr=bytes(self.conn.atr), **ident,
        )
        return self._card

    # -- PIN -------------------------------------------------------------------
    def pin_tries_left(self) -> int:
        """VERIFY without data (ISO 7816-4 §11.5.6): 63Cx gives x; 9000 means the
        PIN is already verified in this session (counter at its maximum)."""
        self.select_application()
        resp = self.transmit(CommandAPDU(0x00, 0x20, 0x00, cp.PIN_REF))
        if resp.sw == 0x9000:
            return cp.PIN_TRIES
        if resp.sw1 == 0x63 and resp.sw2 & 0xF0 == 0xC0:
            return resp.sw2 & 0x0F
        check_sw(resp, "VERIFY (tries)")
        return cp.PIN_TRIES  # unreachable: check_sw raised

    def verify_pin(self, pin: str) -> None:
        """Raises WrongPin(tries_left), PinBlocked or PinFormatError."""
        try:
            block = cp.pin_block(pin)
        except ValueError as exc:
            raise PinFormatError(str(exc)) from None
        self.select_application()
        resp = self.transmit(CommandAPDU(0x00, 0x20, 0x00, cp.PIN_REF, block))
        del block
        self._pin_ok = False
        check_sw(resp, "VERIFY")
        self._pin_ok = True

    def change_pin(self, old: str, new: str) -> None:
        try:
            data = cp.pin_block(old) + cp.pin_block(new)
        except ValueError as exc:
            raise PinFormatError(str(exc)) from None
        self.select_application()
        resp = self.transmit(CommandAPDU(0x00, 0x24, 0x00, cp.PIN_REF, data))
        del data
        check_sw(resp, "CHANGE REFERENCE DATA")
        self._pin_ok = True

    def unblock_pin(self, puk: str, new_pin: str | None = None) -> None:
        """RESET RETRY COUNTER with the 8-digit code (and a new PIN if given)."""
        try:
            data = cp.puk_block(puk) + (cp.pin_block(new_pin) if new_pin else b"")
        except ValueError as exc:
            raise PinFormatError(str(exc)) from None
        self.select_application()
        p1 = 0x00 if new_pin else 0x01
        resp = self.transmit(CommandAPDU(0x00, 0x2C, p1, cp.PIN_REF, data))
        del data
        if resp.sw1 == 0x63 and resp.sw2 & 0xF0 == 0xC0:
            left = resp.sw2 & 0x0F
            if left == 0:
                raise CardDead("unblocking code blocked")
            raise UnblockCodeWrong(left)
        if resp.sw == 0x6983:
            raise CardDead("unblocking code blocked")
        check_sw(resp, "RESET RETRY COUNTER")

    # -- signature -------------------------------------------------------------
    def situation(self, which: int | Situation | None) -> Situation:
        card = self.read()
        if isinstance(which, Situation):
            return which
        index = 0 if which is None else which
        if not 0 <= index < len(card.situations):
            raise ValueError(f"no situation {index} on this card")
        return card.situations[index]

    def sign_digest(
        self, sha256_digest: bytes, situation: int | Situation | None = None, *, purpose: str = "fse"
    ) -> bytes:
        """MSE SET + PSO:CDS over DigestInfo(SHA-256, digest): a plain
        RSASSA-PKCS1-v1_5/SHA-256 signature (COSE RS256). The situation's
        habilitation for ``purpose`` is checked first: "fse" needs SIGNE_FSE,
        "lot" needs SIGNE_LOT, "unlock" (the proof that unlocks the unit's store,
        docs/security.md) needs no habilitation, only the verified PIN."""
        if purpose not in SIGN_PURPOSES:
            raise ValueError(f"unknown signing purpose {purpose!r}; expected one of {SIGN_PURPOSES}")
        sit = self.situation(situation)
        if purpose == "fse" and not sit.can_sign_fse:
            raise NoFseHabilitation(f"situation {sit.index} ({sit.billing_number}) cannot sign FSEs")
        if purpose == "lot" and not sit.can_sign_lot:
            raise NoLotHabilitation(f"situation {sit.index} ({sit.billing_number}) cannot sign lots")
        digest_info = cp.digest_info_sha256(sha256_digest)
        self.select_application()
        if not self._mse_ready:
            p1, p2 = cp.MSE_SET_DST
            resp = self.transmit(CommandAPDU(0x00, 0x22, p1, p2, cp.mse_set_data()))
            check_sw(resp, "MSE SET")
            self._mse_ready = True
        p1, p2 = cp.PSO_CDS
        resp = self.transmit(CommandAPDU(0x00, 0x2A, p1, p2, digest_info, le=256))
        return check_sw(resp, "PSO: COMPUTE DIGITAL SIGNATURE").data


def check_professional(card: ProfessionalCard, today: date) -> None:
    if card.valid_until is not None and today > card.valid_until:
        raise CardExpired(f"{card.card_type} valid until {card.valid_until}, today {today}")


def read_cps(conn: CardConnection) -> ProfessionalCard:
    return CpsReader(conn).read()


def verify_pin(conn: CardConnection, pin: str) -> None:
    CpsReader(conn).verify_pin(pin)


def pin_tries_left(conn: CardConnection) -> int:
    return CpsReader(conn).pin_tries_left()


def sign_digest(conn: CardConnection, sha256_digest: bytes, situation: int | None = None) -> bytes:
    return CpsReader(conn).sign_digest(sha256_digest, situation)

