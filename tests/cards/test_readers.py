"""Vitale and CPS readers over an in-memory connection to the emulated cards.
Expected values are the sample personalisations' facts, written out by hand."""

import hashlib
from datetime import date

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import given, settings
from hypothesis import strategies as st

from board.sim.cardos.apdu_connection import ApduConnection
from board.sim.cards.loader import build_card, load_card, personalisation
from firmware.cardapps import errors as e
from firmware.cardapps.cps import CpsReader, check_professional, pin_tries_left, read_cps
from firmware.cardapps.model import PartialDate
from firmware.cardapps.vitale import VitaleReader, authenticate_vitale, check_vitale, read_vitale
from firmware.iso7816.errors import CardGone


def conn(name):
    return ApduConnection(load_card(name))


def rs256_ok(cert_der: bytes, message: bytes, sig: bytes) -> bool:
    key = x509.load_der_x509_certificate(cert_der).public_key()
    try:
        key.verify(sig, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def test_family_card():
    c = conn("vitale_famille_essai")
    card = read_vitale(c)
    assert c.atr == bytes.fromhex("3B751300004709EA9000")
    assert card.variant == "vitale2" and card.serial == "9100000001"
    assert card.holder_nir == "180079999901256"
    assert [b.first_name for b in card.beneficiaries] == ["PAUL", "MARIE", "LUCAS", "EMMA", "LEA"]
    lucas, emma = card.beneficiaries[2], card.beneficiaries[3]
    assert lucas.birth_date == emma.birth_date == PartialDate(2012, 6, 21)
    assert (lucas.birth_rank, emma.birth_rank) == (1, 2)
    marie = card.beneficiaries[1]
    assert marie.birth_date == PartialDate(1983, 3, 0) and str(marie.birth_date) == "00/03/1983"
    assert marie.rights_at(date(2025, 5, 1)).ald and marie.rights_at(date(2025, 5, 1)).exoneration == "4"
    lea = card.beneficiaries[4]
    assert lea.rights_at(date(2023, 12, 31)) is not None
    assert lea.rights_at(date(2024, 1, 1)) is None  # closed rights
    assert card.beneficiaries[0].amc.tiers_payant
    assert card.certificate[:2] == b"\x30\x82"
    # 1 SELECT AID + 3 x (SELECT FCP + READ BINARY...) : the certificate needs 4 reads
    assert c.trace.commands == 1 + 2 + 3 + 5


def test_fcp_path_reads_the_same_bytes_as_the_sfi_path():
    from firmware.cardapps import vitale_profile as vp

    r = VitaleReader(conn("vitale_famille_essai"))
    by_sfi = r.read_sfi(vp.SFI_BENEFICIARIES, "beneficiaries")
    assert r.read_transparent(vp.EF_BENEFICIARIES) == by_sfi
    assert by_sfi[0] == 0x65 and len(by_sfi) > 256


def test_reader_caches_per_insertion():
    c = conn("vitale_famille_essai")
    r = VitaleReader(c)
    first = r.read()
    n = c.trace.commands
    assert r.read() is first and c.trace.commands == n


def test_vitale1_lunar_and_partial_dates():
    c = conn("vitale1_lunaire")
    card = read_vitale(c)
    assert c.atr[0] == 0x3F and card.variant == "vitale1" and card.certificate is None
    jean, jeanne = card.beneficiaries
    assert jean.birth_date == PartialDate(1955, 2, 31) and jean.birth_date.lunar
    assert jeanne.birth_date == PartialDate(1968, 0, 0)
    with pytest.raises(e.CardRefused):
        authenticate_vitale(c, b"12345678")


def test_corsica_card_keys():
    card = read_vitale(conn("vitale_corse"))
    b = card.beneficiaries[0]
    assert b.nir == "270052A999041" and b.nir_key == "73"
    assert b.regime == "02"


def test_vitale_authentication_verifies_with_card_certificate():
    c = conn("vitale_famille_essai")
    r = VitaleReader(c)
    card = r.read()
    sig = r.authenticate(b"challenge-123")
    assert rs256_ok(card.certificate, b"challenge-123", sig)
    assert not rs256_ok(card.certificate, b"challenge-124", sig)
    digest = hashlib.sha256(b"an FSE").digest()
    assert rs256_ok(card.certificate, b"an FSE", r.sign_digest(digest))
    with pytest.raises(ValueError):
        r.authenticate(b"")


def test_opposition_and_expiry_checks():
    card = read_vitale(conn("vitale_famille_essai"))
    check_vitale(card, date(2026, 1, 1), {"9999999999"})
    with pytest.raises(e.VitaleOpposed) as exc:
        check_vitale(card, date(2026, 1, 1), {"9100000001"})
    assert exc.value.code == "vitale_opposed" and "opposition" in exc.value.message_fr
    with pytest.raises(e.CardExpired):
        check_vitale(card, date(2031, 9, 1))


def test_cps_read_is_the_gp():
    c = conn("cps_medecin")
    p = read_cps(c)
    assert (p.card_type, p.id_type, p.national_id) == ("CPS", "8", "899999999001")
    assert (p.name, p.first_name, p.serial) == ("ESSAI", "CLAIRE", "8100000001")
    [s] = p.situations
    assert (s.billing_number, s.profession, s.specialty) == ("759999014", "10", "01")
    assert s.can_sign_fse and s.can_sign_lot and s.role == "titulaire"
    assert p.pin_tries_left == 3 and p.valid_until == date(2027, 1, 31)


def test_kine_remplacant_situation_and_cpe_cde():
    k = read_cps(conn("cps_kine"))
    assert [s.role for s in k.situations] == ["titulaire", "remplacant"]
    assert k.situations[1].replaced_billing_number == "339999047"
    assert read_cps(conn("cpe_ambulance")).card_type == "CPE"
    assert read_cps(conn("cde_direction")).card_type == "CDE"
    nurse = read_cps(conn("cps_infirmier"))
    assert nurse.situations[0].profession == "60" and nurse.atr[:2] == b"\x3b\xac"


def test_sign_digest_is_plain_rs256_and_cose_accepts_it():
    import cbor2
    from pycose.algorithms import RsaPkcs1Sha256
    from pycose.headers import Algorithm
    from pycose.keys import RSAKey
    from pycose.messages import Sign1Message

    c = conn("cps_medecin")
    r = CpsReader(c)
    card = r.read()
    r.verify_pin("1234")
    # COSE Sig_structure written by hand (RFC 9052 §4.4); alg RS256 = -257 (RFC 8812)
    to_sign = cbor2.dumps(["Signature1", cbor2.dumps({1: -257}), b"", b"FSE body"])
    sig = r.sign_digest(hashlib.sha256(to_sign).digest())
    assert rs256_ok(card.certificate, to_sign, sig)
    # ...and an independent COSE implementation accepts it
    pub = x509.load_der_x509_certificate(card.certificate).public_key().public_numbers()
    msg = Sign1Message(phdr={Algorithm: RsaPkcs1Sha256}, payload=b"FSE body")
    msg.signature = sig
    msg.key = RSAKey(n=pub.n.to_bytes(256, "big"), e=pub.e.to_bytes(3, "big"))
    assert msg.verify_signature()
    msg.payload = b"FSE bodY"
    assert not msg.verify_signature()


def test_pin_flow_wrong_then_right_then_block_then_unblock():
    card = load_card("cps_medecin")
    c = ApduConnection(card)
    r = CpsReader(c)
    with pytest.raises(e.WrongPin) as exc:
        r.verify_pin("0000")
    assert exc.value.tries_left == 2 and exc.value.message_fr == "Code faux, 2 essais restants"
    assert pin_tries_left(c) == 2
    r.verify_pin("1234")
    assert r.pin_tries_left() == 3
    for left in (2, 1):
        with pytest.raises(e.WrongPin) as exc:
            CpsReader(c).verify_pin("9999")
        assert exc.value.tries_left == left
    with pytest.raises(e.PinBlocked):
        r.verify_pin("9999")
    with pytest.raises(e.PinBlocked):
        r.verify_pin("1234")
    # a new insertion does not unblock it
    card.power_on()
    with pytest.raises(e.PinBlocked):
        CpsReader(ApduConnection(card)).verify_pin("1234")
    with pytest.raises(e.UnblockCodeWrong) as exc:
        r.unblock_pin("00000000")
    assert exc.value.tries_left == 9
    r.unblock_pin("12345678", new_pin="2580")
    with pytest.raises(e.WrongPin):
        r.verify_pin("1234")
    r.verify_pin("2580")


def test_unblocking_code_exhausted_kills_card():
    card = load_card("cps_infirmier")
    r = CpsReader(ApduConnection(card))
    for _ in range(9):
        with pytest.raises(e.UnblockCodeWrong):
            r.unblock_pin("00000000")
    with pytest.raises(e.CardDead):
        r.unblock_pin("00000000")
    with pytest.raises(e.CardDead):
        r.unblock_pin("87654321")


def test_pin_format_and_pin_never_logged():
    c = conn("cps_medecin")
    r = CpsReader(c)
    with pytest.raises(e.PinFormatError):
        r.verify_pin("12a4")
    r.verify_pin("1234")
    r.change_pin("1234", "4711")
    logged = b"".join(cmd for cmd, _ in c.trace.log)
    assert b"1234" not in logged and b"4711" not in logged


def test_signing_needs_pin_and_habilitation():
    c = conn("cps_medecin")
    r = CpsReader(c)
    with pytest.raises(e.PinRequired) as exc:
        r.sign_digest(bytes(32))
    assert exc.value.code == "pin_required"
    amb = CpsReader(conn("cpe_ambulance"))
    amb.verify_pin("1111")
    with pytest.raises(e.NoFseHabilitation):
        amb.sign_digest(bytes(32))
    assert len(amb.sign_digest(bytes(32), purpose="lot")) == 256
    # Unlocking the unit needs the PIN, not an FSE or lot habilitation.
    assert len(amb.sign_digest(bytes(32), purpose="unlock")) == 256
    with pytest.raises(ValueError, match="unknown signing purpose"):
        amb.sign_digest(bytes(32), purpose="anything")
    kine = CpsReader(conn("cps_kine"))
    kine.verify_pin("2468")
    with pytest.raises(e.NoLotHabilitation):
        kine.sign_digest(bytes(32), 1, purpose="lot")
    assert len(kine.sign_digest(bytes(32), 1)) == 256


def test_expired_professional_card():
    p = read_cps(conn("cps_medecin_expiree"))
    check_professional(p, date(2024, 12, 31))
    with pytest.raises(e.CardExpired):
        check_professional(p, date(2025, 1, 1))


def test_wrong_card_and_removed_card():
    with pytest.raises(e.WrongCard) as exc:
        read_cps(conn("vitale_famille_essai"))
    assert exc.value.message_fr == "Carte non reconnue"
    card = load_card("vitale_famille_essai")
    c = ApduConnection(card)
    card.remove_after = 3
    with pytest.raises(CardGone):
        read_vitale(c)


def test_corrupt_card_data_gives_card_data_error():
    spec = personalisation("vitale_famille_essai")
    card = build_card(spec)
    ef = card.applications[0].files[0x2002]
    ef.data = ef.data[:40] + b"\x99" + ef.data[41:]  # break a length/tag in the middle
    with pytest.raises(e.CardDataError) as exc:
        read_vitale(ApduConnection(card))
    assert exc.value.code == "card_data_invalid"


@pytest.mark.parametrize(
    "sw, cls, code",
    [
        (0x63C2, e.WrongPin, "pin_wrong"),
        (0x6983, e.PinBlocked, "pin_blocked"),
        (0x6982, e.PinRequired, "pin_required"),
        (0x6985, e.CardRefused, "card_refused"),
        (0x6A82, e.CardFileMissing, "card_file_missing"),
        (0x6A86, e.UnexpectedStatus, "card_sw_6A86"),
        (0x6F00, e.UnexpectedStatus, "card_sw_6F00"),
    ],
)
def test_sw_mapping(sw, cls, code):
    from firmware.iso7816.apdu import ResponseAPDU

    with pytest.raises(cls) as exc:
        e.check_sw(ResponseAPDU(b"", sw >> 8, sw & 0xFF), "test")
    assert exc.value.code == code and exc.value.message_fr
    assert e.check_sw(ResponseAPDU(b"ok", 0x90, 0x00), "test").data == b"ok"


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 403), st.integers(0, 255))
def test_corrupted_beneficiaries_read_or_fail_cleanly(pos, value):
    card = load_card("vitale1_lunaire")
    ef = card.applications[0].files[0x2002]
    pos %= len(ef.data)
    ef.data = ef.data[:pos] + bytes((value,)) + ef.data[pos + 1 :]
    try:
        got = read_vitale(ApduConnection(card))
    except e.CardDataError:
        return
    assert 1 <= len(got.beneficiaries) <= 3
