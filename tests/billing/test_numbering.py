"""FSE number allocator: never reuse, never skip silently, persistable state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.billing.errors import NumberingError
from firmware.billing.numbering import FseNumberAllocator

PS = "123456789"


def test_numbers_follow_ranges_in_order():
    a = FseNumberAllocator()
    a.add_range(PS, 10, 12)
    a.add_range(PS, 100, 101)
    assert a.remaining(PS) == 5
    got = [a.allocate(PS) for _ in range(5)]
    assert got == [10, 11, 12, 100, 101]
    with pytest.raises(NumberingError) as exc:
        a.allocate(PS)
    assert exc.value.code == "fse_range_exhausted"
    assert exc.value.message_fr == "Plus de numéros FSE: recharger"


def test_ranges_are_per_professional():
    a = FseNumberAllocator()
    a.add_range(PS, 1, 5)
    a.add_range("987654321", 1, 5)
    assert a.allocate(PS) == 1 and a.allocate("987654321") == 1
    with pytest.raises(NumberingError):
        a.allocate("111111111")


@pytest.mark.parametrize("first,last", [(5, 9), (1, 3), (8, 20)])
def test_overlapping_or_earlier_range_refused(first, last):
    a = FseNumberAllocator()
    a.add_range(PS, 8, 10)
    with pytest.raises(NumberingError) as exc:
        a.add_range(PS, first, last)
    assert exc.value.code == "fse_range_overlap"


def test_skip_needs_a_reason_and_is_recorded():
    a = FseNumberAllocator()
    a.add_range(PS, 1, 10)
    n1, n2 = a.allocate(PS), a.allocate(PS)
    with pytest.raises(NumberingError):
        a.skip(PS, n1, "")
    a.skip(PS, n1, "card_removed during signature")
    a.confirm(PS, n2)
    assert a.skipped(PS) == ((1, "card_removed during signature"),)
    assert a.pending(PS) == ()
    with pytest.raises(NumberingError):  # resolved once only
        a.confirm(PS, n2)
    with pytest.raises(NumberingError):  # never handed out
        a.confirm(PS, 7)


ops = st.lists(st.sampled_from(["alloc", "confirm", "skip", "save"]), max_size=60)


@given(ops)
def test_every_number_accounted_once(seq):
    # Model: numbers handed out are distinct, increasing, and each is confirmed or
    # skipped (with reason) or still pending -- across save/restore of the state.
    a = FseNumberAllocator()
    a.add_range(PS, 1, 20)
    a.add_range(PS, 50, 60)
    handed, confirmed, skipped = [], set(), set()
    for op in seq:
        pending = [n for n in handed if n not in confirmed | skipped]
        if op == "alloc":
            if a.remaining(PS) == 0:
                with pytest.raises(NumberingError):
                    a.allocate(PS)
            else:
                handed.append(a.allocate(PS))
        elif op == "confirm" and pending:
            a.confirm(PS, pending[0])
            confirmed.add(pending[0])
        elif op == "skip" and pending:
            a.skip(PS, pending[-1], "test")
            skipped.add(pending[-1])
        elif op == "save":
            a = FseNumberAllocator.from_dict(a.to_dict())
    assert handed == sorted(set(handed))
    expected_all = list(range(1, 21)) + list(range(50, 61))
    assert handed == expected_all[: len(handed)]  # no gap, no reuse
    assert {n for n, _ in a.skipped(PS)} == skipped
    assert set(a.pending(PS)) == set(handed) - confirmed - skipped
    assert a.remaining(PS) == len(expected_all) - len(handed)


GOOD_STATE = {"ranges": [[1, 10]], "next": 4, "pending": [3], "skipped": [[2, "x"]],
              "confirmed": 1}


@pytest.mark.parametrize("change", [
    {"ranges": "x"},
    {"ranges": [[5, 10], [1, 3]]},  # not ascending
    {"next": 11},  # outside the ranges
    {"pending": [7]},  # not handed out yet (>= next)
    {"skipped": [[3, "x"]]},  # 3 is also pending
])
def test_bad_state_refused(change):
    FseNumberAllocator.from_dict({PS: GOOD_STATE})  # control
    with pytest.raises(NumberingError) as exc:
        FseNumberAllocator.from_dict({PS: {**GOOD_STATE, **change}})
    assert exc.value.code == "fse_numbering_state"
