"""Reader engine and simulated card side talking over the fake-clock wire
(tests/card_t1/loop.py): whatever the sizes and faults, the reader gets back
exactly what the card OS answered, and the card OS exactly what was sent."""

from hypothesis import given, settings
from hypothesis import strategies as st

from board.sim.t1_card import T1CardSide
from firmware.iso7816.actions import Complete, Failed, Note, Transmit
from firmware.iso7816.errors import CardMute, CardProtocolError
from firmware.iso7816.t1 import T1Engine
from firmware.iso7816.t1_block import Block, Kind, SType
from firmware.iso7816.timing import LinkTiming

from .loop import FakeCardOS, Wire, apply_fault

TIMING = LinkTiming(clock_hz=4_800_000, protocol=1)


def setup(ifsc=32, ifsd=254, checksum="LRC", responses=None, timing=TIMING):
    os_ = FakeCardOS(responses)
    card = T1CardSide(os_, ifsc=ifsc, checksum=checksum)
    engine = T1Engine(timing, ifsc=ifsc, ifsd=ifsd, checksum=checksum)
    return os_, card, engine, Wire(engine, card, timing)


def events(outcome, name):
    return [n for n in outcome.notes if n.event == name]


exchanges = st.lists(
    st.tuples(st.binary(max_size=1000), st.binary(max_size=1000)), min_size=1, max_size=3
)


@settings(max_examples=60, deadline=None)
@given(exchanges, st.integers(1, 254), st.integers(1, 254), st.sampled_from(["LRC", "CRC"]))
def test_random_apdus_chain_both_ways(pairs, ifsc, ifsd, checksum):
    os_, card, engine, wire = setup(ifsc, ifsd, checksum, [r for _, r in pairs])
    assert wire.negotiate().result == Complete(b"")
    assert card.ifsd == ifsd
    for command, response in pairs:
        assert wire.exchange(command).result == Complete(response)
    assert os_.commands == [c for c, _ in pairs]
    # every I-block respected the receiver's IFS
    assert all(len(b.inf) <= ifsc for b in card.received if b.kind is Kind.I)


faults = st.lists(
    st.sampled_from(["corrupt", "mute", "bad_pcb", "wtx", "ifs"]), max_size=3
)


@settings(max_examples=60, deadline=None)
@given(exchanges, st.integers(4, 64), faults, st.integers(0, 5))
def test_recovers_from_a_few_faults(pairs, ifsc, fault_list, when):
    os_, card, engine, wire = setup(ifsc, 32, "LRC", [r for _, r in pairs])
    for i, (command, response) in enumerate(pairs):
        if i == when % len(pairs):
            for f in fault_list:
                apply_fault(card, f, {"wtx": 2, "ifs": max(1, ifsc // 2)}.get(f, 1))
        assert wire.exchange(command).result == Complete(response)
    assert os_.commands == [c for c, _ in pairs]


def test_edc_error_from_card_is_recovered_with_one_r_block():
    os_, card, engine, wire = setup(responses=[b"\x90\x00"])
    card.corrupt_edc(1)
    out = wire.exchange(b"\x00\xa4\x04\x00")
    assert out.result == Complete(b"\x90\x00")
    assert out.sent[1] == bytes.fromhex("00 81 00 81")  # R(0, EDC error)
    assert len(out.sent) == 2


def test_lost_block_is_recovered_after_bwt():
    os_, card, engine, wire = setup(responses=[b"\x90\x00"])
    card.stay_mute(1)  # the card never saw our I-block
    out = wire.exchange(b"\x00\xa4\x04\x00")
    assert out.result == Complete(b"\x90\x00")
    assert out.sent[1] == bytes.fromhex("00 82 00 82")  # R(0, other error) after BWT
    assert out.sent[2] == out.sent[0]  # the card asked for our I(0) again
    assert os_.commands == [b"\x00\xa4\x04\x00"]
    # the retry went out one BWT after the leading edge of our last character
    first_last_edge = wire.transmits[0].not_before + 7 * 12 * TIMING.etu  # 8 chars
    assert abs(wire.transmits[1].not_before - (first_last_edge + TIMING.bwt)) < 1e-12


def test_four_failures_resynch_and_the_command_is_sent_again():
    answers = [b"\x01\x90\x00", b"\x02\x90\x00", b"\x03\x90\x00"]
    os_, card, engine, wire = setup(responses=answers)
    assert wire.exchange(b"\x00\x01").result == Complete(b"\x01\x90\x00")
    card.corrupt_edc(4)
    out = wire.exchange(b"\x00\x02")
    # the answer comes from the card OS's second run of the command
    assert out.result == Complete(b"\x03\x90\x00")
    assert len(events(out, "t1_retry")) == 3 and len(events(out, "t1_resynch")) == 1
    assert len(events(out, "t1_ifsd")) == 1  # IFSD 254 announced again after RESYNCH
    assert bytes.fromhex("00 c0 00 c0") in out.sent
    # after RESYNCH the command went again as I(0) (rule 6.3) ...
    assert out.sent[-1] == bytes.fromhex("00 00 02 00 02 00")
    # ... and the card OS, which had processed it once, got it twice
    assert os_.commands == [b"\x00\x01", b"\x00\x02", b"\x00\x02"]


def test_dead_card_fails_now_and_later():
    os_, card, engine, wire = setup()
    card.stay_mute(1000)
    out = wire.exchange(b"\x00\xa4\x04\x00")
    assert isinstance(out.result, Failed) and isinstance(out.result.error, CardMute)
    assert len(events(out, "t1_resynch")) == 3
    assert engine.state.value == "DEAD"
    later = wire.exchange(b"\x00\xa4\x04\x00")
    assert later.result == out.result and later.sent == []


def test_invalid_pcb_forever_is_a_protocol_error():
    os_, card, engine, wire = setup()
    card.send_invalid_pcb(1000)
    out = wire.exchange(b"\x00\xa4\x04\x00")
    assert isinstance(out.result.error, CardProtocolError)


def test_wtx_lets_a_slow_card_answer_late():
    late_etu = 2.5 * TIMING.bwt / TIMING.etu  # well past BWT, within 3 x BWT
    os_, card, engine, wire = setup(responses=[b"\x61\x10"])
    card.request_wtx(3, delay_etu=late_etu)
    out = wire.exchange(b"\x00\x2a\x9e\x9a\x00")
    assert out.result == Complete(b"\x61\x10")
    assert out.notes == [Note("t1_wtx", "3")]  # no timeout, no retry
    # without the extension the same delay is a BWT timeout (and a retry)
    os_, card, engine, wire = setup(responses=[b"\x61\x10"])
    card.request_wtx(1, delay_etu=late_etu)
    out = wire.exchange(b"\x00\x2a\x9e\x9a\x00")
    assert events(out, "t1_retry")


def test_card_changes_ifs_mid_session():
    os_, card, engine, wire = setup(ifsc=32, responses=[b"\x90\x00", b"\x90\x00"])
    command = bytes(range(100))
    card.request_ifs(8)  # before its first answer, i.e. after our first piece
    assert wire.exchange(command).result == Complete(b"\x90\x00")
    sizes = [len(b.inf) for b in card.received if b.kind is Kind.I]
    assert sizes == [32] + [8] * 8 + [4]
    assert engine.ifsc == card.ifsc == 8
    card.received.clear()
    assert wire.exchange(command).result == Complete(b"\x90\x00")
    assert [len(b.inf) for b in card.received if b.kind is Kind.I] == [8] * 12 + [4]
    assert os_.commands == [command, command]


def test_card_abort_then_resynch():
    os_, card, engine, wire = setup(responses=[bytes(100), b"\x90\x00"])
    engine.ifsd = 16
    assert wire.negotiate().result == Complete(b"")
    card.request_abort()
    out = wire.exchange(b"\x00\xb0\x00\x00\x00")
    assert isinstance(out.result, Failed) and out.result.error.code == "t1_aborted"
    out = wire.exchange(b"\x00\xa4\x00\x00")
    assert out.sent[0] == bytes.fromhex("00 c0 00 c0")
    assert out.result == Complete(b"\x90\x00")
    # the card saw S(RESYNCH request), then our IFSD again (it was back to 32)
    assert card.received[-4:] == [
        Block.s(SType.ABORT, True), Block.s(SType.RESYNCH), Block.s(SType.IFS, inf=b"\x10"),
        Block.i(0, b"\x00\xa4\x00\x00"),
    ]


def test_bgt_between_card_and_reader_blocks():
    os_, card, engine, wire = setup(ifsc=8, responses=[b"\x90\x00"])
    wire.exchange(bytes(20))
    # reader blocks after the first follow a card block: each one BGT after
    # the leading edge of the card's last character (22 etu)
    t = wire.transmits
    for prev, nxt in zip(t, t[1:], strict=False):
        prev_last = prev.not_before + (len(prev.data) - 1) * 12 * TIMING.etu
        card_block_last = prev_last + (22 + 3 * 12) * TIMING.etu  # 4-byte R-block
        assert abs(nxt.not_before - (card_block_last + 22 * TIMING.etu)) < 1e-12


class DigestCardOS(FakeCardOS):
    """Answers a function of the command, so running a command twice (as a
    resynchronisation does) gives the same answer."""

    def process(self, command: bytes) -> bytes:
        self.commands.append(command)
        return (command[::-1] * 3)[:700] + b"\x90\x00"


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.binary(max_size=600), min_size=1, max_size=3),
    st.integers(1, 254),
    st.lists(st.tuples(st.sampled_from(["corrupt", "mute", "bad_pcb", "wtx", "ifs", "abort"]),
                       st.integers(1, 6)), max_size=4),
)
def test_heavy_faults_end_in_the_right_answer_or_a_clean_failure(commands, ifsc, plan):
    os_ = DigestCardOS()
    card = T1CardSide(os_, ifsc=ifsc)
    engine = T1Engine(TIMING, ifsc=ifsc, ifsd=64)
    wire = Wire(engine, card, TIMING)
    for name, n in plan:
        apply_fault(card, name, n * 7 if name == "ifs" else n)
    for command in commands:
        result = wire.exchange(command).result
        if isinstance(result, Complete):
            assert result.response == (command[::-1] * 3)[:700] + b"\x90\x00"
        else:
            assert isinstance(result.error, CardMute | CardProtocolError)
            assert result.error.code in ("card_mute", "card_protocol", "t1_aborted")
    # the card OS only ever saw whole commands that were really sent
    assert set(os_.commands) <= set(commands)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.booleans()), max_size=300))
def test_engine_survives_any_card_bytes(stream):
    engine = T1Engine(TIMING, ifsc=32)
    acts = engine.start(b"\x00\xa4\x04\x00", 0.0)
    t = 0.0
    ended = []
    for byte, parity in stream:
        t += 0.01
        if any(isinstance(a, Transmit) for a in acts):
            engine.transmitted(t)
            t += 0.01
        acts = engine.receive(byte, t, parity)
        ended += [a for a in acts if isinstance(a, Complete | Failed)]
    assert len(ended) <= 1  # one exchange, at most one end
    if ended and isinstance(ended[0], Complete):
        assert engine.state.value == "IDLE"


line_faults = st.lists(
    st.tuples(st.sampled_from(["corrupt", "mute", "bad_pcb", "wtx", "ifs"]), st.integers(1, 6)),
    max_size=5,
).filter(lambda p: sum(n for k, n in p if k in ("corrupt", "mute", "bad_pcb")) <= 6)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600), st.integers(1, 254), st.integers(1, 254),
       st.sampled_from(["LRC", "CRC"]), line_faults)
def test_six_line_faults_never_lose_the_exchange(command, ifsc, ifsd, checksum, plan):
    # 3 retries then RESYNCH (rule 7.4.2), up to 3 RESYNCHs (rule 6.4): six
    # bad or lost blocks in a row can never exhaust them.
    os_ = DigestCardOS()
    card = T1CardSide(os_, ifsc=ifsc, checksum=checksum)
    engine = T1Engine(TIMING, ifsc=ifsc, ifsd=ifsd, checksum=checksum)
    wire = Wire(engine, card, TIMING)
    assert wire.negotiate().result == Complete(b"")
    for name, n in plan:
        apply_fault(card, name, n * 20 if name == "ifs" else n)
    result = wire.exchange(command).result
    assert result == Complete((command[::-1] * 3)[:700] + b"\x90\x00")
