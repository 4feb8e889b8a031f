"""Dates in the sample personalisations: a required date left empty is the
file's fault and says which field; optional dates may stay empty."""

import copy
from datetime import date

import pytest

from board.sim.cardos.apdu_connection import ApduConnection
from board.sim.cards.loader import PersonalisationError, build_card, personalisation
from firmware.cardapps.vitale import read_vitale


def _family() -> dict:
    return copy.deepcopy(personalisation("vitale_famille_essai"))


def test_empty_rights_start_is_refused_with_the_field_named():
    spec = _family()
    spec["beneficiaries"][0]["rights"][0]["start"] = None  # YAML "start:" with no value
    with pytest.raises(PersonalisationError, match=r"^rights start: missing, a date is required$"):
        build_card(spec)


def test_empty_issue_date_is_refused_with_the_field_named():
    spec = _family()
    spec["issued"] = None
    with pytest.raises(PersonalisationError, match=r"^issued: missing, a date is required$"):
        build_card(spec)


def test_empty_optional_dates_stay_open():
    spec = _family()
    spec["beneficiaries"][0]["rights"][0]["end"] = None
    spec["beneficiaries"][0]["amc"]["start"] = None
    card = read_vitale(ApduConnection(build_card(spec)))
    paul = card.beneficiaries[0]
    assert paul.rights[0].start == date(2024, 1, 1)
    assert paul.rights[0].end is None
    assert paul.amc is not None and paul.amc.start is None
