"""The unit running on the simulated board (``tla-unit sim`` and ``tla-unit demo``).

Built exactly as ``tla-unit run --board sim`` builds it: ``board.build`` gives the
simulated parts (:mod:`board.sim.parts`: two :class:`~board.sim.slot.SimCardSlot`
"vitale" and "ps", the saved RTC, the fuel-gauge twin, the pty link port, the
keypad, display and buzzer twins) and :class:`firmware.app.UnitApp` puts the
firmware on them, on a thread of its own (:class:`firmware.app.UnitThread`).
What this class adds is the simulated person: emulated cards of
``board/sim/cards`` inserted and pulled, keys pressed, the pairing code read off
the screen. Other threads (the command reader, the demo) hand the unit work with
:meth:`SimUnit.call`, run between two main-loop rounds.

State (``state_dir``): what :class:`~firmware.app.UnitApp` keeps (``unit.db``,
``unit_identity.json``, ``paired_hosts.json``) and the RTC offset ``clock.json``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from board import build
from board.config import BoardConfig
from board.sim.card_emulator import CardEmulator
from board.sim.cardos.card import CardOS
from board.sim.cards.loader import load_card
from board.sim.parts import SimBoard, SimDisplay, SimKeypad
from board.sim.pki import TestPki
from firmware.app import UnitApp, UnitAppError, UnitThread
from firmware.office_link.events import Action, PairingRequested
from firmware.parts import Key
from firmware.ui import Ui
from firmware.visit import Terminal

if TYPE_CHECKING:
    from PIL.Image import Image

SLOTS = ("vitale", "ps")
# every key by its name: "0".."9", "valider", "annuler", "corriger", "up", "down", "menu"
KEYS = {key.value if key.value.isdigit() else key.name.lower(): key for key in Key}
KEYS_NAMED = [name for name in KEYS if not name.isdigit()]
SETTLE_S = 120.0  # bound for the screen to finish its card jobs after a key or a card


class SimUnitError(RuntimeError):
    """The simulated unit could not start or a command could not run."""


class SimUnit:
    """Start with :meth:`start`, stop with :meth:`stop` (or use ``with``).

    ``on_event`` sees every link event (pairing code, session...) on the unit's
    thread; ``auto_confirm`` presses Valider on the keypad as soon as a pairing
    code shows (the code screen takes it, as a person's key press)."""

    def __init__(self, state_dir: Path, *, pki: TestPki | None = None,
                 on_event: Callable[[Action], None] | None = None,
                 auto_confirm: bool = False, battery_percent: float = 87.0):
        self.state_dir = Path(state_dir)
        self.pki = pki or TestPki.create()
        self.on_event = on_event
        self.auto_confirm = auto_confirm
        self.battery_percent = battery_percent
        self.cards: dict[str, str] = {}
        self._emulated: dict[str, CardOS] = {}  # one card per name for the SimUnit's life
        self.pairing_codes: list[str] = []
        self._pairing = threading.Event()
        self._thread: UnitThread | None = None
        self.app: UnitApp | None = None
        self.board: SimBoard | None = None

    # ---- life cycle ---------------------------------------------------------------------
    def start(self) -> SimUnit:
        def make() -> UnitApp:
            board = build(BoardConfig(board="sim", state_dir=str(self.state_dir),
                                      battery_percent=self.battery_percent))
            if not isinstance(board, SimBoard):
                raise SimUnitError("board.build('sim') did not give the simulated board")
            self.board = board
            return UnitApp(board, self.state_dir, on_event=self._event)

        self._thread = UnitThread(make, name="sim-unit")
        try:
            self.app = self._thread.start()
        except UnitAppError as exc:
            raise SimUnitError(f"the simulated unit did not start: {exc.__cause__ or exc}") \
                from exc
        return self

    def stop(self) -> None:
        """Stop the main loop, close the store and the pty; idempotent."""
        if self._thread is not None:
            self._thread.stop()
            self._thread = None

    def __enter__(self) -> SimUnit:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _running(self) -> tuple[UnitApp, SimBoard]:
        if self.app is None or self.board is None or self._thread is None:
            raise SimUnitError("the simulated unit is not running")
        return self.app, self.board

    def _keypad(self) -> SimKeypad:
        keypad = self._running()[1].keypad
        if not isinstance(keypad, SimKeypad):
            raise SimUnitError("the simulated board has no keypad twin")
        return keypad

    @property
    def path(self) -> str:
        """The link's pty (what the office opens)."""
        return str(self._running()[1].link.path)

    @property
    def unit(self):
        return self._running()[0].unit

    @property
    def terminal(self) -> Terminal:
        return self._running()[0].terminal

    @property
    def ui(self) -> Ui:
        """The unit's screen state machine (read it on the unit's thread: :meth:`call`)."""
        return self._running()[0].ui.ui

    @property
    def runner(self):
        return self._running()[0].runner

    @property
    def gauge(self):
        return self._running()[1].gauge

    @property
    def clock(self):
        """The board's RTC twin (set it as the office would, or directly in tests)."""
        return self._running()[1].clock

    def call(self, fn: Callable[[], Any], timeout: float = 120) -> Any:
        """Run ``fn()`` on the unit's thread; return its result or raise its error."""
        app, _ = self._running()
        try:
            return app.call(fn, timeout)
        except UnitAppError as exc:
            raise SimUnitError(str(exc)) from exc

    # ---- the simulated person ---------------------------------------------------------------
    def insert(self, slot: str, card: str) -> None:
        """Put the emulated card ``card`` (a name in board/sim/cards) in ``slot``."""
        if slot not in SLOTS:
            raise SimUnitError(f"unknown slot {slot!r} (vitale or ps)")
        app, board = self._running()
        emulated = self._emulated.get(card)
        if emulated is None:
            try:
                emulated = load_card(card, self.pki)
            except (OSError, KeyError, ValueError) as exc:
                raise SimUnitError(f"unknown card {card!r}: {exc}") from exc
        chosen = emulated

        def put() -> None:
            if any(name == card and where != slot for where, name in self.cards.items()):
                raise SimUnitError(f"card {card!r} is already in another slot")
            chosen.insert()  # the same card back: PIN tries and blocks kept (docs/cards.md)
            self._emulated[card] = chosen
            board.slots[slot].insert(CardEmulator(chosen))
            self.cards[slot] = card
            app.check_cards()  # the screen sees it now (it may read the card)
        self.call(put)
        self.settle()

    def remove(self, slot: str) -> None:
        """Pull the card out of ``slot``; pulling the CPS locks the unit."""
        if slot not in SLOTS:
            raise SimUnitError(f"unknown slot {slot!r} (vitale or ps)")
        app, board = self._running()

        def pull() -> None:
            board.slots[slot].remove()
            self.cards.pop(slot, None)
            app.check_cards()  # the screen sees it now; it tells the terminal
        self.call(pull)
        self.settle()

    def press(self, key: str) -> None:
        """A key press on the unit's keypad twin (a name of :data:`KEYS`); returns
        once the unit handled it and the card jobs it started are done."""
        if key not in KEYS:
            raise SimUnitError(f"unknown key {key!r} (0-9, {', '.join(KEYS_NAMED)})")
        self._keypad().press(KEYS[key])
        self.settle()

    def settle(self, timeout: float = SETTLE_S) -> None:
        """Wait until the keys pressed are handled and the screen's card jobs ran
        (the link is served meanwhile: jobs run one per main-loop round)."""
        app, _ = self._running()
        if app.on_unit_thread:  # the loop cannot go round while we wait on it
            return
        keypad = self._keypad()
        deadline = time.monotonic() + timeout
        while self.call(lambda: keypad.waiting() or not app.ui.idle):
            if time.monotonic() > deadline:
                raise SimUnitError(f"the unit is still busy after {timeout:g} s")
            time.sleep(0.01)

    def screen(self) -> tuple[str, str]:
        """The current screen: its name and its text (status bar, title, lines)."""
        return self.call(lambda: (self.ui.screen, self.ui.text()))

    @property
    def frames(self) -> list[Image]:
        """Every frame the display twin received, oldest first (the list itself)."""
        display = self._running()[1].display
        if not isinstance(display, SimDisplay):
            raise SimUnitError("the simulated board has no display twin")
        return display.frames

    def snapshot(self, path: Path) -> Image:
        """Write the last frame the display twin received as a PNG; return it."""
        frames = self.frames
        if not frames:
            raise SimUnitError("the display has shown nothing yet")
        try:
            frame = frames[-1]
            frame.save(path, format="PNG")
        except OSError as exc:
            raise SimUnitError(f"cannot write {path}: {exc.strerror or exc}") from None
        return frame

    def wait_pairing(self, timeout: float) -> str:
        """Block until a pairing code shows on the unit's screen; return it."""
        if not self._pairing.wait(timeout):
            raise SimUnitError(f"no pairing request within {timeout:g} s")
        self._pairing.clear()
        return self.pairing_codes[-1]

    def _event(self, action: Action) -> None:
        if isinstance(action, PairingRequested):
            self.pairing_codes.append(action.code)
            self._pairing.set()
        if self.on_event is not None:
            self.on_event(action)
        if isinstance(action, PairingRequested) and self.auto_confirm:
            self._keypad().press(Key.VALIDER)  # the scripted person presses Valider

    # ---- the professional's session ------------------------------------------------------
    def terminal_call(self, fn: Callable[[Terminal], Any]) -> Any:
        """Run ``fn(terminal)`` on the unit's thread."""
        return self.call(lambda: fn(self.terminal))
