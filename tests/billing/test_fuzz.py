"""Parsers survive garbage with a clear error (DESIGN §5): the FSE verifier, the
tariff loader and the allocator state."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.billing.errors import BillingError, FseFormatError, FseVerificationError
from firmware.billing.tariffs import TariffTable

from .fse_helpers import degraded, verifier

REFUSED = (FseFormatError, FseVerificationError)
SLOW = settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def good(pki, tariffs):
    return degraded(pki, tariffs).encoded


@SLOW
@given(st.binary(max_size=300))
def test_random_bytes(pki, data):
    with pytest.raises(REFUSED):
        verifier(pki).verify(data)


@SLOW
@given(st.binary(max_size=200))
def test_random_bytes_behind_the_cose_tag(pki, data):
    with pytest.raises(REFUSED):
        verifier(pki).verify(b"\xd8\x62" + data)


@SLOW
@given(data=st.data())
def test_truncated_extended_or_spliced(pki, good, data):
    cut = data.draw(st.integers(0, len(good)))
    junk = data.draw(st.binary(max_size=16))
    mode = data.draw(st.sampled_from(["truncate", "append", "insert", "delete"]))
    if mode == "truncate":
        bad = good[:cut]
    elif mode == "append":
        bad = good + (junk or b"\x00")
    elif mode == "insert":
        bad = good[:cut] + (junk or b"\x00") + good[cut:]
    else:
        bad = good[:cut] + good[cut + 1 + len(junk):]
    if bad == good:
        return
    with pytest.raises(REFUSED):
        verifier(pki).verify(bad)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6) | st.floats(),
    lambda x: st.lists(x, max_size=3) | st.dictionaries(
        st.sampled_from(["professions", "acts", "60", "label", "amo_rate", "code", "kind",
                         "prices", "from", "to", "unit_price", "profession", "category"]),
        x, max_size=5),
    max_leaves=25)


@given(json_like)
def test_tariff_loader_garbage(raw):
    try:
        TariffTable.from_dict(raw)
    except BillingError as exc:
        assert exc.code == "tariff_invalid" and exc.field
