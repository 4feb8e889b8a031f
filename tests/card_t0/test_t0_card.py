"""T0CardSide alone: the reader's characters in, the card's replies checked
against sequences written from ISO 7816-3 §10.3 and ISO 7816-4 Annex A."""

from __future__ import annotations

import pytest

from board.sim.card_side import CardReply
from board.sim.t0_card import T0CardSide

from .line import BufferCard, sign_response


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


def feed(side: T0CardSide, data: str) -> bytes:
    """Send characters; return everything the card answered, concatenated."""
    out = b""
    for b in h(data):
        out += b"".join(r.data for r in side.receive(b))
    return out


def test_case3_ack_mode_then_sw_and_card_os_sees_case3_apdu():
    card = BufferCard()
    side = T0CardSide(card)
    assert feed(side, "00 D6 00 02 03") == h("D6")
    assert feed(side, "AA BB") == b""
    assert feed(side, "CC") == h("90 00")
    assert card.seen == [h("00 D6 00 02 03 AA BB CC")]
    assert card.file[2:5] == h("AA BB CC")


def test_byte_mode_sends_inverted_ins_before_each_byte():
    side = T0CardSide(BufferCard(), mode="byte")
    assert feed(side, "00 D6 00 00 03") == h("29")
    assert feed(side, "AA") == h("29")
    assert feed(side, "BB") == h("29")
    assert feed(side, "CC") == h("90 00")
    assert feed(side, "00 B0 00 00 02") == h("4F AA 4F BB 90 00")


def test_case1_p3_00_incoming_means_no_data():
    card = BufferCard()
    side = T0CardSide(card)
    assert feed(side, "00 44 63 C2 00") == h("63 C2")
    assert card.seen == [h("00 44 63 C2")]


def test_case2_exact_length():
    card = BufferCard(bytes(range(10)))
    side = T0CardSide(card)
    assert feed(side, "00 B0 00 01 03") == h("B0 01 02 03 90 00")
    assert card.seen == [h("00 B0 00 01 03")]


def test_case2_p3_00_means_256():
    side = T0CardSide(BufferCard(bytes(300)))
    assert feed(side, "00 B0 00 00 00") == h("B0") + bytes(256) + h("90 00")


def test_case2_fewer_bytes_than_p3_gives_6c_then_reissue_works():
    side = T0CardSide(BufferCard(bytes(range(10))))
    assert feed(side, "00 B0 00 07 00") == h("6C 03")
    assert feed(side, "00 B0 00 07 03") == h("B0 07 08 09 90 00")


def test_case2_more_data_than_p3_is_kept_for_get_response():
    side = T0CardSide(BufferCard())
    challenge = bytes(range(0xA0, 0xA8))
    assert feed(side, "00 84 00 00 03") == h("84") + challenge[:3] + h("61 05")
    assert feed(side, "00 C0 00 00 06") == h("6C 05")  # P3 too long: La = 5
    assert feed(side, "00 C0 00 00 02") == h("C0") + challenge[3:5] + h("61 03")
    assert feed(side, "00 C0 00 00 03") == h("C0") + challenge[5:] + h("90 00")
    assert feed(side, "00 C0 00 00 01") == h("69 85")  # nothing left


def test_case4_announces_61xx_and_get_response_returns_data():
    card = BufferCard()
    side = T0CardSide(card)
    assert feed(side, "00 88 00 28 02") == h("88")
    assert feed(side, "11 22") == h("61 28")
    expected = sign_response(h("11 22"), 0x28)
    assert feed(side, "00 C0 00 00 28") == h("C0") + expected + h("90 00")


def test_pending_data_is_dropped_by_another_command():
    side = T0CardSide(BufferCard())
    feed(side, "00 88 00 10 01")
    assert feed(side, "11") == h("61 10")
    assert feed(side, "00 44 00 00 00") == h("90 00")
    assert feed(side, "00 C0 00 00 10") == h("69 85")


class TalkativeCard(BufferCard):
    """Ignores Le: always 600 bytes (0, 1, 2, ... mod 256)."""

    def process(self, command: bytes) -> bytes:
        return bytes(i & 0xFF for i in range(600)) + h("90 00")


def test_more_than_256_pending_says_6100_then_counts_down():
    side = T0CardSide(TalkativeCard())
    assert feed(side, "00 B0 00 00 01") == h("B0 00 61 00")  # 599 left: "256 or more"
    assert feed(side, "00 C0 00 00 00") == h("C0") + bytes(range(1, 256)) + h("00 61 00")
    assert feed(side, "00 C0 00 00 00")[-2:] == h("61 57")  # 599 - 512 = 87 = 0x57


def test_ins_6x_9x_is_refused():
    assert feed(T0CardSide(BufferCard()), "00 62 00 00 00") == h("6D 00")


def test_null_bytes_and_delays_are_separate_replies():
    side = T0CardSide(BufferCard(), null_bytes=2, null_interval_etu=500, reply_delay_etu=7)
    replies = []
    for b in h("00 44 00 00 00"):
        replies += side.receive(b)
    assert replies == [
        CardReply(h("60"), delay_etu=507),
        CardReply(h("60"), delay_etu=500),
        CardReply(h("90 00"), delay_etu=500),
    ]


def test_parity_error_from_reader_is_ignored_awaiting_repetition():
    side = T0CardSide(BufferCard())
    out = b""
    for b in h("00 44 00 00"):
        out += b"".join(r.data for r in side.receive(b))
    assert side.receive(0x00, parity_ok=False) == []
    assert side.receive(0x00)[0].data == h("90 00")


def test_mangle_hook_can_change_or_lose_characters():
    lost = T0CardSide(BufferCard(), mangle=lambda i, b: None if i == 1 else b)
    assert feed(lost, "00 44 00 00 00") == h("90")
    flipped = T0CardSide(BufferCard(), mangle=lambda i, b: b ^ 0x01)
    assert feed(flipped, "00 44 00 00 00") == h("91 01")
    assert flipped.sent == 2


def test_reset_forgets_a_half_received_command():
    side = T0CardSide(BufferCard())
    feed(side, "00 D6 00")
    side.reset()
    assert feed(side, "00 44 00 00 00") == h("90 00")


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        T0CardSide(BufferCard(), mode="fast")
