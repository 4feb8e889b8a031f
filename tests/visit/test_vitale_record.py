"""The Vitale read record (opentla-vitale-read/1): round trip of any card the
profile can describe, hand-checked bytes of one field, and clear errors."""

from __future__ import annotations

from datetime import UTC, date, datetime

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.billing import cbor_det
from firmware.cardapps.model import AmcData, Beneficiary, PartialDate, RightsPeriod, VitaleCard
from firmware.visit import vitale_record

digits = lambda n: st.text("0123456789", min_size=n, max_size=n)  # noqa: E731
names = st.text(st.characters(min_codepoint=32, max_codepoint=0x17F), max_size=30)
days = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
rights = st.builds(RightsPeriod, days, st.none() | days, digits(1), st.booleans(),
                   st.sampled_from(["", "AL", "MT"]))
amc = st.none() | st.builds(AmcData, digits(8), st.sampled_from(["", "TP"]), st.none() | days,
                            st.none() | days, st.booleans())
bens = st.builds(
    Beneficiary, st.integers(0, 9), names, names,
    st.builds(PartialDate, st.integers(1900, 2100), st.integers(0, 12), st.integers(0, 31)),
    st.integers(1, 9), digits(2), digits(13), digits(2), digits(2), digits(3), digits(4),
    st.lists(rights, max_size=3).map(tuple), amc)
cards = st.builds(VitaleCard, digits(10), st.sampled_from(["vitale1", "vitale2"]),
                  st.none() | days, digits(15), st.lists(bens, min_size=1, max_size=6).map(tuple),
                  st.none() | st.binary(min_size=1, max_size=300))


@given(cards, st.integers(0, 4_000_000_000))
def test_round_trip(card, ts):
    at = datetime.fromtimestamp(ts, UTC)
    back, read_at, unit = vitale_record.decode(vitale_record.encode(card, at, "TLA-01"))
    assert back == card and read_at == at and unit == "TLA-01"


@given(st.binary(max_size=200))
def test_garbage_is_a_clear_error(data):
    try:
        card, _, _ = vitale_record.decode(data)
    except vitale_record.VitaleRecordError as exc:
        assert exc.code == "vitale_read_invalid"
    else:
        assert isinstance(card, VitaleCard)


def _valid_map() -> dict:
    card = VitaleCard("1", "vitale2", None, "1" * 15, (
        Beneficiary(0, "A", "B", PartialDate(1980, 1, 2), 1, "00", "1" * 13, "11", "01", "751",
                    "0001", (RightsPeriod(date(2024, 1, 1), None),)),))
    return cbor2.loads(vitale_record.encode(card, datetime(2026, 1, 1, tzinfo=UTC), "U"))


@pytest.mark.parametrize("path, value", [
    (("card", "serial"), 5), (("read_at",), "now"), (("card", "certificate"), "x"),
    (("card", "beneficiaries", 0, "nir"), 1), (("card", "beneficiaries", 0, "rights", 0, "ald"), 0),
    (("card", "beneficiaries", 0, "birth_date"), [1980, 1]),
    (("card", "valid_until"), "2026-13-01"),
])
def test_mistyped_field_is_refused(path, value):
    raw = _valid_map()
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(vitale_record.VitaleRecordError):
        vitale_record.decode(cbor_det.encode(raw))


def test_read_at_is_integer_seconds_in_the_map():
    card = VitaleCard("1", "vitale1", None, "1" * 15, ())
    raw = cbor2.loads(vitale_record.encode(card, datetime(2026, 3, 10, 9, 30, tzinfo=UTC), "U"))
    assert raw["read_at"] == 1773135000  # 2026-03-10T09:30:00Z, from `date -u -d ... +%s`
    assert raw["format"] == "opentla-vitale-read/1" and raw["card"]["beneficiaries"] == []


def test_other_format_refused():
    with pytest.raises(vitale_record.VitaleRecordError):
        vitale_record.decode(cbor2.dumps({"format": "x"}))
