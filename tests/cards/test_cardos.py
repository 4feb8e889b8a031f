"""The emulated card OS, driven with hand-written command bytes: every status word
rule of ISO 7816-4 the profiles rely on."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from board.sim.cards.loader import load_card
from firmware.iso7816.errors import CardGone

VITALE_AID = "F04F544C41564954"
CPS_AID = "F04F544C41435053"


def run(card, hexcmd: str) -> bytes:
    return card.process(bytes.fromhex(hexcmd.replace(" ", "")))


@pytest.fixture
def vitale():
    card = load_card("vitale_famille_essai")
    card.power_on()
    return card


@pytest.fixture
def cps():
    card = load_card("cps_medecin")
    card.power_on()
    return card


def test_select_by_aid_and_unknown_aid(vitale):
    assert run(vitale, "00A4040C08" + VITALE_AID) == b"\x90\x00"
    assert run(vitale, "00A4040C08" + CPS_AID) == b"\x6a\x82"
    fci = run(vitale, "00A4040008" + VITALE_AID + "00")
    assert fci == bytes.fromhex("6F0A8408" + VITALE_AID + "9000")


def test_select_file_errors(vitale):
    assert run(vitale, "00A4020C022001") == b"\x6a\x82"  # no application selected yet
    run(vitale, "00A4040C08" + VITALE_AID)
    assert run(vitale, "00A4020C029999") == b"\x6a\x82"
    assert run(vitale, "00A4020C0120") == b"\x67\x00"
    assert run(vitale, "00A4020702 2001") == b"\x6a\x86"
    assert run(vitale, "00A4FF0C022001") == b"\x6a\x86"


def test_read_binary_rules_t0_style(vitale):
    run(vitale, "00A4040C08" + VITALE_AID)
    fcp = run(vitale, "00A40204022001 00")
    assert fcp[:2] == b"\x62\x0b" and fcp[2:4] == b"\x80\x02"
    size = int.from_bytes(fcp[4:6], "big")
    assert run(vitale, "00B0000000") [-2:] == bytes((0x6C, size))  # Le=256 > size
    whole = run(vitale, f"00B00000{size:02X}")
    assert whole[-2:] == b"\x90\x00" and whole[0] == 0x70 and len(whole) == size + 2
    assert run(vitale, "00B0000203")[:-2] == whole[2:5]  # offset 2, 3 bytes
    assert run(vitale, f"00B000{size:02X}01") == b"\x6b\x00"  # offset at the end
    assert run(vitale, "00B08102 03")[:-2] == whole[2:5]  # SFI 1 (this EF), offset 2
    assert run(vitale, "00B08700 01") == b"\x6a\x82"  # no EF with SFI 7
    assert run(vitale, "00B0A100 01") == b"\x6a\x86"  # b7-b6 of P1 must be 00
    benef = run(vitale, "00B08200 10")  # SFI 2 makes the beneficiaries EF current
    assert benef[0] == 0x65 and run(vitale, "00B0000001")[:-2] == benef[:1]
    assert run(vitale, "00B00000") == b"\x67\x00"  # no Le


def test_read_binary_rules_6282_style(cps):
    run(cps, "00A4040C08" + CPS_AID)
    fcp = run(cps, "00A40204023001 00")
    size = int.from_bytes(fcp[4:6], "big")
    tail = run(cps, f"00B000{size - 4:02X}20")
    assert tail[-2:] == b"\x62\x82" and len(tail) == 4 + 2


def test_read_record_and_structure_errors(cps):
    run(cps, "00A4040C08" + CPS_AID)
    assert run(cps, "00B2010400") == b"\x69\x86"  # no current EF
    run(cps, "00A4020C023002")
    rec = run(cps, "00B2010400")
    assert rec[0] == 0x72 and rec[-2:] == b"\x90\x00"
    assert run(cps, "00B2020400") == b"\x6a\x83"
    assert run(cps, "00B2010C00") == b"\x6a\x86"
    assert run(cps, "00B0000010") == b"\x69\x81"  # READ BINARY on a record EF
    short = run(cps, "00B2010405")
    assert short[0] == 0x6C and short[1] == len(rec) - 2  # exact length announced


def test_case4_carried_as_case3_returns_data_for_the_t0_layer(vitale):
    # T=0 sends SELECT without Le; the card side announces the data by 61xx itself
    assert run(vitale, "00A4040008" + VITALE_AID) == bytes.fromhex("6F0A8408" + VITALE_AID + "9000")
    assert run(vitale, "00C0000010") == b"\x69\x85"  # nothing pending


def test_long_response_waits_for_get_response(cps):
    run(cps, "00A4040C08" + CPS_AID)
    cps.data_objects[0x0101] = bytes(range(256)) + b"tail"
    first = run(cps, "00CA010100")
    assert first[:256] == bytes(range(256)) and first[-2:] == b"\x61\x04"
    assert run(cps, "00C0000004") == b"tail\x90\x00"


def test_class_and_instruction_errors(vitale):
    assert run(vitale, "80A4040C08" + VITALE_AID) == b"\x6e\x00"
    assert run(vitale, "00EE000000") == b"\x6d\x00"
    assert run(vitale, "10A4040C08" + VITALE_AID) == b"\x68\x84"
    assert run(vitale, "00A4") == b"\x67\x00"  # not even a header
    assert run(vitale, "0020000108 3132333400000000") == b"\x6d\x00"  # Vitale has no PIN
    assert run(vitale, "002A9E9A03 010203") == b"\x6d\x00"


def test_get_data_and_challenge(vitale):
    assert run(vitale, "00CA005A00") == b"9100000001\x90\x00"
    assert run(vitale, "00CA5F2400") == bytes.fromhex("20310831 9000")
    assert run(vitale, "00CA010100") == b"\x6a\x88"
    vitale.random = b"\xab"
    assert run(vitale, "0084000008") == b"\xab" * 8 + b"\x90\x00"
    assert run(vitale, "0084000000")[-2:] == b"\x90\x00"
    assert run(vitale, "0084010008") == b"\x6a\x86"


def test_verify_counter_block_and_persistence(cps):
    assert run(cps, "00200001") == b"\x63\xc3"
    assert run(cps, "0020000108 30303030ffffffff") == b"\x63\xc2"
    cps.power_on()  # counters survive a reset
    assert run(cps, "00200001") == b"\x63\xc2"
    assert run(cps, "0020000108 30303030ffffffff") == b"\x63\xc1"
    assert run(cps, "0020000108 30303030ffffffff") == b"\x63\xc0"
    assert run(cps, "0020000108 31323334ffffffff") == b"\x69\x83"  # right PIN, but blocked
    assert run(cps, "00200001") == b"\x69\x83"


def test_verify_wrong_length_and_reference(cps):
    assert run(cps, "0020000104 31323334") == b"\x67\x00"
    assert run(cps, "0020000208 31323334ffffffff") == b"\x6a\x86"
    assert run(cps, "0020000108 31323334ffffffff") == b"\x90\x00"
    assert run(cps, "00200001") == b"\x90\x00"  # already verified


def test_reset_retry_counter_with_unblocking_code(cps):
    for _ in range(3):
        run(cps, "0020000108 39393939ffffffff")
    assert run(cps, "00200001") == b"\x69\x83"
    assert run(cps, "002C010108 3837363534333231") == b"\x63\xc9"  # wrong code: 9 left
    assert run(cps, "002C000110 3132333435363738 35353535ffffffff") == b"\x90\x00"
    assert run(cps, "00200001") == b"\x63\xc3"
    assert run(cps, "0020000108 35353535ffffffff") == b"\x90\x00"
    assert run(cps, "002C000110 3132333435363738 3535ffffffffffff") == b"\x6a\x80"


def test_change_reference_data(cps):
    assert run(cps, "0024000110 31323334ffffffff 39383736ffffffff") == b"\x90\x00"
    assert run(cps, "0020000108 31323334ffffffff") == b"\x63\xc2"
    assert run(cps, "0020000108 39383736ffffffff") == b"\x90\x00"
    assert run(cps, "0024000108 39383736ffffffff") == b"\x67\x00"


def test_signature_preconditions(cps):
    digest_info = "3031300d060960864801650304020105000420" + "11" * 32
    assert run(cps, "002A9E9A33" + digest_info + "00") == b"\x69\x85"  # no MSE
    assert run(cps, "0022 41B6 06 840101 800102") == b"\x90\x00"
    assert run(cps, "002A9E9A33" + digest_info + "00") == b"\x69\x82"  # no PIN
    run(cps, "0020000108 31323334ffffffff")
    assert run(cps, "002A9E9A20" + "11" * 32 + "00") == b"\x6a\x80"  # bare digest refused
    sig = run(cps, "002A9E9A33" + digest_info + "00")
    assert sig[-2:] == b"\x90\x00" and len(sig) == 258
    assert run(cps, "0022 41B6 03 840102") == b"\x6a\x88"  # unknown key
    assert run(cps, "0022 41B6 06 840101 800107") == b"\x6a\x80"  # unknown algorithm
    assert run(cps, "0022 41A4 03 840101") == b"\x6a\x86"
    cps.power_on()  # security status is volatile
    run(cps, "0022 41B6 03 840101")
    assert run(cps, "002A9E9A33" + digest_info + "00") == b"\x69\x82"


def test_internal_authenticate_lengths(vitale):
    assert run(vitale, "0088000000") == b"\x67\x00"
    assert run(vitale, "0088000041" + "00" * 65 + "00") == b"\x67\x00"
    assert run(vitale, "0088000110" + "00" * 16 + "00") == b"\x67\x00"
    assert run(vitale, "0088000208" + "00" * 8 + "00") == b"\x6a\x86"
    assert len(run(vitale, "0088000008" + "01" * 8 + "00")) == 258
    v1 = load_card("vitale1_lunaire")
    v1.power_on()
    assert run(v1, "0088000008" + "01" * 8 + "00") == b"\x6d\x00"


def test_card_removed_between_commands(vitale):
    vitale.remove_after = 1
    assert run(vitale, "00A4040C08" + VITALE_AID) == b"\x90\x00"
    with pytest.raises(CardGone):
        run(vitale, "00A4020C022001")
    with pytest.raises(CardGone):
        vitale.power_on()
    vitale.insert()
    vitale.power_on()
    assert run(vitale, "00A4040C08" + VITALE_AID) == b"\x90\x00"


def test_private_keys_have_no_accessor(cps):
    slot = cps.sign_key
    public = [n for n in dir(slot) if not n.startswith("_")]
    assert sorted(public) == ["key_bits", "sign_digest", "sign_sha256"]
    assert not hasattr(cps.pin, "pin") and not hasattr(cps.pin, "value")


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=0, max_size=300))
def test_any_bytes_get_a_status_word(cps, raw):
    out = cps.process(raw)
    assert len(out) >= 2
    assert out[-2] in (0x90, 0x61, 0x62, 0x63, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E)
