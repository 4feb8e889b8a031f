"""T0Engine driven by hand: bytes in, a fake clock, expected TPDUs written out
from ISO 7816-3 §10.3 / ISO 7816-4 Annex A (not from the engine)."""

from __future__ import annotations

import pytest

from firmware.iso7816.actions import Complete, Deadline, Failed, Note, Transmit
from firmware.iso7816.errors import CardMute, CardProtocolError, LinkUsageError
from firmware.iso7816.t0 import State, T0Engine
from firmware.iso7816.timing import LinkTiming

# 3.5712 MHz, Fi=372, Di=1, WI=10: etu = 372/3 571 200 s; WWT = 960*10*372/f = 1 s.
TIMING = LinkTiming(clock_hz=3_571_200)
ETU = 372 / 3_571_200
WWT = 1.0
TURN = 16 * ETU


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


def sent(actions) -> list[Transmit]:
    return [a for a in actions if isinstance(a, Transmit)]


def last(actions):
    return actions[-1]


class Driver:
    """Minimal hand driver: the card's characters 12 etu apart."""

    def __init__(self):
        self.e = T0Engine(TIMING)
        self.t = 0.0

    def start(self, apdu: str) -> bytes:
        acts = self.e.start(h(apdu), self.t)
        return self._sent(acts)

    def _sent(self, acts) -> bytes:
        (tx,) = sent(acts)
        self.t = max(self.t, tx.not_before) + (len(tx.data) - 1) * 12 * ETU
        after = self.e.transmitted(self.t)
        assert after == [Deadline(self.t + WWT)]
        return tx.data

    def card(self, data: str):
        """Feed the card's characters; return the last call's actions."""
        acts = []
        self.t += TURN
        for b in h(data):
            acts = self.e.receive(b, self.t)
            self.t += 12 * ETU
        self.t -= 12 * ETU
        return acts

    def card_then_tx(self, data: str) -> bytes:
        return self._sent(self.card(data))


def test_case1_sends_p3_00_and_returns_sw():
    d = Driver()
    assert d.start("00 44 00 00") == h("00 44 00 00 00")
    assert d.card("90 00") == [Deadline(None), Complete(h("90 00"))]
    assert d.e.state is State.IDLE


def test_case2_ack_then_all_data():
    d = Driver()
    assert d.start("00 B0 00 10 04") == h("00 B0 00 10 04")
    assert d.card("B0 11 22 33 44 90 00") == [Deadline(None), Complete(h("11 22 33 44 90 00"))]


def test_case2_le_256_is_p3_00_and_reads_256_bytes():
    d = Driver()
    assert d.start("00 B0 00 00 00") == h("00 B0 00 00 00")
    data = bytes(range(256))
    acts = d.card("B0" + data.hex() + "9000")
    assert acts[-1] == Complete(data + h("9000"))


def test_case3_sends_data_after_ack_respecting_turnaround():
    d = Driver()
    assert d.start("00 D6 00 00 03 AA BB CC") == h("00 D6 00 00 03")
    acts = d.card("D6")
    ack_edge = d.t
    (tx,) = sent(acts)
    assert tx.data == h("AA BB CC")
    assert tx.not_before == pytest.approx(ack_edge + 16 * ETU)
    d._sent(acts)
    assert d.card("90 00")[-1] == Complete(h("9000"))


def test_case4_61xx_issues_get_response_with_cla_of_command():
    d = Driver()
    assert d.start("80 88 00 00 02 11 22 00") == h("80 88 00 00 02")
    assert d.card_then_tx("88") == h("11 22")
    assert d.card_then_tx("61 03") == h("80 C0 00 00 03")
    assert d.card("C0 01 02 03 90 00")[-1] == Complete(h("01 02 03 90 00"))


def test_case4_9000_then_get_response_p3_le_then_6c_reissue():
    # ISO 7816-4 A.4S.2: 9000 -> GET RESPONSE with P3 = Le; A.2S.3 on its 6Cxx.
    d = Driver()
    d.start("00 88 00 00 01 55 10")
    d.card_then_tx("88")
    assert d.card_then_tx("90 00") == h("00 C0 00 00 10")
    assert d.card_then_tx("6C 02") == h("00 C0 00 00 02")
    assert d.card("C0 AB CD 90 00")[-1] == Complete(h("AB CD 90 00"))


def test_case4_9000_and_no_data_keeps_9000():
    d = Driver()
    d.start("00 88 00 00 01 55 00")
    d.card_then_tx("88")
    assert d.card_then_tx("90 00") == h("00 C0 00 00 00")
    acts = d.card("69 85")
    assert acts[-1] == Complete(h("90 00"))
    assert any(isinstance(a, Note) and a.event == "probe_empty" for a in acts)


def test_case4_error_status_is_returned_unchanged():
    d = Driver()
    d.start("00 88 00 00 01 55 00")
    d.card_then_tx("88")
    assert d.card("6A 80")[-1] == Complete(h("6A 80"))


def test_6c_reissue_keeps_only_le_bytes():
    # Le = 2, card has 4 (6C04): re-issue P3=04, keep the first Le bytes (A.2S.3).
    d = Driver()
    d.start("00 B0 00 00 02")
    assert d.card_then_tx("6C 04") == h("00 B0 00 00 04")
    assert d.card("B0 01 02 03 04 90 00")[-1] == Complete(h("01 02 90 00"))


def test_second_6c_is_returned_unchanged():
    d = Driver()
    d.start("00 B0 00 00 08")
    d.card_then_tx("6C 04")
    assert d.card("6C 03")[-1] == Complete(h("6C 03"))


def test_61xx_chaining_over_several_get_responses():
    d = Driver()
    d.start("00 B0 00 00 00")  # Le = 256
    assert d.card_then_tx("61 02") == h("00 C0 00 00 02")
    assert d.card_then_tx("C0 01 02 61 03") == h("00 C0 00 00 03")
    assert d.card("C0 03 04 05 90 00")[-1] == Complete(h("01 02 03 04 05 90 00"))


def test_61xx_stops_when_le_reached_and_reports_more():
    d = Driver()
    d.start("00 88 00 00 01 55 03")
    d.card_then_tx("88")
    assert d.card_then_tx("61 10") == h("00 C0 00 00 03")
    assert d.card("C0 01 02 03 61 0D")[-1] == Complete(h("01 02 03 61 0D"))


def test_61xx_after_case3_is_left_to_the_application():
    d = Driver()
    d.start("00 D6 00 00 01 AA")
    d.card_then_tx("D6")
    assert d.card("61 04")[-1] == Complete(h("61 04"))


def test_inverted_ins_moves_one_byte_at_a_time_both_ways():
    d = Driver()
    d.start("00 D6 00 00 03 AA BB CC")
    assert d.card_then_tx("29") == h("AA")  # D6 xor FF
    assert d.card_then_tx("29") == h("BB")
    assert d.card_then_tx("D6") == h("CC")  # then INS: the rest
    assert d.card("90 00")[-1] == Complete(h("90 00"))
    d.start("00 B0 00 00 02")
    assert d.card("4F 11 4F 22 90 00")[-1] == Complete(h("11 22 90 00"))


def test_null_bytes_rearm_wwt_from_each_null():
    d = Driver()
    d.start("00 44 00 00")
    for _ in range(3):
        d.t += 0.9  # just inside WWT each time
        acts = d.e.receive(0x60, d.t)
        assert acts[0].event == "null_byte"
        assert acts[-1] == Deadline(d.t + WWT)
    assert d.card("90 00")[-1] == Complete(h("90 00"))


def test_wwt_expiry_fails_card_mute_and_early_timer_is_ignored():
    d = Driver()
    d.start("00 44 00 00")
    early = d.e.timeout(d.t + 0.5)
    assert [a.event for a in early] == ["early_timeout"] and d.e.busy
    acts = d.e.timeout(d.t + WWT)
    assert acts[0] == Deadline(None)
    assert isinstance(acts[1], Failed) and isinstance(acts[1].error, CardMute)
    assert not d.e.busy
    assert d.e.receive(0x90, d.t + 2)[0].event == "stray_byte"


def test_parity_errors_are_dropped_until_five_repetitions():
    d = Driver()
    d.start("00 44 00 00")
    t = d.t + TURN
    for i in range(1, 6):  # original and 4 repetitions wrong: still going
        acts = d.e.receive(0x90, t, parity_ok=False)
        assert acts == [Note("parity_error", f"repetition {i}"), Deadline(t + WWT)]
        t += 12 * ETU
    assert d.e.receive(0x90, t) == [Deadline(t + WWT)]
    assert d.e.receive(0x00, t + 12 * ETU)[-1] == Complete(h("90 00"))


def test_sixth_consecutive_parity_error_fails():
    d = Driver()
    d.start("00 44 00 00")
    for i in range(5):
        d.e.receive(0x90, d.t + i, parity_ok=False)
    acts = d.e.receive(0x90, d.t + 6, parity_ok=False)
    assert isinstance(acts[-1], Failed) and isinstance(acts[-1].error, CardProtocolError)
    assert acts[-1].error.code == "t0_parity"


@pytest.mark.parametrize("proc", ["42", "A5", "FF", "00"])
def test_invalid_procedure_byte_fails(proc):
    d = Driver()
    d.start("00 A4 00 00 02 3F 00")
    acts = d.card(proc)
    assert isinstance(acts[-1], Failed) and isinstance(acts[-1].error, CardProtocolError)
    assert not d.e.busy


def test_ack_with_nothing_to_move_fails():
    d = Driver()
    d.start("00 44 00 00")
    acts = d.card("44")
    assert isinstance(acts[-1], Failed) and acts[-1].error.code == "t0_bad_procedure"


def test_endless_61_chaining_fails():
    d = Driver()
    d.start("00 B0 00 00 05")
    for _ in range(257):
        assert d.card_then_tx("61 05") == h("00 C0 00 00 05")
    acts = d.card("61 05")
    assert isinstance(acts[-1], Failed) and acts[-1].error.code == "t0_chaining_endless"


def test_misuse_raises_and_leaves_engine_usable():
    e = T0Engine(TIMING)
    with pytest.raises(LinkUsageError):
        e.transmitted(0.0)
    with pytest.raises(LinkUsageError) as ext:
        e.start(h("00 B0 00 00 00 01 00"), 0.0)  # extended Le = 256
    assert ext.value.code == "apdu_extended_unsupported"
    with pytest.raises(LinkUsageError) as bad:
        e.start(h("00 B0 00"), 0.0)
    assert bad.value.code == "apdu_malformed"
    e.start(h("00 44 00 00"), 0.0)
    with pytest.raises(LinkUsageError):
        e.receive(0x90, 0.001)  # before transmitted()
    with pytest.raises(LinkUsageError):
        e.start(h("00 44 00 00"), 0.0)
    e.transmitted(0.001)
    assert e.receive(0x90, 0.01) == [Deadline(0.01 + WWT)]
    assert e.receive(0x00, 0.02)[-1] == Complete(h("90 00"))


def test_first_header_waits_turnaround_after_previous_exchange():
    d = Driver()
    d.start("00 44 00 00")
    d.card("90 00")
    last_rx = d.t
    (tx,) = sent(d.e.start(h("00 44 00 00"), last_rx + ETU))
    assert tx.not_before == pytest.approx(last_rx + 16 * ETU)
