"""Every single fault at every character of a session, through the whole stack.

A session of case 1-4 APDUs (ISO/IEC 7816-3:2006 §12.1) runs on the simulated
board (slot engine, T=0 / T=1 engine, card emulator, MemoryTestCard). For each
fault class the fault is put on *each* character index of the protocol phase
of the fault-free session, one run per index. Each run must end either with
the responses the card OS gave or with a clean :class:`CardError` whose code
belongs to that fault class, the slot then powered down (§6.4). Any other
exception fails the test. Where ISO 7816-3 provides recovery the run must
recover:

- T=1: a lost, corrupted or parity-flagged character is a transmission error,
  retried by rules 7.1-7.3 (§11.6.3) after CWT of silence (§11.4.3);
- T=0: a card character received with a parity error is repeated by the card
  (§7.3), the engine drops the bad copy.

T=0 has no block check (§10): a corrupted data character reaches the
application; the test then demands exactly that one character changed, and for
a command corrupted on its way to the card, exactly what the card OS answered
to the command it received.

The expected responses are written out by hand from MemoryTestCard's
semantics: memory is bytes 0..255 repeated, ECHO returns its data.
"""

from __future__ import annotations

import pytest

from board.sim.card_emulator import CardEmulator, Faults, MemoryTestCard
from board.sim.slot import REFERENCE_ATRS, SimCardSlot
from firmware.iso7816.apdu import CommandAPDU
from firmware.iso7816.errors import CardError, CardGone
from firmware.iso7816.link import CardLink
from firmware.iso7816.slot import SlotConfig, State

H = bytes.fromhex
OK = H("9000")
ECHO_40 = bytes(range(100, 140))

# (command, response a MemoryTestCard gives, computed by hand)
T0_SESSION = [
    (CommandAPDU(0x80, 0xEE, 0, 0), OK),  # case 1: ECHO without data
    (CommandAPDU(0x00, 0xB0, 0x00, 0x10, le=8), H("1011121314151617") + OK),  # case 2
    (CommandAPDU(0x00, 0xD6, 0x00, 0x20, data=H("A1A2A3A4A5")), OK),  # case 3
    (CommandAPDU(0x80, 0xEE, 0, 0, data=H("0102030405C6"), le=6), H("0102030405C6") + OK),  # 4
    (CommandAPDU(0x00, 0xB0, 0x00, 0x1E, le=6), H("1E1FA1A2A3A4") + OK),  # sees the update
]
T1_SESSION = [
    *T0_SESSION,
    # 46-byte command > IFSC 32: chained by the reader (rule 5)
    (CommandAPDU(0x80, 0xEE, 0, 0, data=ECHO_40, le=256), ECHO_40 + OK),
    # 82-byte answer > IFSD 64: chained by the card
    (CommandAPDU(0x00, 0xB0, 0x01, 0x00, le=80), bytes(range(80)) + OK),
]


def crc_atr() -> bytes:
    """The CPS4 ATR with TD2 = 41 and TC3 = 01 (T=1 with CRC, §11.4.4); TCK
    recomputed so that T0..TCK XOR to 00 (§8.2.5)."""
    body = H("3B9B18804101") + H("0012250064800401000090")
    tck = 0
    for b in body[1:]:
        tck ^= b
    return body + bytes([tck])


CARDS = {
    "vitale2": (REFERENCE_ATRS["vitale2"][0], None, T0_SESSION),
    "vitale1": (REFERENCE_ATRS["vitale1"][0], None, T0_SESSION),  # inverse convention
    "cps4-t1-lrc": (REFERENCE_ATRS["cps4-t1"][0], 1, T1_SESSION),
    "cps4-t1-crc": (crc_atr(), 1, T1_SESSION),
}
FAULTS = ("lost_at", "corrupt_at", "parity_at", "remove_at")

# Clean errors a fault may end in, per protocol and fault class.
T0_ERRORS = {
    "lost_at": {"t0_wwt_expired", "t0_bad_procedure"},
    "corrupt_at": {"t0_wwt_expired", "t0_bad_procedure", "io_collision"},
}


class Run:
    """One session on a fresh card with one fault."""

    def __init__(self, card: str, faults: Faults):
        atr, prefer, self.session = CARDS[card]
        self.os = MemoryTestCard(atr=atr)
        self.emulator = CardEmulator(self.os, faults=faults)
        self.port = SimCardSlot(self.emulator)
        self.link = CardLink(self.port, SlotConfig(prefer_protocol=prefer, ifsd=64))
        self.responses: list[bytes] = []
        self.error: CardError | None = None
        try:
            self.link.power_on()
            for command, _ in self.session:
                self.responses.append(self.link.transmit(command).to_bytes())
        except CardError as exc:  # anything else propagates and fails the test
            self.error = exc

    @property
    def expected(self) -> list[bytes]:
        return [response for _, response in self.session]


def clean_session(card: str) -> tuple[Run, str]:
    """The fault-free run and the direction ('R'/'C') of each protocol-phase
    character, in line order."""
    run = Run(card, Faults())
    assert run.error is None and run.responses == run.expected
    chars = sorted(run.emulator.log, key=lambda c: c.at)
    count = run.emulator._index  # characters counted since the protocol phase began
    directions = "".join("C" if c.from_card else "R" for c in chars[len(chars) - count:])
    assert "R" in directions and "C" in directions
    return run, directions


def assert_powered_down(run: Run) -> None:
    assert not run.port.vcc and run.port.clock_hz == 0
    assert run.link.slot.state in (State.INACTIVE, State.ABSENT)
    assert run.link.powered_down


def one_char_changed(got: bytes, want: bytes) -> bool:
    """``got`` is ``want`` with one byte XOR 03 (the emulator's corruption)."""
    diffs = [(a, b) for a, b in zip(got, want, strict=False) if a != b]
    return len(got) == len(want) and len(diffs) == 1 and diffs[0][0] ^ diffs[0][1] == 0x03


def os_answers(commands: list[bytes]) -> list[bytes]:
    """What a fresh MemoryTestCard answers to the commands the card OS got
    (T=0 hands case-4 commands to the OS in case-3 form, so the answers are the
    response APDUs the application must see)."""
    reference = MemoryTestCard()
    return [reference.process(c) for c in commands]


def check_t1(run: Run, fault: str) -> None:
    if fault == "remove_at":
        assert isinstance(run.error, CardGone) and run.error.code == "card_removed"
        assert_powered_down(run)
        return
    # §11.6.3: one lost / corrupted / parity-flagged character is recovered.
    assert run.error is None, run.error
    assert run.responses == run.expected
    assert run.port.vcc and run.link.slot.state is State.READY


def check_t0(run: Run, fault: str, direction: str) -> None:
    if fault == "remove_at":
        assert isinstance(run.error, CardGone) and run.error.code == "card_removed"
        assert_powered_down(run)
        return
    if fault == "parity_at":  # §7.3: the card repeats (reader chars: no effect)
        assert run.error is None, run.error
        assert run.responses == run.expected
        return
    if fault == "lost_at":  # T=0 cannot resynchronise: a clean failure
        assert run.error is not None and run.error.code in T0_ERRORS[fault], run.error
        assert_powered_down(run)
        return
    if run.error is not None:
        assert run.error.code in T0_ERRORS[fault], run.error
        assert_powered_down(run)
        done = len(run.responses)
        assert run.responses == run.expected[:done]  # exchanges before the fault
        return
    if direction == "R":  # the card OS got a changed command: we see its answer
        assert run.responses == os_answers(run.os.commands)
        assert run.responses != run.expected or run.os.commands != [c.to_bytes() for c, _ in run.session]
        return
    # a corrupted card character: exactly one exchange shows it, as that one
    # character changed, or (procedure byte 61 read as 62, ISO 7816-4 warning)
    # as a bare status word
    diff = [k for k, (a, b) in enumerate(zip(run.responses, run.expected, strict=True)) if a != b]
    assert len(diff) <= 1
    for k in diff:
        got, want = run.responses[k], run.expected[k]
        assert one_char_changed(got, want) or (len(got) == 2 and got[0] == 0x61 ^ 0x03), (got, want)


@pytest.mark.parametrize("card", list(CARDS))
@pytest.mark.parametrize("fault", FAULTS)
def test_single_fault_at_every_character(card: str, fault: str):
    clean, directions = clean_session(card)
    protocol = clean.link.protocol
    assert protocol == (1 if "t1" in card else 0)
    for index, direction in enumerate(directions):
        value = index if fault == "remove_at" else frozenset({index})
        run = Run(card, Faults(**{fault: value}))
        try:
            if protocol == 1:
                check_t1(run, fault)
            else:
                check_t0(run, fault, direction)
        except AssertionError as exc:
            raise AssertionError(f"{card} {fault} at {index} ({direction}): {exc}") from exc


def test_lost_card_nad_in_t1_is_recovered_after_cwt_of_silence():
    # The regression of the sweep: the NAD of the card's longest block is lost,
    # the reader reads a short block with a bad EDC while the card is still
    # sending. It answers R(N(R)) only after CWT of silence (§11.4.3), never
    # over the card's characters (this used to end in io_collision).
    clean, directions = clean_session("cps4-t1-lrc")
    runs = [(len(part), k) for k, part in _card_runs(directions)]
    _, index = max(runs)
    run = Run("cps4-t1-lrc", Faults(lost_at=frozenset({index})))
    assert run.error is None and run.responses == run.expected
    events = [n.event for n in run.link.notes]
    assert "t1_bad_block" in events and "t1_retry" in events
    line = sorted(run.emulator.log, key=lambda c: c.at)
    lost_at = line[len(line) - run.emulator._index + index].at  # same prefix as the clean run
    r_block = min(c.at for c in line if not c.from_card and c.at > lost_at)
    card_before = max(c.at for c in line if c.from_card and c.at < r_block)
    cwt = (11 + 2**13) * run.link.timing.etu  # CWI = 13 by default (§11.4.3)
    assert r_block - card_before >= cwt
    # and nothing on the line overlapped: leading edges at least 11 etu apart
    for before, after in zip(line, line[1:], strict=False):
        assert after.at - before.at >= 11 * min(before.etu, after.etu) * 0.999


def _card_runs(directions: str):
    """(start index, run) for each stretch of card characters."""
    k = 0
    for part in directions.replace("RC", "R|C").replace("CR", "C|R").split("|"):
        if part[0] == "C":
            yield k, part
        k += len(part)
