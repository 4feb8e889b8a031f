"""A unit on the simulated board with its UI, driven by key and card events only.

The card jobs the UI asks for run synchronously (firmware.ui.events.run_job, the
tiny executor) and their completion comes back as an event, as the unit's loop
does. The board is tests/visit/simboard.py's (real store in a temp dir, emulated
cards from board/sim/cards behind the real CardLink, records signed by a test
office key)."""

from __future__ import annotations

import os

from visit.simboard import MEDECIN_BN, NURSE_BN, PAUL, PINS, SimBoard, invoice

from board.sim.pki import TestPki
from firmware.parts import Beep, Key, KeyEvent
from firmware.ui import Ui
from firmware.ui.events import (
    AnswerPairing,
    BatteryLevel,
    CardInserted,
    CardRemoved,
    RunJob,
    Sound,
    Tick,
    run_job,
)
from firmware.unit import Unit, UnitConfig
from firmware.visit import Terminal

SEEN: set[str] = set()  # every screen text any driver showed (the glyph test reads it)
KEYS = {"valider": Key.VALIDER, "annuler": Key.ANNULER, "corriger": Key.CORRIGER,
        "up": Key.UP, "down": Key.DOWN, "menu": Key.MENU}
FIXED_SERIAL = "TLA-0A1B2C3D4E5F"


class UiBoard(SimBoard):
    """SimBoard with a fixed serial and a fixed firmware tree for the seal, so
    the screens are the same from one run to the next (golden images)."""

    def __init__(self, tmp_path, pki: TestPki):
        self.seal_base = os.path.join(tmp_path, "seal-tree")
        os.makedirs(os.path.join(self.seal_base, "firmware"), exist_ok=True)
        with open(os.path.join(self.seal_base, "firmware", "main.py"), "w") as f:
            f.write("# the seal of this tree is fixed\n")
        super().__init__(tmp_path, pki)

    def open_unit(self) -> Unit:
        return Unit(UnitConfig(store_path=self.path, serial=FIXED_SERIAL,
                               seal_base=self.seal_base, idle_timeout_s=300.0),
                    vitale_slot=lambda: self._connect("vitale"),
                    cps_slot=lambda: self._connect("cps"), clock=self.clock, gauge=self.gauge,
                    monotonic=self.monotonic)


class Driver:
    """Presses keys, inserts and pulls cards; runs the UI's effects like the loop."""

    def __init__(self, board: UiBoard):
        self.board = board
        self.terminal = Terminal(board.unit)
        self.ui = Ui(self.terminal)
        self.sounds: list[Beep] = []
        self.pairing_answers: list[bool] = []
        self.jobs: list[str] = []
        self.on_job = None  # a hook run before each job (e.g. pull a card mid-signing)

    def restart(self) -> None:
        """Power cut and start again: a new unit on the same store."""
        self.board.reopen()
        self.__init__(self.board)

    def feed(self, event) -> None:
        queue = [event]
        while queue:
            for effect in self.ui.handle(queue.pop(0)):
                if isinstance(effect, RunJob):
                    self.jobs.append(effect.job)
                    if self.on_job is not None:
                        self.on_job(effect.job)
                    queue.append(run_job(effect))
                elif isinstance(effect, Sound):
                    self.sounds.append(effect.kind)
                elif isinstance(effect, AnswerPairing):
                    self.pairing_answers.append(effect.accept)
            SEEN.add(self.ui.view().text())

    def key(self, *names: str) -> None:
        for name in names:
            key = KEYS.get(name) or Key(name)
            self.board.monotonic.t += 0.5
            self.feed(KeyEvent(key, True, self.board.monotonic.t))
            self.feed(KeyEvent(key, False, self.board.monotonic.t + 0.1))

    def digits(self, text: str) -> None:
        self.key(*text)

    def insert(self, slot: str, card) -> None:
        self.board.insert(slot, card)
        self.feed(CardInserted(slot))

    def pull(self, slot: str) -> None:
        self.board.pull(slot)
        self.feed(CardRemoved(slot))

    def wait(self, seconds: float) -> None:
        self.board.monotonic.t += seconds
        self.feed(Tick(self.board.monotonic.t))

    def battery(self, percent: int | None) -> None:
        self.board.gauge.value = percent
        self.feed(BatteryLevel(percent))

    @property
    def screen(self) -> str:
        return self.ui.screen

    def text(self) -> str:
        return self.ui.view().text()

    def flat(self) -> str:
        """The screen's text on one line (wrapped words joined again)."""
        return " ".join(self.text().split())

    def unlock(self, card: str = "cps_medecin") -> None:
        """Lock screen -> home with the card's PIN."""
        self.insert("cps", card)
        self.digits(PINS[card])
        self.key("valider")


def prepare(board: UiBoard, cps: str = "cps_medecin", invoices=(), ranges: bool = True) -> None:
    """The office's part, before the day: pair, enrol the CPS, load the tariff,
    the FSE number ranges and the prepared invoices; the CPS leaves its slot."""
    term = Terminal(board.unit)
    board.pair()
    board.insert("cps", cps)
    term.enrol(PINS[cps])
    term.lock()
    board.load_tariff()
    if ranges:
        board.load_range(MEDECIN_BN)
        board.load_range(NURSE_BN)
    for inv in invoices:
        board.load_invoice(inv)
    board.pull("cps")


DAY = (invoice("INV-1", patient=PAUL),
       invoice("INV-2", lines=[{"code": "G"}],
               patient={**PAUL, "nir": "2830399999015", "nir_key": "83", "birth_date": "00/03/1983",
                        "first_name": "MARIE"}))


def mute(board: UiBoard, slot: str, card: str) -> None:
    """A card in the slot that never answers the reset (no ATR)."""
    from board.sim.card_emulator import CardEmulator, EmulatorConfig
    from board.sim.cards.loader import load_card
    from board.sim.slot import SimCardSlot

    board.slots[slot] = SimCardSlot(CardEmulator(load_card(card, board.pki),
                                                 EmulatorConfig(atr_script=[None])))
