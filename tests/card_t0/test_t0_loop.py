"""T0Engine coupled to T0CardSide on a simulated line with a fake clock.

Expected responses come from the test card OS (``BufferCard``) and from the
ISO 7816-4 rules written out by hand here (at most Le bytes; 61xx says more
is left), never from the engine."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from board.sim.t0_card import T0CardSide
from firmware.iso7816.actions import Complete, Failed
from firmware.iso7816.errors import CardMute, CardProtocolError
from firmware.iso7816.t0 import T0Engine
from firmware.iso7816.timing import LinkTiming

from .line import BufferCard, Line, sign_response

TIMING = LinkTiming(clock_hz=4_800_000, fi=512, di=8, wi=10)  # a PPS'd CPS-like speed
WWT_ETU = 960 * 10 * 8  # WWT = 960*WI*Fi/f = 960*WI*Di etu: 76 800 etu at Di=8


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


def make(mode="ack", content=bytes(range(256)) * 2, card_bad=None, reader_bad=None, **kw):
    card = BufferCard(content)
    side = T0CardSide(card, mode=mode, **kw)
    line = Line(T0Engine(TIMING), side, card_bad=card_bad, reader_bad=reader_bad)
    return card, line


def test_case1_to_4_over_the_line_with_exact_tpdus():
    card, line = make()
    assert line.exchange(h("00 44 00 00")) == Complete(h("90 00"))
    assert line.exchange(h("00 B0 00 05 03")) == Complete(h("05 06 07 90 00"))
    assert line.exchange(h("00 D6 00 00 02 AA BB")) == Complete(h("90 00"))
    sig = sign_response(h("01 02 03"), 0x20)
    assert line.exchange(h("00 88 00 20 03 01 02 03 00")) == Complete(sig + h("90 00"))
    assert line.tpdus == [
        h("00 44 00 00 00"),
        h("00 B0 00 05 03"),
        h("00 D6 00 00 02"),
        h("AA BB"),
        h("00 88 00 20 03"),
        h("01 02 03"),
        h("00 C0 00 00 20"),
    ]
    assert card.file[:2] == h("AA BB")
    assert line.turnaround_violations == 0


def test_6c_reissue_at_end_of_file():
    _, line = make(content=bytes(range(10)))
    assert line.exchange(h("00 B0 00 06 00")) == Complete(h("06 07 08 09 90 00"))
    assert line.tpdus == [h("00 B0 00 06 00"), h("00 B0 00 06 04")]
    assert line.card_sent[:2] == h("6C 04")


def test_get_challenge_longer_than_le_chains_and_reports_rest():
    _, line = make()
    # The card always has 8 bytes; Le=3: 3 bytes then 61 05 (ISO 7816-4 §5.3.4).
    assert line.exchange(h("00 84 00 00 03")) == Complete(h("A0 A1 A2 61 05"))
    # Le=8 exactly, byte mode.
    _, line = make(mode="byte")
    assert line.exchange(h("00 84 00 00 08")) == Complete(bytes(range(0xA0, 0xA8)) + h("9000"))


def test_case4_with_no_response_data_keeps_9000():
    _, line = make()
    assert line.exchange(h("00 88 00 00 01 55 00")) == Complete(h("90 00"))
    assert line.tpdus[-1] == h("00 C0 00 00 00")


def test_byte_mode_case3_sends_one_byte_per_procedure_byte():
    card, line = make(mode="byte")
    assert line.exchange(h("00 D6 00 00 03 AA BB CC")) == Complete(h("90 00"))
    assert line.tpdus == [h("00 D6 00 00 03"), h("AA"), h("BB"), h("CC")]
    assert bytes(line.card_sent) == h("29 29 29 90 00")


def test_null_bytes_keep_a_slow_card_alive():
    # Each NULL comes 0.9 WWT after the previous character: total far over WWT.
    _, line = make(null_bytes=4, null_interval_etu=0.9 * WWT_ETU)
    assert line.exchange(h("00 B0 00 00 02")) == Complete(h("00 01 90 00"))
    assert sum(n.event == "null_byte" for n in line.notes) == 4


def test_card_silent_past_wwt_is_mute():
    _, line = make(reply_delay_etu=WWT_ETU)  # 16 etu + WWT: too late
    result = line.exchange(h("00 44 00 00"))
    assert isinstance(result, Failed) and isinstance(result.error, CardMute)
    # The next exchange on the same engine works again once the card is fine.
    line.card_side.reply_delay_etu = 0
    line.card_side.reset()
    assert line.exchange(h("00 44 00 00")) == Complete(h("90 00"))


def test_parity_repetitions_both_ways_are_transparent():
    _, line = make(card_bad={0: 2, 3: 4}, reader_bad={1: 3, 4: 1})
    assert line.exchange(h("00 B0 00 00 04")) == Complete(h("00 01 02 03 90 00"))
    assert sum(n.event == "parity_error" for n in line.notes) == 6


def test_card_character_wrong_six_times_fails():
    _, line = make(card_bad={0: 6})
    result = line.exchange(h("00 44 00 00"))
    assert isinstance(result, Failed) and result.error.code == "t0_parity"


def test_corrupted_procedure_byte_fails_cleanly():
    _, line = make(mangle=lambda i, b: 0x42 if i == 0 else b)
    result = line.exchange(h("00 B0 00 00 02"))
    assert isinstance(result, Failed) and isinstance(result.error, CardProtocolError)


def test_lost_status_byte_ends_in_mute():
    _, line = make(mangle=lambda i, b: None if i == 3 else b)  # B0 d d [90] 00
    result = line.exchange(h("00 B0 00 00 02"))
    # 00 arrives where SW1 is due: not a procedure byte.
    assert isinstance(result, Failed) and isinstance(result.error, CardProtocolError)
    _, line = make(mangle=lambda i, b: None if i == 4 else b)  # SW2 lost
    result = line.exchange(h("00 B0 00 00 02"))
    assert isinstance(result, Failed) and isinstance(result.error, CardMute)


modes = st.sampled_from(["ack", "byte"])
classes = st.sampled_from([0x00, 0x01, 0x80, 0x84])


@settings(max_examples=60, deadline=None)
@given(offset=st.integers(0, 600), le=st.integers(1, 256), mode=modes, nulls=st.integers(0, 2))
def test_random_reads_return_what_the_card_holds(offset, le, mode, nulls):
    content = bytes((i * 7 + 3) & 0xFF for i in range(512))
    _, line = make(mode=mode, content=content, null_bytes=nulls)
    apdu = bytes((0x00, 0xB0, offset >> 8, offset & 0xFF, le & 0xFF))
    if offset >= 512:
        expected = h("6B 00")
    else:
        expected = content[offset : offset + le] + h("90 00")
    assert line.exchange(apdu) == Complete(expected)
    assert line.turnaround_violations == 0


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=255),
    le=st.integers(1, 256),
    length=st.integers(0, 255),
    mode=modes,
    cla=classes,
    bad=st.dictionaries(st.integers(0, 300), st.integers(1, 5), max_size=3),
)
def test_random_case4_returns_the_card_response(data, le, length, mode, cla, bad):
    card, line = make(mode=mode, card_bad=bad, reader_bad=bad)
    apdu = bytes((cla, 0x88, 0x00, length, len(data))) + data + bytes((le & 0xFF,))
    full = sign_response(data, length)
    if len(full) <= le:
        expected = full + h("90 00")
    else:  # ISO 7816-4 §5.3.4: Le bytes, then 61xx = what is left
        expected = full[:le] + bytes((0x61, len(full) - le))
    assert line.exchange(apdu) == Complete(expected)
    assert card.seen[0] == bytes((cla, 0x88, 0x00, length, len(data))) + data
    assert all(t[0] == cla for t in line.tpdus if len(t) == 5 and t[1] == 0xC0)


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=1, max_size=255), offset=st.integers(0, 255), mode=modes)
def test_random_writes_then_read_back(data, offset, mode):
    card, line = make(mode=mode)
    apdu = bytes((0x00, 0xD6, 0x00, offset, len(data))) + data
    assert line.exchange(apdu) == Complete(h("90 00"))
    assert bytes(card.file[offset : offset + len(data)]) == data
    back = line.exchange(bytes((0x00, 0xB0, 0x00, offset, len(data) & 0xFF)))
    assert back == Complete(data + h("90 00"))
