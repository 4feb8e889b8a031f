"""The same readers over the direct slot: the lead's CardLink (T=0/T=1 engines,
PPS, inverse convention) with the character-level card emulator."""

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from board.sim.card_emulator import CardEmulator
from board.sim.cardos.apdu_connection import ApduConnection
from board.sim.cards.loader import load_card
from board.sim.slot import SimCardSlot
from firmware.cardapps.cps import CpsReader
from firmware.cardapps.errors import WrongPin
from firmware.cardapps.vitale import read_vitale
from firmware.iso7816.errors import CardError, CardGone
from firmware.iso7816.link import CardLink
from firmware.iso7816.slot import SlotConfig


def linked(name, prefer=None):
    card = load_card(name)
    slot = SimCardSlot(CardEmulator(card))
    link = CardLink(slot, SlotConfig(prefer_protocol=prefer))
    link.power_on()
    return card, slot, link


@pytest.mark.parametrize("name", ["vitale_famille_essai", "vitale1_lunaire", "vitale_corse"])
def test_vitale_over_the_direct_link_equals_apdu_level(name):
    _, _, link = linked(name)
    assert link.protocol == 0
    assert read_vitale(link) == read_vitale(ApduConnection(load_card(name)))


@pytest.mark.parametrize("name, pin, prefer", [
    ("cps_medecin", "1234", 1), ("cps_medecin", "1234", 0), ("cps_infirmier", "4321", None),
])
def test_cps_pin_and_signature_over_the_direct_link(name, pin, prefer):
    card, _, link = linked(name, prefer)
    if prefer is not None:
        assert link.protocol == prefer
    r = CpsReader(link)
    info = r.read()
    with pytest.raises(WrongPin) as exc:
        r.verify_pin("0000" if pin != "0000" else "1111")
    assert exc.value.tries_left == 2
    r.verify_pin(pin)
    sig = r.sign_digest(hashlib.sha256(b"FSE over the wire").digest())
    key = x509.load_der_x509_certificate(info.certificate).public_key()
    key.verify(sig, b"FSE over the wire", padding.PKCS1v15(), hashes.SHA256())
    assert card.pin_tries_left == 3


def test_card_pulled_from_the_slot_during_vitale_read():
    _, slot, link = linked("vitale_famille_essai")
    slot.remove(at=slot.now() + 0.040)  # the whole read takes about 117 ms of wire time
    with pytest.raises(CardGone):
        read_vitale(link)


def test_card_os_gone_between_commands_surfaces_as_card_error():
    card, _, link = linked("vitale_famille_essai")
    card.remove_after = 2
    with pytest.raises(CardError):
        read_vitale(link)
