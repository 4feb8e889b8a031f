"""Build emulated cards from domain objects, with the layouts of the shared
profiles (:mod:`firmware.cardapps.vitale_profile`, :mod:`firmware.cardapps.cps_profile`).
"""

from __future__ import annotations

from datetime import date

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from board.sim.cardos.card import CardOS
from board.sim.cardos.filesystem import Application, RecordEF, TransparentEF
from board.sim.cardos.secrets import KeySlot, PinState
from firmware.cardapps import cps_profile as cps
from firmware.cardapps import vitale_profile as vp
from firmware.cardapps.fields import encode_date
from firmware.cardapps.model import Beneficiary, Situation


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def make_vitale(
    *,
    serial: str,
    variant: int,
    valid_until: date | None,
    beneficiaries: list[Beneficiary],
    key: rsa.RSAPrivateKey | None = None,
    cert: x509.Certificate | None = None,
    name: str = "",
) -> CardOS:
    """A Vitale card. Variant 1 (inverse convention ATR) has no certificate and
    no INTERNAL AUTHENTICATE; variant 2 has both."""
    holder = beneficiaries[0]
    app = Application(vp.AID)
    app.add(
        TransparentEF(
            vp.EF_CARD,
            vp.encode_card_info(
                vp.CardInfo(serial, valid_until, variant, holder.nir + holder.nir_key)
            ),
            vp.SFI_CARD,
        )
    )
    app.add(
        TransparentEF(
            vp.EF_BENEFICIARIES, vp.encode_beneficiaries(beneficiaries), vp.SFI_BENEFICIARIES
        )
    )
    auth = None
    if variant == 2:
        if key is None or cert is None:
            raise ValueError("a Vitale 2 card needs its key and certificate")
        app.add(TransparentEF(vp.EF_CERTIFICATE, _der(cert), vp.SFI_CERTIFICATE))
        auth = KeySlot(key)
    objects = {0x005A: serial.encode("ascii")}
    if valid_until is not None:
        objects[0x5F24] = encode_date(valid_until)
    return CardOS(
        atr=vp.ATR_VITALE2 if variant == 2 else vp.ATR_VITALE1,
        applications=[app],
        auth_key=auth,
        data_objects=objects,
        read_past_end_sw=vp.READ_PAST_END_SW,
        name=name,
    )


def make_professional(
    *,
    card_type: str,
    id_type: str,
    national_id: str,
    name: str,
    first_name: str,
    serial: str,
    valid_until: date | None,
    situations: list[Situation],
    pin: str,
    puk: str,
    key: rsa.RSAPrivateKey,
    cert: x509.Certificate,
    generation: int = 4,
    label: str = "",
) -> CardOS:
    """A CPS-family card (CPS3-like ATR for generation 3, CPS4-like for 4)."""
    app = Application(cps.AID)
    app.add(
        TransparentEF(
            cps.EF_IDENTITY,
            cps.encode_identity(
                card_type, id_type, national_id, name, first_name, serial, valid_until
            ),
            cps.SFI_IDENTITY,
        )
    )
    app.add(
        RecordEF(
            cps.EF_SITUATIONS, [cps.encode_situation(s) for s in situations], cps.SFI_SITUATIONS
        )
    )
    app.add(TransparentEF(cps.EF_CERTIFICATE, _der(cert), cps.SFI_CERTIFICATE))
    objects = {0x005A: serial.encode("ascii")}
    if valid_until is not None:
        objects[0x5F24] = encode_date(valid_until)
    return CardOS(
        atr=cps.ATR_CPS3 if generation == 3 else cps.ATR_CPS4,
        applications=[app],
        pin=PinState(cps.pin_block(pin), cps.puk_block(puk), cps.PIN_TRIES, cps.PUK_TRIES),
        pin_ref=cps.PIN_REF,
        sign_key=KeySlot(key),
        data_objects=objects,
        read_past_end_sw=cps.READ_PAST_END_SW,
        name=label,
    )
