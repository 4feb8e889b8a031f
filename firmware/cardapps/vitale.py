"""Carte Vitale reader: identity, beneficiaries, rights, card authentication.
No PIN is needed (DESIGN.md §2).

>>> # reader = VitaleReader(conn); card = reader.read(); sig = reader.authenticate(b"...")
"""

from __future__ import annotations

from datetime import date

from firmware.cardapps import vitale_profile as vp
from firmware.cardapps.errors import CardExpired, CardRefused, VitaleOpposed, check_sw
from firmware.cardapps.model import VitaleCard
from firmware.cardapps.reader_base import CardAppReader
from firmware.iso7816.apdu import CardConnection, CommandAPDU


class VitaleReader(CardAppReader):
    """Reads one inserted Vitale card; caches the result for this insertion."""

    aid = vp.AID
    card_name = "Vitale"

    def __init__(self, conn: CardConnection):
        super().__init__(conn)
        self._card: VitaleCard | None = None

    def read(self, *, certificate: bool = True) -> VitaleCard:
        """SELECT the application, then READ BINARY by SFI, one per 256 bytes of
        each file (plus one 6Cxx round per file on T=0-style cards). A second call
        costs nothing, unless it now asks for the certificate."""
        cached = self._card
        if cached is not None:
            has_all = cached.certificate is not None or cached.variant == "vitale1"
            if has_all or not certificate:
                return cached
        with self.decoding("Vitale card file"):
            info = vp.decode_card_info(self.read_sfi(vp.SFI_CARD, "Vitale card file"))
        with self.decoding("Vitale beneficiaries"):
            bens = vp.decode_beneficiaries(self.read_sfi(vp.SFI_BENEFICIARIES, "beneficiaries"))
        cert = None
        if certificate and info.variant == 2:
            cert = self.read_sfi(vp.SFI_CERTIFICATE, "Vitale certificate")
        self._card = VitaleCard(
            serial=info.serial,
            variant=f"vitale{info.variant}",
            valid_until=info.valid_until,
            holder_nir=info.holder_nir,
            beneficiaries=bens,
            certificate=cert,
            atr=bytes(self.conn.atr),
        )
        return self._card

    def _internal_authenticate(self, p2: int, data: bytes) -> bytes:
        self.select_application()
        resp = self.transmit(CommandAPDU(0x00, vp.INS_INTERNAL_AUTHENTICATE, 0, p2, data, le=256))
        if resp.sw == 0x6D00:
            raise CardRefused("this Vitale card has no authentication key (Vitale 1)")
        return check_sw(resp, "INTERNAL AUTHENTICATE").data

    def authenticate(self, challenge: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5/SHA-256 signature of ``challenge`` by the card key."""
        if not 1 <= len(challenge) <= vp.MAX_CHALLENGE:
            raise ValueError(f"challenge of {len(challenge)} bytes (1..{vp.MAX_CHALLENGE})")
        return self._internal_authenticate(vp.P2_AUTH_CHALLENGE, challenge)

    def sign_digest(self, sha256_digest: bytes) -> bytes:
        """Signature of the message whose SHA-256 is given (verifies as RS256)."""
        if len(sha256_digest) != 32:
            raise ValueError("a SHA-256 digest has 32 bytes")
        return self._internal_authenticate(vp.P2_AUTH_DIGEST, sha256_digest)


def check_vitale(card: VitaleCard, today: date, opposition: frozenset[str] | set[str] = frozenset()) -> None:
    """Terminal-side checks: serial in the opposition list, card past its end date."""
    if card.serial in opposition:
        raise VitaleOpposed(f"serial {card.serial} is in the opposition list")
    if card.valid_until is not None and today > card.valid_until:
        raise CardExpired(f"Vitale valid until {card.valid_until}, today {today}")


def read_vitale(conn: CardConnection) -> VitaleCard:
    return VitaleReader(conn).read()


def authenticate_vitale(conn: CardConnection, challenge: bytes) -> bytes:
    return VitaleReader(conn).authenticate(challenge)
