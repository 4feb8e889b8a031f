"""The T=1 transition table (firmware.iso7816.t1.TRANSITIONS) says where a valid
block leads; the engine ends there. Blocks written out by hand (LRC = XOR)."""

from firmware.iso7816.actions import Complete
from firmware.iso7816.t1 import TRANSITIONS, State, T1Engine, Transition
from firmware.iso7816.timing import LinkTiming

ETU = 77.5e-6


def feed(e: T1Engine, hexbytes: str, t0: float) -> list:
    out: list = []
    for i, b in enumerate(bytes.fromhex(hexbytes)):
        out = e.receive(b, t0 + i * 12 * ETU)
    return out


def test_every_row_names_a_handler_and_a_clause():
    assert all(isinstance(t, Transition) and callable(t.handler) and t.rule.startswith("§11.6")
               for t in TRANSITIONS.values())


def test_a_chained_answer_follows_the_table():
    e = T1Engine(LinkTiming(clock_hz=4_800_000, protocol=1), ifsc=32)
    e.start(bytes.fromhex("00b0000004"), 0.0)  # I(0, no M): 00 00 05 00 B0 00 00 04 B1
    e.transmitted(0.01)
    assert e.state is State.SENDING
    # card: I(0, M=1) "90" -> NAD 00, PCB 20, LEN 01, 90, LRC B1
    feed(e, "00 20 01 90 B1", 0.02)
    assert e.state is TRANSITIONS[(State.SENDING, "I+")].to is State.RECEIVING
    e.transmitted(0.03)
    # card: I(1, no M) "00" -> NAD 00, PCB 40, LEN 01, 00, LRC 41
    last = feed(e, "00 40 01 00 41", 0.04)
    assert e.state is TRANSITIONS[(State.RECEIVING, "I")].to is State.IDLE
    assert last[-1] == Complete(bytes.fromhex("9000"))
