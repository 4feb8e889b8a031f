"""The simulated unit keeps one emulated card per name (docs/cards.md): a card
pulled and put back is the same card, so a CPS blocked by wrong PINs stays blocked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from board.sim.unit import SimUnit, SimUnitError
from firmware.visit.errors import PinRejected, VisitError

PIN = "4321"  # cps_infirmier's PIN (docs/cards.md, sample cards)


@pytest.fixture
def sim(tmp_path):
    unit = SimUnit(tmp_path).start()
    unit.clock.set(datetime(2026, 3, 10, 8, 0, tzinfo=UTC))
    yield unit
    unit.stop()


def test_a_blocked_cps_stays_blocked_after_it_is_pulled_and_put_back(sim):
    sim.insert("ps", "cps_infirmier")
    tries = []
    for _ in range(2):
        with pytest.raises(PinRejected) as exc:
            sim.terminal_call(lambda t: t.unlock("1111"))
        tries.append(exc.value.tries_left)
    assert tries == [2, 1]
    with pytest.raises(VisitError) as blocked:
        sim.terminal_call(lambda t: t.unlock("1111"))  # the third wrong PIN blocks it
    assert blocked.value.code == "pin_blocked"
    sim.remove("ps")
    sim.insert("ps", "cps_infirmier")
    with pytest.raises(VisitError) as exc:
        sim.terminal_call(lambda t: t.unlock(PIN))  # the right PIN, on a blocked card
    assert exc.value.code == "pin_blocked"


def test_one_wrong_pin_is_remembered_across_removal(sim):
    sim.insert("ps", "cps_infirmier")
    with pytest.raises(PinRejected) as exc:
        sim.terminal_call(lambda t: t.unlock("1111"))
    assert exc.value.tries_left == 2
    sim.remove("ps")
    sim.insert("ps", "cps_infirmier")
    with pytest.raises(PinRejected) as exc:
        sim.terminal_call(lambda t: t.unlock("1111"))
    assert exc.value.tries_left == 1  # a fresh card from YAML would say 2


def test_the_same_card_cannot_sit_in_both_slots(sim):
    sim.insert("ps", "cps_infirmier")
    with pytest.raises(SimUnitError, match="already in another slot"):
        sim.insert("vitale", "cps_infirmier")
