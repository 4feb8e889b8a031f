"""Card side of T=1 driven with hand-built reader blocks (LRC by hand)."""

from board.sim.t1_card import T1CardSide

from .loop import FakeCardOS


def feed(card: T1CardSide, hexbytes: str, parity=None) -> str:
    raw = bytes.fromhex(hexbytes)
    out = []
    for i, b in enumerate(raw):
        replies = card.receive(b, True if parity is None else parity[i])
        assert i == len(raw) - 1 or replies == [], "answered before the block ended"
        out += replies
    return " ".join(r.data.hex(" ") for r in out)


def test_command_in_two_pieces_and_response_in_ifsd_pieces():
    os_ = FakeCardOS([bytes.fromhex("0102030490 00")])
    card = T1CardSide(os_, ifsc=32)
    assert feed(card, "00 c1 01 03 c3") == "00 e1 01 03 e3"  # IFSD = 3
    assert feed(card, "00 20 02 00 b0 92") == "00 90 00 90"  # I(0,1) -> R(1)
    # I(1,0) ends the command; the 6-byte answer goes in pieces of 3
    assert feed(card, "00 40 03 00 00 04 47") == "00 20 03 01 02 03 23"  # I(0,1)
    assert os_.commands == [bytes.fromhex("00b0000004")]
    assert feed(card, "00 90 00 90") == "00 40 03 04 90 00 d7"  # R(1) -> I(1,0)


def test_parity_or_edc_error_gets_r_block_and_retransmission_is_accepted():
    os_ = FakeCardOS([b"\x90\x00"])
    card = T1CardSide(os_, ifsc=32)
    assert feed(card, "00 00 01 00 01", parity=[1, 1, 0, 1, 1]) == "00 81 00 81"
    assert feed(card, "00 00 01 00 02") == "00 81 00 81"  # bad LRC; rule 7.2 repeat
    assert feed(card, "00 00 01 00 01") == "00 00 02 90 00 92"
    assert os_.commands == [b"\x00"]


def test_r_block_naming_our_last_i_block_gets_it_again():
    card = T1CardSide(FakeCardOS([b"\x90\x00"]), ifsc=32)
    answer = feed(card, "00 00 01 00 01")
    assert feed(card, "00 82 00 82") == answer  # R(0): the reader missed I(0)


def test_resynch_resets_sequence_numbers_and_sizes():
    card = T1CardSide(FakeCardOS([b"\x90\x00"]), ifsc=32)
    feed(card, "00 c1 01 10 d0")
    feed(card, "00 00 01 00 01")
    assert (card.ns, card.nr, card.ifsd) == (0, 1, 16)
    assert feed(card, "00 c0 00 c0") == "00 e0 00 e0"
    assert (card.ns, card.nr, card.ifsd) == (0, 0, 32)


def test_block_over_ifsc_is_refused():
    card = T1CardSide(FakeCardOS(), ifsc=2)
    assert feed(card, "00 00 03 01 02 03 03") == "00 82 00 82"


def test_wtx_hook_holds_the_answer_until_granted():
    card = T1CardSide(FakeCardOS([b"\x90\x00"]), ifsc=32)
    card.request_wtx(4, delay_etu=1000)
    assert feed(card, "00 00 01 00 01") == "00 c3 01 04 c6"
    replies = card.receive(0x00), card.receive(0xE3), card.receive(0x01), card.receive(0x04)
    (reply,) = card.receive(0xE6)
    assert replies == ([], [], [], []) and reply.delay_etu == 1000
    assert reply.data == bytes.fromhex("00 00 02 90 00 92")


def test_fault_hooks_corrupt_mute_and_invalid_pcb():
    card = T1CardSide(FakeCardOS([b"\x90\x00"] * 3), ifsc=32)
    card.stay_mute(1)
    assert feed(card, "00 00 01 00 01") == ""
    card.corrupt_edc(1)
    assert feed(card, "00 00 01 00 01") == "00 00 02 90 00 93"
    card.send_invalid_pcb(1)
    assert feed(card, "00 82 00 82") == "00 a0 00 a0"
    assert feed(card, "00 82 00 82") == "00 00 02 90 00 92"


def test_idle_drops_a_partial_block():
    card = T1CardSide(FakeCardOS([b"\x90\x00"]), ifsc=32)
    assert feed(card, "00 00 01") == ""  # a character of this block was lost
    card.idle()  # CWT of silence: the card forgets the partial block
    assert feed(card, "00 00 01 00 01") == "00 00 02 90 00 92"


def test_quiet_before_error_holds_the_r_block_until_the_line_is_quiet():
    # A bad block may be misframed while the reader is still sending (§11.4.3):
    # with quiet_before_error the card drops what follows and answers only
    # when the line model reports CWT of silence.
    os_ = FakeCardOS([b"\x90\x00"])
    card = T1CardSide(os_, ifsc=32, quiet_before_error=True)
    # NAD lost: 40 05 00 b0 reads as a block with LEN 0 and a bad LRC
    assert feed(card, "40 05 00 b0") == ""
    assert feed(card, "00 00 00 48") == ""  # the rest of the reader's block: dropped
    assert [r.data.hex(" ") for r in card.quiet()] == ["00 81 00 81"]  # R(0), EDC error
    assert card.quiet() == []  # released once
    # the reader's repetition is then taken normally
    assert feed(card, "00 00 01 00 01") == "00 00 02 90 00 92"
    assert os_.commands == [b"\x00"]
