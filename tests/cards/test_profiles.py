"""Vitale and CPS profile codecs: hand-written bytes (independent of the encoder)
and hypothesis round trips of every field."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.cardapps import cps_profile as cp
from firmware.cardapps import vitale_profile as vp
from firmware.cardapps.fields import FieldError
from firmware.cardapps.model import AmcData, Beneficiary, PartialDate, RightsPeriod, Situation


def test_beneficiary_from_hand_written_bytes():
    body = (
        bytes.fromhex("8005") + b"ESSAI"
        + bytes.fromhex("8104") + b"PAUL"
        + bytes.fromhex("8204 19800715")
        + bytes.fromhex("8301 01")
        + bytes.fromhex("8402") + b"00"
        + bytes.fromhex("930f") + b"180079999901256"
        + bytes.fromhex("8509") + b"017510001"
        + bytes.fromhex("a012 8004 20240101 8104 20261231 8201") + b"4" + bytes.fromhex("8301 01")
    )
    raw = bytes([0x65, len(body)]) + body
    [b] = vp.decode_beneficiaries(raw)
    assert (b.name, b.first_name, b.quality, b.birth_rank) == ("ESSAI", "PAUL", "00", 1)
    assert b.birth_date == PartialDate(1980, 7, 15)
    assert (b.nir, b.nir_key) == ("1800799999012", "56")
    assert (b.regime, b.caisse, b.centre) == ("01", "751", "0001")
    assert b.rights == (RightsPeriod(date(2024, 1, 1), date(2026, 12, 31), "4", True, ""),)
    assert b.rights_at(date(2027, 1, 1)) is None
    assert b.amc is None


def test_beneficiary_missing_nir_is_an_error():
    body = bytes.fromhex("8001") + b"A" + bytes.fromhex("8101") + b"B"
    with pytest.raises(FieldError, match="lacks tag"):
        vp.decode_beneficiaries(bytes([0x65, len(body)]) + body)


def test_rights_ending_before_start_rejected():
    raw = bytes.fromhex("8004 20250101 8104 20240101 8201") + b"0" + bytes.fromhex("830100")
    with pytest.raises(FieldError):
        vp.decode_rights(raw)


def test_situation_from_hand_written_bytes():
    body = (
        bytes.fromhex("8009") + b"759999014"
        + bytes.fromhex("8102") + b"10" + bytes.fromhex("8202") + b"01"
        + bytes.fromhex("8301") + b"1" + bytes.fromhex("8402") + b"10"
        + bytes.fromhex("8501 01 8601 01")
    )
    s = cp.decode_situation(0, bytes([0x72, len(body)]) + body)
    assert s.can_sign_fse and not s.can_sign_lot
    assert s.role == "remplacant" and s.billing_number == "759999014"


def test_pin_blocks():
    assert cp.pin_block("1234") == bytes.fromhex("31323334ffffffff")
    for bad in ("123", "12345", "12a4", "١٢٣٤"):
        with pytest.raises(ValueError):
            cp.pin_block(bad)
    assert cp.digest_info_sha256(b"\x00" * 32)[:2] == b"\x30\x31"


digits = lambda n: st.text("0123456789", min_size=n, max_size=n)  # noqa: E731
names = st.text(st.characters(codec="utf-8", categories=("Lu", "Ll", "Zs", "Pd")), min_size=1, max_size=40).filter(str.isprintable)
dates = st.dates(date(1900, 1, 1), date(2099, 12, 31))


@st.composite
def rights(draw):
    start = draw(dates)
    end = draw(st.none() | st.dates(start, date(2099, 12, 31)))
    return RightsPeriod(start, end, draw(digits(1)), draw(st.booleans()), draw(st.sampled_from(["", "AL", "MAT"])))


@st.composite
def beneficiaries(draw):
    month = draw(st.integers(0, 12))
    return Beneficiary(
        index=0,
        name=draw(names),
        first_name=draw(names),
        birth_date=PartialDate(draw(st.integers(1900, 2099)), month, draw(st.integers(0, 31)) if month else 0),
        birth_rank=draw(st.integers(1, 9)),
        quality=draw(digits(2)),
        nir=draw(digits(13)),
        nir_key=draw(digits(2)),
        regime=draw(digits(2)),
        caisse=draw(digits(3)),
        centre=draw(digits(4)),
        rights=tuple(draw(st.lists(rights(), max_size=3))),
        amc=draw(st.none() | st.builds(
            AmcData, digits(8), st.sampled_from(["", "TP"]), st.none() | dates, st.none() | dates, st.booleans()
        )),
    )


@given(st.lists(beneficiaries(), min_size=1, max_size=4))
def test_beneficiaries_round_trip(items):
    items = [Beneficiary(**{**b.__dict__, "index": i}) for i, b in enumerate(items)]
    assert list(vp.decode_beneficiaries(vp.encode_beneficiaries(items))) == items


@given(st.builds(
    Situation, st.just(0), digits(9), digits(2), digits(2), digits(1), digits(2), st.booleans(),
    st.booleans(), st.sampled_from(cp.ROLES), st.text(min_size=0, max_size=30).filter(str.isprintable),
    st.sampled_from(["", "759999014"]),
))
def test_situation_round_trip(s):
    assert cp.decode_situation(0, cp.encode_situation(s)) == s


@given(st.sampled_from(cp.CARD_TYPES), digits(1), digits(12), names, names, digits(10), st.none() | dates)
def test_identity_round_trip(t, idt, nid, name, first, serial, valid):
    raw = cp.encode_identity(t, idt, nid, name, first, serial, valid)
    assert cp.decode_identity(raw) == {
        "card_type": t, "id_type": idt, "national_id": nid, "name": name,
        "first_name": first, "serial": serial, "valid_until": valid,
    }


@given(digits(10), st.none() | dates, st.sampled_from([1, 2]), digits(15))
def test_card_info_round_trip(serial, valid, variant, nir):
    info = vp.CardInfo(serial, valid, variant, nir)
    assert vp.decode_card_info(vp.encode_card_info(info)) == info
