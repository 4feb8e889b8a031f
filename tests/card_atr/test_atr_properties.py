"""Property tests: random well-formed ATRs built from random interface bytes are
recovered by parse_atr; random bytes never crash it; AtrCollector ends exactly
where parse_atr says the ATR ends."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.iso7816 import convention
from firmware.iso7816.atr import AtrCollector, parse_atr

STRUCTURAL = (
    "atr_empty",
    "atr_bad_ts",
    "atr_truncated",
    "atr_extra_bytes",
    "atr_tck_mismatch",
    "atr_too_long",
)

# ISO 7816-3 Table 7 / Table 8, typed in again here rather than imported.
FI = {
    0: 372,
    1: 372,
    2: 558,
    3: 744,
    4: 1116,
    5: 1488,
    6: 1860,
    9: 512,
    10: 768,
    11: 1024,
    12: 1536,
    13: 2048,
}
DI = {1: 1, 2: 2, 3: 4, 4: 8, 5: 16, 6: 32, 7: 64, 8: 12, 9: 20}

optional = st.one_of(st.none(), st.integers(0, 255))


@st.composite
def atrs(draw):
    """(atr bytes, levels as [ta, tb, tc, td], historical, ts)."""
    ts = draw(st.sampled_from([0x3B, 0x3F]))
    n_levels = draw(st.integers(1, 5))
    levels = []
    for i in range(n_levels):
        last = i == n_levels - 1
        ta, tb, tc = draw(optional), draw(optional), draw(optional)
        td = None
        if not last:
            high = 14 if i == 0 else 15  # TD1 never T=15 (§8.2.3)
            td = draw(st.integers(0, high))  # Y bits filled in below
        levels.append([ta, tb, tc, td])
    hist = draw(st.binary(max_size=15))

    # Fill the Y nibbles now that each next level's presence bits are known.
    def y_of(level):
        return sum(bit for bit, v in zip((1, 2, 4), level[:3], strict=True) if v is not None) | (
            8 if level[3] is not None else 0
        )

    for i in range(n_levels - 1):
        levels[i][3] = (y_of(levels[i + 1]) << 4) | levels[i][3]
    t0 = (y_of(levels[0]) << 4) | len(hist)
    body = bytearray([ts, t0])
    for lv in levels:
        body += bytes(v for v in lv if v is not None)
    body += hist
    if any(lv[3] is not None and lv[3] & 0x0F for lv in levels):
        tck = 0
        for b in body[1:]:
            tck ^= b
        body.append(tck)
    return bytes(body), levels, hist, ts


@settings(max_examples=400)
@given(atrs())
def test_parse_recovers_random_atrs(case):
    data, levels, hist, ts = case
    a = parse_atr(data)
    if len(data) > 32:
        assert a.error.startswith("atr_too_long")
        return
    assert not [e for e in a.errors if e.startswith(STRUCTURAL)], a.errors
    assert a.convention == ("direct" if ts == 0x3B else "inverse")
    assert [[lv.ta, lv.tb, lv.tc, lv.td] for lv in a.levels] == levels
    assert a.historical == hist
    tds = [lv[3] & 0x0F for lv in levels if lv[3] is not None]
    assert a.tck_required == any(tds)
    assert a.tck_ok is (True if any(tds) else None)
    assert a.protocols == (sorted({t for t in tds if t != 15}) if tds else [0])
    ta1 = levels[0][0]
    if ta1 is None:
        assert (a.fi, a.di) == (372, 1)
    else:
        assert a.fi == FI.get(ta1 >> 4) and a.di == DI.get(ta1 & 0x0F)
    assert a.n == (levels[0][2] or 0)


@settings(max_examples=300)
@given(atrs(), st.binary(max_size=8))
def test_collector_stops_at_the_end(case, junk):
    data, *_ = case
    for raw, inverse in ((data, False), (convention.encode(data, convention.INVERSE), True)):
        if inverse and data[0] != 0x3F:
            continue  # a direct card is never read through the inverse path
        c = AtrCollector()
        stream = raw + junk
        ends = [i for i, b in enumerate(stream) if not c.done and c.feed(b)]
        assert len(ends) == 1
        if len(data) <= 32:
            assert ends[0] == len(data) - 1
            assert c.result() == parse_atr(raw)
            assert c.result().ok == parse_atr(data).ok
        else:
            assert ends[0] <= 31 and c.result().error.startswith("atr_too_long")


@settings(max_examples=1000)
@given(st.binary(max_size=40))
def test_random_bytes_never_crash(data):
    a = parse_atr(data)
    json.dumps(a.to_json_dict())  # always serialisable
    assert (a.error is None) == a.ok
    c = AtrCollector()
    end = None
    for i, b in enumerate(data):
        if c.feed(b):
            end = i
            break
    if end is None:
        # not complete: the whole input is a truncated ATR (or empty)
        assert not a.ok and a.error.split(":")[0] in ("atr_empty", "atr_truncated")
    else:
        head = parse_atr(data[: end + 1])
        if head.convention is not None and not c.result().error:
            assert not any(e.startswith(("atr_truncated", "atr_extra_bytes")) for e in head.errors)
        assert c.result() == head or c.result().error.startswith("atr_too_long")
