"""The pairing transition table (firmware/office_link/pairing.py, issue 10 item 8): every live
state answers every host message and the deadline, terminal states end the pairing,
a move the table does not have is the error state, never a silent change."""

from __future__ import annotations

import pytest

from firmware.office_link.events import PairingEnded, PairingRequested
from firmware.office_link.pairing import (
    PAIRING_TRANSITIONS,
    TERMINAL,
    PairingEvent,
    PairingState,
    PairingStateError,
)

from .helpers import exchange
from .test_security import DocHost
from .test_security import unit as unit  # noqa: F401  (the fixture)

LIVE = [s for s in PairingState if s not in TERMINAL]


@pytest.mark.parametrize("state", LIVE, ids=lambda s: s.value)
def test_every_live_state_answers_both_proofs_and_the_deadline(state):
    for event in (PairingEvent.PROOF_OK, PairingEvent.PROOF_BAD, PairingEvent.DEADLINE):
        assert (state, event) in PAIRING_TRANSITIONS
    assert PAIRING_TRANSITIONS[(state, PairingEvent.PROOF_BAD)][0] is PairingState.FAILED
    assert PAIRING_TRANSITIONS[(state, PairingEvent.DEADLINE)][0] is PairingState.EXPIRED


def test_no_move_leaves_a_terminal_state_and_handlers_are_functions():
    for (state, _event), (_next, handler) in PAIRING_TRANSITIONS.items():
        assert state not in TERMINAL
        assert handler is None or callable(handler)


def test_keys_only_count_while_the_code_shows(unit):  # noqa: F811
    host = DocHost()
    begun, _ = exchange(unit, host.pair_begin())
    security = unit.security
    assert security.pairing_state is PairingState.COMMITTED
    assert unit.confirm_pairing(1.0) == [] and security.pairing_state is PairingState.COMMITTED
    exchange(unit, host.pair_finish(begun.body), 2.0)
    assert security.pairing_state is PairingState.WAITING
    assert unit.reject_pairing(3.0) == [PairingEnded("rejected", "cabinet")]
    assert security.pairing_state is PairingState.REJECTED
    refused, _ = exchange(unit, host.pair_finish(begun.body), 4.0)
    assert refused.body == {"err": {"group": 80, "rc": 2}} and security.pairing_state is None


def test_a_move_not_in_the_table_is_the_error_state(unit):  # noqa: F811
    host = DocHost()
    exchange(unit, host.pair_begin())
    security = unit.security
    pairing = security._pairing
    with pytest.raises(PairingStateError) as exc:
        security._move(pairing, PairingEvent.CONFIRM)  # Valider before any code showed
    assert str(exc.value) == "pairing move confirm not allowed in committed"
    assert pairing.state is PairingState.FAILED and security.pairing_state is None
    assert not any(isinstance(e, PairingRequested) for e in security.events)
