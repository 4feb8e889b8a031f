"""The one FSE numbering rule (docs/store.md §FSE numbers, docs/billing.md
§Numbering): a new range must start after every number already covered for that
billing number; numbers never go backwards and never repeat."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.store import FseRangeRefused, NoFseNumber

from .helpers import FakeClock, FakeWall, open_provisioned

PS = "123456789"


def test_a_range_below_one_in_use_is_refused_and_numbering_goes_on(store):
    """The review's case: 100-200 in use, 1-50 loaded: accepted, next FSE was 1."""
    store.load_fse_range("R1", PS, 100, 200)
    store.unlock(store.test_proof)
    assert store.next_fse_number(PS) == 100
    with pytest.raises(FseRangeRefused) as err:
        store.load_fse_range("R2", PS, 1, 50)
    assert err.value.code == "store_range_not_after"
    assert err.value.message_fr == "Plage FSE déjà couverte"
    assert "must start after 200" in str(err.value) and "from 201" in str(err.value)
    assert store.next_fse_number(PS) == 101
    assert store.fse_numbers_left(PS) == 99  # 102..200


@pytest.mark.parametrize(("first", "last", "accepted"), [
    (1, 50, False),      # before
    (1, 99, False),      # just before the range
    (150, 300, False),   # overlaps
    (100, 200, False),   # the same numbers under another id
    (200, 300, False),   # 200 is covered
    (201, 300, True),    # right after
    (5000, 5000, True),  # a gap after is allowed
])
def test_hand_computed_cases_after_100_200(store, first, last, accepted):
    store.load_fse_range("R1", PS, 100, 200)
    if accepted:
        store.load_fse_range("R2", PS, first, last)
        assert store.fse_numbers_left(PS) == 101 + last - first + 1
    else:
        with pytest.raises(FseRangeRefused):
            store.load_fse_range("R2", PS, first, last)
        assert store.fse_numbers_left(PS) == 101


def test_a_used_up_range_still_covers_its_numbers(store):
    store.load_fse_range("R1", PS, 1, 2)
    store.unlock(store.test_proof)
    assert [store.next_fse_number(PS), store.next_fse_number(PS)] == [1, 2]
    with pytest.raises(NoFseNumber):
        store.next_fse_number(PS)
    with pytest.raises(FseRangeRefused):
        store.load_fse_range("R2", PS, 1, 10)  # the office re-sent an old allocation
    store.load_fse_range("R3", PS, 3, 10)
    assert store.next_fse_number(PS) == 3


def test_ranges_of_other_professionals_do_not_count(store):
    store.load_fse_range("R1", "OTHER", 100, 200)
    store.load_fse_range("R2", PS, 1, 50)
    store.unlock(store.test_proof)
    assert store.next_fse_number(PS) == 1


def test_a_range_loaded_below_one_in_use_before_the_rule_is_passed_over(store):
    """A unit whose schema-2 store took 1-50 after 100-200 was in use: never back to 1."""
    store.load_fse_range("R1", PS, 100, 101)
    store.unlock(store.test_proof)
    assert store.next_fse_number(PS) == 100
    store._conn.execute("INSERT INTO fse_ranges VALUES ('OLD', ?, 1, 50, 1, 0)", (PS,))
    assert store.fse_numbers_left(PS) == 1  # 101 only
    assert store.next_fse_number(PS) == 101
    with pytest.raises(NoFseNumber):
        store.next_fse_number(PS)


# ---- property: whatever the office sends, numbers only go up, once each ----------------
_ops = st.lists(st.one_of(
    st.tuples(st.just("load"), st.integers(1, 60), st.integers(0, 8)),
    st.tuples(st.just("take"), st.just(0), st.just(0)),
    st.tuples(st.just("skip"), st.just(0), st.just(0)),
), max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_ops)
def test_numbers_never_go_backwards_or_repeat(tmp_path_factory, office, ops):
    path = str(tmp_path_factory.mktemp("num") / "unit.db")
    store, proof = open_provisioned(path, office, clock=FakeClock(), wall_clock=FakeWall())
    store.unlock(proof)
    covered = 0  # the model: the highest number any accepted range covers
    free: list[int] = []  # the model's numbers still to hand out, in order
    handed: list[int] = []
    try:
        for i, (op, first, length) in enumerate(ops):
            if op == "load":
                last = first + length
                if first > covered:
                    store.load_fse_range(f"R{i}", PS, first, last)
                    covered = last
                    free.extend(range(first, last + 1))
                else:
                    with pytest.raises(FseRangeRefused):
                        store.load_fse_range(f"R{i}", PS, first, last)
            elif free:
                n = store.next_fse_number(PS)
                assert n == free.pop(0)
                assert not handed or n > handed[-1]
                handed.append(n)
                if op == "skip":
                    store.abandon_fse_number(PS, n, "card_removed")
                else:
                    store.signed_fse(f"F{n}", PS, n, b"cose")
            else:
                with pytest.raises(NoFseNumber):
                    store.next_fse_number(PS)
            assert store.fse_numbers_left(PS) == len(free)
        rows = store.numbering(PS)
        assert [r.number for r in rows] == handed
        assert all(r.state in ("used", "skipped") for r in rows)
    finally:
        store.close()


def test_the_schema_also_refuses_a_number_twice(store):
    store.load_fse_range("R1", PS, 1, 5)
    store.unlock(store.test_proof)
    n = store.next_fse_number(PS)
    with pytest.raises(sqlite3.IntegrityError):
        store._conn.execute("INSERT INTO fse_numbers (professional_id, number, range_id, state, "
                            "reserved_at) VALUES (?, ?, 'R1', 'reserved', 0)", (PS, n))
