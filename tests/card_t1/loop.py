"""A test bench wire between the reader-side T1Engine and the card-side
T1CardSide, on a fake clock (emulated seconds, never wall time).

Characters are 12 etu apart (leading edge to leading edge); the card's first
character comes BGT = 22 etu after the leading edge of the reader's last one,
plus the delay its CardReply asks for. The engine's Deadline is honoured: if it
passes before the next card character, ``timeout`` is called instead."""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware.iso7816.actions import Complete, Deadline, Failed, Note, Transmit
from firmware.iso7816.timing import LinkTiming

CHAR_ETU = 12.0
BGT_ETU = 22.0


@dataclass
class Outcome:
    result: Complete | Failed
    notes: list[Note] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)  # reader blocks, as sent


class FakeCardOS:
    """A card OS that records commands and returns prepared responses."""

    atr = bytes.fromhex("3B80800101")

    def __init__(self, responses: list[bytes] | None = None):
        self.responses = list(responses or [])
        self.commands: list[bytes] = []

    def power_on(self) -> None:
        pass

    def process(self, command: bytes) -> bytes:
        self.commands.append(command)
        return self.responses.pop(0) if self.responses else b"\x90\x00"


def apply_fault(card, name: str, n: int = 1) -> None:
    """Arm one of T1CardSide's fault hooks by name."""
    if name == "corrupt":
        card.corrupt_edc(n)
    elif name == "mute":
        card.stay_mute(n)
    elif name == "bad_pcb":
        card.send_invalid_pcb(n)
    elif name == "wtx":
        card.request_wtx(n)
    elif name == "ifs":
        card.request_ifs(min(254, n))
    elif name == "abort":
        card.request_abort()
    else:
        raise ValueError(name)


class Wire:
    def __init__(self, engine, card, timing: LinkTiming):
        self.engine = engine
        self.card = card
        self.etu = timing.etu
        self.now = 0.0
        self.transmits: list[Transmit] = []

    def exchange(self, apdu: bytes) -> Outcome:
        return self._drive(self.engine.start(apdu, self.now))

    def negotiate(self) -> Outcome:
        return self._drive(self.engine.negotiate_ifsd(self.now))

    def _drive(self, actions: list, limit: int = 10_000) -> Outcome:
        out = Outcome(result=None)  # type: ignore[arg-type]
        incoming: list[tuple[float, int]] = []
        deadline: float | None = None
        for _ in range(limit):
            more: list = []
            for a in actions:
                if isinstance(a, Transmit):
                    self.transmits.append(a)
                    out.sent.append(a.data)
                    incoming, more = self._transmit(a)
                elif isinstance(a, Deadline):
                    deadline = a.at
                elif isinstance(a, Note):
                    out.notes.append(a)
                elif isinstance(a, Complete | Failed):
                    assert out.result is None, "two ends for one exchange"
                    out.result = a
            if more:
                actions = more
                continue
            if out.result is not None:
                return out
            if incoming and (deadline is None or incoming[0][0] <= deadline):
                t, byte = incoming.pop(0)
                self.now = t
                actions = self.engine.receive(byte, t)
            elif deadline is not None:
                self.now, deadline = deadline, None
                actions = self.engine.timeout(self.now)
            else:
                raise AssertionError("exchange stalled: nothing to wait for")
        raise AssertionError("exchange did not end")

    def _transmit(self, a: Transmit) -> tuple[list[tuple[float, int]], list]:
        t0 = max(self.now, a.not_before)
        replies = []
        for byte in a.data:
            replies += self.card.receive(byte)
        last_edge = t0 + (len(a.data) - 1) * CHAR_ETU * self.etu
        self.now = last_edge
        incoming = []
        t = last_edge + (BGT_ETU + sum(r.delay_etu for r in replies[:1])) * self.etu
        for r in replies:
            for byte in r.data:
                incoming.append((t, byte))
                t += (CHAR_ETU + r.char_delay_etu) * self.etu
        return incoming, self.engine.transmitted(last_edge)
