"""Reader-side T=1 engine driven by hand-built card blocks on a fake clock.

Expected bytes are written out by hand (LRC = XOR of the bytes before it) and
times are computed from ISO 7816-3 formulas for f = 4.8 MHz, Fi=372, Di=1:
etu = 372 / 4.8e6 = 77.5 us; BWT (BWI 4) = 11 etu + 16 x 960 x 372 / f;
CWT (CWI 13) = (11 + 8192) etu; BGT = 22 etu."""

import pytest

from firmware.iso7816.actions import Complete, Deadline, Failed, Note, Transmit
from firmware.iso7816.errors import CardMute, CardProtocolError, LinkUsageError
from firmware.iso7816.t1 import T1Engine
from firmware.iso7816.timing import LinkTiming

TIMING = LinkTiming(clock_hz=4_800_000, protocol=1)
ETU = 77.5e-6
BWT = 11 * ETU + 16 * 960 * 372 / 4_800_000
CWT = (11 + 8192) * ETU
BGT = 22 * ETU


def engine(**kw) -> T1Engine:
    kw.setdefault("ifsc", 32)
    return T1Engine(TIMING, **kw)


def sent(actions) -> bytes:
    tx = [a for a in actions if isinstance(a, Transmit)]
    assert len(tx) == 1, actions
    return tx[0].data


def card_sends(e: T1Engine, hexbytes: str, t0: float, parity=None, quiet=True) -> list:
    """Feed a card block, 12 etu per character; return the actions of the last.

    A block that fails its checks is answered only after CWT of silence (the
    card may still be sending, §11.4.3): with ``quiet`` the line then stays
    quiet and the CWT timeout's actions are returned too."""
    raw = bytes.fromhex(hexbytes)
    for i, b in enumerate(raw):
        ok = True if parity is None else parity[i]
        acts = e.receive(b, t0 + i * 12 * ETU, ok)
        if i < len(raw) - 1 and not e.state.value == "DEAD":
            assert acts == [Deadline(pytest.approx(t0 + i * 12 * ETU + CWT))], acts
    if quiet and any(isinstance(a, Note) and a.event == "t1_bad_block" for a in acts):
        last = t0 + (len(raw) - 1) * 12 * ETU
        assert of(acts, Transmit) == [] and acts[-1] == Deadline(pytest.approx(last + CWT))
        acts = acts + e.timeout(last + CWT)
    return acts


def of(actions, cls):
    return [a for a in actions if isinstance(a, cls)]


# ---- error-free operation -------------------------------------------------------
def test_simple_exchange_and_sequence_numbers_across_exchanges():
    e = engine()
    assert sent(e.start(bytes.fromhex("0084000008"), 0.0)) == bytes.fromhex(
        "00 00 05 00 84 00 00 08 89")
    assert e.transmitted(0.01) == [Deadline(pytest.approx(0.01 + BWT))]
    acts = card_sends(e, "00 00 02 90 00 92", 0.05)
    assert of(acts, Complete) == [Complete(b"\x90\x00")]
    # second exchange: N(S)=1 on both sides (rule 2)
    assert sent(e.start(b"\x00\xb0\x00\x00", 1.0)) == bytes.fromhex("00 40 04 00 b0 00 00 f4")
    e.transmitted(1.0)
    assert of(card_sends(e, "00 40 02 6a 82 aa", 1.1), Complete) == [Complete(b"\x6a\x82")]


def test_turnaround_is_bgt_after_the_last_card_character():
    e = engine()
    e.start(bytes(40), 0.0)  # 40 > IFSC=32: chained
    e.transmitted(0.0)
    acts = card_sends(e, "00 90 00 90", 0.02)  # R(1): send the next piece
    last_edge = 0.02 + 3 * 12 * ETU
    tx = of(acts, Transmit)[0]
    assert tx.not_before == pytest.approx(last_edge + BGT)


def test_command_chaining_in_ifsc_pieces():
    e = engine(ifsc=16)
    apdu = bytes(range(40))
    first = sent(e.start(apdu, 0.0))
    assert first[:3] == bytes.fromhex("00 20 10") and first[3:19] == apdu[:16]
    e.transmitted(0)
    second = sent(card_sends(e, "00 90 00 90", 0.1))  # R(1)
    assert second[:3] == bytes.fromhex("00 60 10") and second[3:19] == apdu[16:32]
    e.transmitted(0.2)
    third = sent(card_sends(e, "00 80 00 80", 0.3))  # R(0)
    assert third[:3] == bytes.fromhex("00 00 08") and third[3:11] == apdu[32:]
    e.transmitted(0.4)
    assert of(card_sends(e, "00 00 02 90 00 92", 0.5), Complete) == [Complete(b"\x90\x00")]


def test_response_chaining_answered_with_r_blocks():
    e = engine()
    e.start(b"\x00\xc0\x00\x00\x00", 0.0)
    e.transmitted(0.0)
    acts = card_sends(e, "00 20 02 01 02 21", 0.1)  # I(0,1)
    assert sent(acts) == bytes.fromhex("00 90 00 90")  # R(1)
    e.transmitted(0.2)
    acts = card_sends(e, "00 40 02 90 00 d2", 0.3)  # I(1,0)
    assert of(acts, Complete) == [Complete(b"\x01\x02\x90\x00")]


def test_ifsd_negotiation():
    e = engine()
    assert sent(e.negotiate_ifsd(0.0)) == bytes.fromhex("00 c1 01 fe 3e")
    e.transmitted(0.0)
    acts = card_sends(e, "00 e1 01 fe 1e", 0.1)
    assert of(acts, Complete) == [Complete(b"")]
    assert e.state.value == "IDLE"


def test_card_ifs_request_changes_the_piece_size_mid_chain():
    e = engine(ifsc=32)
    apdu = bytes(range(60))
    assert sent(e.start(apdu, 0.0))[2] == 32
    e.transmitted(0.0)
    acts = card_sends(e, "00 c1 01 0a ca", 0.1)  # S(IFS request, 10)
    assert sent(acts) == bytes.fromhex("00 e1 01 0a ea")
    assert e.ifsc == 10
    e.transmitted(0.2)
    nxt = sent(card_sends(e, "00 90 00 90", 0.3))
    assert nxt[:3] == bytes.fromhex("00 60 0a") and nxt[3:13] == apdu[32:42]


def test_wtx_extends_bwt_for_one_block_only():
    e = engine()
    e.start(b"\x00\x2a\x9e\x9a\x00", 0.0)
    e.transmitted(0.0)
    acts = card_sends(e, "00 c3 01 03 c1", 0.5)  # S(WTX request, 3)
    assert sent(acts) == bytes.fromhex("00 e3 01 03 e1")
    assert Note("t1_wtx", "3") in acts
    assert e.transmitted(1.0) == [Deadline(pytest.approx(1.0 + 3 * BWT))]
    # the card's block is corrupted; the R-block's wait is the plain BWT again
    acts = card_sends(e, "00 00 02 90 00 00", 2.0)
    assert sent(acts) == bytes.fromhex("00 81 00 81")
    assert e.transmitted(3.0) == [Deadline(pytest.approx(3.0 + BWT))]


# ---- error handling (§11.6.3) ---------------------------------------------------
def test_edc_error_gives_r_block_then_card_retransmits():
    e = engine()
    e.start(b"\x00\xa4\x00\x00", 0.0)
    e.transmitted(0.0)
    acts = card_sends(e, "00 00 02 90 00 93", 0.1)  # bad LRC
    assert sent(acts) == bytes.fromhex("00 81 00 81")  # R(0, EDC error): rule 7.1
    e.transmitted(0.2)
    assert of(card_sends(e, "00 00 02 90 00 92", 0.3), Complete) == [Complete(b"\x90\x00")]


def test_parity_error_reports_edc_class():
    e = engine()
    e.start(b"\x00\xa4\x00\x00", 0.0)
    e.transmitted(0.0)
    acts = card_sends(e, "00 00 02 90 00 92", 0.1, parity=[1, 1, 1, 0, 1, 1])
    assert sent(acts) == bytes.fromhex("00 81 00 81")


def test_bwt_timeout_gives_r_block_other_error():
    e = engine()
    e.start(b"\x00\xa4\x00\x00", 0.0)
    (dl,) = e.transmitted(0.0)
    assert e.timeout(dl.at - 0.001) == []  # not yet: a stale or early timer does nothing
    assert sent(e.timeout(dl.at)) == bytes.fromhex("00 82 00 82")


def test_card_requests_our_block_again():
    e = engine()
    first = sent(e.start(b"\x00\xa4\x00\x00", 0.0))
    e.transmitted(0.0)
    assert sent(card_sends(e, "00 81 00 81", 0.1)) == first  # R(0): resend I(0)


def test_invalid_pcb_and_len_ff():
    e = engine()
    e.start(b"\x00\xa4\x00\x00", 0.0)
    e.transmitted(0.0)
    assert sent(card_sends(e, "00 a0 00 a0", 0.1)) == bytes.fromhex("00 82 00 82")
    e.transmitted(0.2)
    # LEN=FF: the length is unknown, so the engine waits for CWT of silence
    acts = card_sends(e, "00 00 ff", 0.3, quiet=False)
    assert of(acts, Transmit) == []
    quiet = e.receive(0x12, 0.31)
    assert quiet == [Deadline(pytest.approx(0.31 + CWT))]
    assert sent(e.timeout(0.31 + CWT)) == bytes.fromhex("00 82 00 82")


def test_cwt_cut_block_is_invalid():
    e = engine()
    e.start(b"\x00\xa4\x00\x00", 0.0)
    e.transmitted(0.0)
    e.receive(0x00, 0.1)
    (dl,) = e.receive(0x00, 0.1 + 12 * ETU)
    assert sent(e.timeout(dl.at)) == bytes.fromhex("00 82 00 82")


def test_rule_7_2_our_r_block_is_repeated():
    e = engine()
    e.start(b"\x00\xc0\x00\x00\x00", 0.0)
    e.transmitted(0.0)
    assert sent(card_sends(e, "00 20 02 01 02 21", 0.1)) == bytes.fromhex("00 90 00 90")
    e.transmitted(0.2)
    # the card's next block is corrupt: the same error-free R(1) goes again
    assert sent(card_sends(e, "00 40 02 90 00 00", 0.3)) == bytes.fromhex("00 90 00 90")


def test_three_failed_retries_then_resynch_restarts_from_zero():
    e = engine(ifsc=32)
    e.start(b"\x00\xa4\x00\x00", 0.0)
    e.transmitted(0.0)
    card_sends(e, "00 00 02 90 00 92", 0.1)  # exchange 1 done: both N(S) now 1
    first = sent(e.start(b"\x00\xb0\x00\x00", 1.0))
    assert first[1] == 0x40
    t = 1.0
    for _ in range(3):  # rule 7.1 x3: R(1, EDC)
        e.transmitted(t)
        assert sent(card_sends(e, "00 40 02 90 00 00", t + 0.1)) == bytes.fromhex("00 91 00 91")
        t += 1
    e.transmitted(t)
    acts = card_sends(e, "00 40 02 90 00 00", t + 0.1)  # 4th failure: rule 7.4.2
    assert sent(acts) == bytes.fromhex("00 c0 00 c0")
    e.ifsc = 10  # pretend it was changed: resynch restores the initial IFSC
    e.transmitted(t + 1)
    acts = card_sends(e, "00 e0 00 e0", t + 1.1)
    assert e.ifsc == 32 and e.nr == 0
    # the card is back to IFSD=32: ours (254) is announced again first (rule 4)
    assert sent(acts) == bytes.fromhex("00 c1 01 fe 3e")
    e.transmitted(t + 2)
    acts = card_sends(e, "00 e1 01 fe 1e", t + 2.1)
    assert sent(acts) == bytes.fromhex("00 00 04 00 b0 00 00 b4")  # N(S)=0 again
    e.transmitted(t + 3)
    assert of(card_sends(e, "00 00 02 90 00 92", t + 3.1), Complete) == [Complete(b"\x90\x00")]


def test_resynch_with_default_ifsd_resumes_the_apdu_at_once():
    e = engine(ifsd=32)
    e.start(b"\x00\xa4\x00\x00", 0.0)
    t = 0.0
    for _ in range(4):
        e.transmitted(t)
        acts = card_sends(e, "00 a0 00 a0", t + 0.1)
        t += 1
    assert sent(acts) == bytes.fromhex("00 c0 00 c0")
    e.transmitted(t)
    assert sent(card_sends(e, "00 e0 00 e0", t + 0.1)) == bytes.fromhex("00 00 04 00 a4 00 00 a0")


def test_mute_card_dies_after_three_resynchs_and_stays_dead():
    e = engine()
    acts = e.start(b"\x00\xa4\x00\x00", 0.0)
    sent_blocks, t = [], 0.0
    while not of(acts, Failed):
        if of(acts, Transmit):
            sent_blocks.append(sent(acts).hex(" "))
        (dl,) = e.transmitted(t)
        t = dl.at
        acts = e.timeout(t)
    assert sent_blocks == ["00 00 04 00 a4 00 00 a0"] + ["00 82 00 82"] * 3 + ["00 c0 00 c0"] * 3
    (failed,) = of(acts, Failed)
    assert isinstance(failed.error, CardMute)
    assert e.state.value == "DEAD"
    assert e.start(b"\x00", t) == [Failed(failed.error)]
    assert e.negotiate_ifsd(t) == [Failed(failed.error)]
    assert e.receive(0x00, t) == [Note("t1_stray_char", "00 in DEAD")]


def test_garbling_card_dies_with_protocol_error():
    e = engine()
    acts = e.start(b"\x00\xa4\x00\x00", 0.0)
    t = 0.0
    while not of(acts, Failed):
        e.transmitted(t)
        acts = card_sends(e, "00 a0 00 a0", t + 0.1)  # always an invalid PCB
        t += 1
    assert isinstance(of(acts, Failed)[0].error, CardProtocolError)
    assert t == 7  # first block, 3 retries, 3 resynchs


def test_card_abort_ends_exchange_and_next_one_resynchs():
    e = engine()
    e.start(b"\x00\xc0\x00\x00\x00", 0.0)
    e.transmitted(0.0)
    acts = card_sends(e, "00 c2 00 c2", 0.1)  # S(ABORT request)
    assert sent(acts) == bytes.fromhex("00 e2 00 e2")
    (failed,) = of(acts, Failed)
    assert failed.error.code == "t1_aborted"
    assert e.transmitted(0.2) == []
    assert sent(e.start(b"\x00\xa4\x00\x00", 1.0)) == bytes.fromhex("00 c0 00 c0")


def test_card_resynch_request_is_invalid():
    e = engine()
    e.start(b"\x00\xa4\x00\x00", 0.0)
    e.transmitted(0.0)
    assert sent(card_sends(e, "00 c0 00 c0", 0.1)) == bytes.fromhex("00 82 00 82")


def test_wrong_nad_is_invalid():
    e = engine()
    e.start(b"\x00\xa4\x00\x00", 0.0)
    e.transmitted(0.0)
    assert sent(card_sends(e, "21 00 02 90 00 b3", 0.1)) == bytes.fromhex("00 82 00 82")


def test_block_longer_than_ifsd_is_invalid():
    e = engine(ifsd=2)
    e.start(b"\x00\xa4\x00\x00", 0.0)
    e.transmitted(0.0)
    acts = card_sends(e, "00 00 03 01 90 00 92", 0.1)
    assert sent(acts) == bytes.fromhex("00 82 00 82")


def test_misuse_raises_link_usage_error():
    e = engine()
    e.start(b"\x00", 0.0)
    with pytest.raises(LinkUsageError):
        e.start(b"\x00", 0.0)
    with pytest.raises(LinkUsageError):
        engine(ifsc=0)
