"""The UI state machine: a stack of scenes driven by events (sans-I/O).

``Ui.handle(event)`` returns the effects to run; ``Ui.render()`` the 128x64
image of the current screen; ``Ui.view()`` its text. Each scene (a small class,
model: Flipper Zero's scenes) turns an event into a named *outcome*; the screen
map (:data:`firmware.ui.screen_map.MAP`) says where each outcome leads. Nothing
here blocks: card work is a :class:`~firmware.ui.events.RunJob` effect whose
:class:`~firmware.ui.events.JobDone` comes back as an event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from firmware.office_link.events import PairingRequested
from firmware.parts import Beep, Key, KeyEvent
from firmware.unit.clock import ClockNotSet
from firmware.visit import Terminal, Visit
from firmware.visit.errors import VisitError, WrongState
from firmware.visit.results import (
    BeneficiaryView,
    CheckReport,
    InvoiceSummary,
    SignedResult,
    VitaleView,
)

from .events import (
    BatteryLevel,
    CardInserted,
    CardRemoved,
    Effect,
    Event,
    JobDone,
    RunJob,
    Sound,
    Tick,
)
from .fmt import local_time
from .view import Status, View

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger("opentla.ui")
T = TypeVar("T")

# Signatures are refused below this charge (a cut mid-signature costs a number
# and the patient's time); the status bar warns from BATTERY_WARN (docs/ui.md).
BATTERY_MIN_TO_SIGN = 10
BATTERY_WARN = 20


@dataclass(frozen=True)
class Move:
    """Where an outcome leads: ``push`` a screen (Annuler comes back), ``back``
    (pop), ``root`` (replace the whole stack), ``back_to`` (pop down to a screen
    on the stack, else make it the root)."""

    kind: str
    target: tuple[str, ...] = ()
    then: tuple[str, ...] = ()  # pushed after the move (back_to ... then push)

    def __str__(self) -> str:
        more = f" then push({', '.join(self.then)})" if self.then else ""
        return f"{self.kind}({', '.join(self.target)}){more}"


def push(name: str) -> Move:
    return Move("push", (name,))


def root(*names: str) -> Move:
    return Move("root", names)


def back_to(name: str, *fallback: str, then: tuple[str, ...] = ()) -> Move:
    """Pop down to ``name``; if it is not on the stack, ``root(*fallback)``;
    then push ``then``."""
    return Move("back_to", (name, *fallback), then)


def replace(name: str) -> Move:
    """Pop the current screen, push ``name`` (Annuler skips the one replaced)."""
    return Move("replace", (name,))


BACK = Move("back")


@dataclass
class Problem:
    """An error on its way to the error screen: the French text, what to do,
    and the outcome the error screen reports on Valider."""

    code: str
    message_fr: str
    hint: str
    then: str


def _need(value: T | None, what: str) -> T:
    if value is None:  # a screen shown without what it shows: our bug
        raise WrongState(f"ui: no {what} for this screen")
    return value


@dataclass
class Context:
    """What the screens of one session share (the current visit and its results)."""

    visit: Visit | None = None
    invoice: InvoiceSummary | None = None  # the visit's prepared invoice
    vitale: VitaleView | None = None
    beneficiary: BeneficiaryView | None = None  # chosen
    report: CheckReport | None = None
    signed: SignedResult | None = None
    problem: Problem | None = None
    pairing: PairingRequested | None = None
    notice: str = ""  # one line shown by the next screen (e.g. why it locked)
    extra: dict[str, Any] = field(default_factory=dict)

    def need_visit(self) -> Visit:
        return _need(self.visit, "visit")

    def need_invoice(self) -> InvoiceSummary:
        return _need(self.invoice, "invoice")

    def need_vitale(self) -> VitaleView:
        return _need(self.vitale, "Vitale card")

    def need_report(self) -> CheckReport:
        return _need(self.report, "check report")

    def need_signed(self) -> SignedResult:
        return _need(self.signed, "signed FSE")


class Scene:
    """One screen. ``event`` returns an outcome name (see the screen map) or
    None when the event is not for it; ``view`` draws nothing, it describes."""

    name: ClassVar[str] = ""
    unlocked: ClassVar[bool] = True  # needs an unlocked terminal (else: lock screen)

    def enter(self, ui: Ui) -> str | None:
        """Called once when pushed; may return an outcome at once."""
        return None

    def resume(self, ui: Ui) -> str | None:
        """Called when the screen above it is popped."""
        return None

    def exit(self, ui: Ui) -> None:
        return None

    def event(self, ui: Ui, ev: Event) -> str | None:
        return None

    def view(self, ui: Ui) -> View:
        raise NotImplementedError


STAY = ""  # an outcome: the scene took the event and stays


def key_of(ev: Event) -> Key | None:
    return ev.key if isinstance(ev, KeyEvent) and ev.down else None


class Ui:
    """``ui = Ui(terminal); effects = ui.handle(event); image = ui.render()``."""

    def __init__(self, terminal: Terminal, *, battery: int | None = None):
        from .screen_map import MAP, SCENES

        self.terminal = terminal
        self.unit = terminal.unit
        self.battery = battery
        if battery is None and self.unit.gauge is not None:
            self.battery = self.unit.gauge.percent()
        self.scenes = SCENES
        self.map = MAP
        self.ctx = Context()
        self.stack: list[Scene] = []
        self._effects: list[Effect] = []
        self.pending: str | None = None  # the job being run
        self.cards: set[str] = set()  # slots holding a card (from the slots' events)
        self._deferred: list[CardRemoved | PairingRequested] = []
        self.status = Status()
        self.update_mode: Any = None  # firmware.update.service.UpdateMode, set by the app
        self._go(root("start"))
        self.refresh_status()

    # ---- the host loop's API -------------------------------------------------------
    @property
    def screen(self) -> str:
        return self.stack[-1].name

    def handle(self, event: Event) -> list[Effect]:
        """Feed one event; return the effects it asks for (run them in order)."""
        if isinstance(event, CardInserted):
            self.cards.add(event.slot)
        elif isinstance(event, CardRemoved):
            self.cards.discard(event.slot)
        if isinstance(event, BatteryLevel):
            self.battery = event.percent
        elif isinstance(event, JobDone):
            if event.job != self.pending:
                log.error("ui_unexpected_job job=%s pending=%s", event.job, self.pending)
                return self._take()
            self.pending = None
        elif isinstance(event, KeyEvent) and event.down:
            self._effects.append(Sound(Beep.KEY))
            if self.terminal.is_unlocked:
                self.terminal.touch()
        elif isinstance(event, CardRemoved):
            if self.pending is not None:  # acted on when the job ends (it fails cleanly)
                self._deferred.append(event)
                return self._take()
            self.terminal.card_removed(event.slot)
        elif isinstance(event, PairingRequested):
            if self.pending is not None:  # shown once the card job ends
                self._deferred.append(event)
                return self._take()
        outcome = self.stack[-1].event(self, event)
        if outcome is None:
            outcome = self._global(event)
        if outcome:  # "" (STAY): the scene took the event and stays
            self.outcome(outcome)
        if self.pending is None and self._deferred:
            for deferred in self._deferred[:]:
                self._deferred.remove(deferred)
                more = self.handle(deferred)  # takes (and empties) self._effects
                self._effects.extend(more)
        self.refresh_status()
        return self._take()

    def render(self) -> Image:
        from .render import render

        return render(self.status, self.view())

    def view(self) -> View:
        return self.stack[-1].view(self)

    def text(self) -> str:
        """The status bar and the screen as text (the simulator's ``screen``)."""
        return f"[{self.status.text()}]\n{self.view().text()}"

    # ---- what scenes call ------------------------------------------------------------
    def job(self, name: str, run) -> None:
        """Ask the host loop to run ``run()``; its JobDone comes back as an event."""
        self.pending = name
        self._effects.append(RunJob(name, run))

    def beep(self, kind: Beep) -> None:
        self._effects.append(Sound(kind))

    def effect(self, effect: Effect) -> None:
        self._effects.append(effect)

    def fail(self, error: VisitError, then: str = "", allowed: tuple[str, ...] = ()) -> str:
        """Show ``error`` on the error screen; returns the outcome that shows it.
        ``then``: where Valider leads unless the error says better; ``allowed``
        (if given): the only ways forward that make sense from this screen."""
        from .problems import problem_for

        problem = problem_for(error, then, locked=not self.terminal.is_unlocked)
        if allowed and problem.then not in allowed and problem.then != "to_lock":
            problem.then = then
        self.ctx.problem = problem
        log.info("ui_error code=%s then=%s", problem.code, problem.then)
        return "failed"

    def outcome(self, outcome: str) -> None:
        name = self.stack[-1].name
        move = self.map.get((name, outcome)) or self.map.get(("*", outcome))
        if move is None:  # our bug: a scene reported an outcome the map lacks
            log.error("ui_no_transition screen=%s outcome=%s", name, outcome)
            return
        log.debug("ui %s --%s--> %s", name, outcome, move)
        self._go(move)
        if self.stack[-1].unlocked and not self.terminal.is_unlocked:
            self._go(root("lock"))  # locked meanwhile (CPS pulled on a screen that waits)

    # ---- inside ----------------------------------------------------------------------
    def _take(self) -> list[Effect]:
        out, self._effects = self._effects, []
        return out

    def _global(self, event: Event) -> str | None:
        """Events every screen shares: pulling the CPS locks; the idle timer locks."""
        if self.pending is not None:
            return None
        if isinstance(event, PairingRequested):
            self.ctx.pairing = event
            return "pairing"
        if isinstance(event, CardRemoved) and event.slot == "cps" and self.stack[-1].unlocked:
            self.ctx.notice = "CPS retirée"
            return "locked"
        if isinstance(event, (Tick, KeyEvent)) and self.stack[-1].unlocked \
                and not self.terminal.is_unlocked:
            self.ctx.notice = "Verrouillé (inactivité)"
            return "locked"
        return None

    def _go(self, move: Move) -> None:
        targets, clear = move.target, move.kind == "root"
        if move.kind == "back_to":
            if targets[0] in [s.name for s in self.stack]:
                while self.stack[-1].name != targets[0]:
                    self.stack.pop().exit(self)
                if not move.then:
                    self._after(self.stack[-1].resume(self))
                    return
                targets = ()
            else:
                targets, clear = targets[1:] or targets[:1], True
        pushing = (*targets, *move.then)
        if any(self.scenes[n].unlocked for n in pushing) and not self.terminal.is_unlocked:
            log.info("ui_locked_meanwhile screen=%s", pushing[-1])  # e.g. CPS pulled on an error
            clear, pushing = True, ("lock",)
        if clear:
            while self.stack:
                self.stack.pop().exit(self)
        if move.kind == "replace" and self.stack:
            self.stack.pop().exit(self)
        if move.kind == "back":
            if len(self.stack) > 1:
                self.stack.pop().exit(self)
                self._after(self.stack[-1].resume(self))
            return
        for name in pushing:
            scene = self.scenes[name]()
            self.stack.append(scene)
            result = scene.enter(self)
            if result is not None:
                self._after(result)
                return

    def _after(self, outcome: str | None) -> None:
        if outcome is not None:
            self.outcome(outcome)

    def refresh_status(self) -> None:
        try:
            clock = local_time(self.unit.clock.now())
        except ClockNotSet:
            clock = None
        store = self.unit.store
        usage = store.usage()
        waiting = sum(1 for f in store.list_fses() if f.status in ("signed", "offered"))
        self.status = Status(self.battery, clock, not self.terminal.is_unlocked, waiting,
                             min(100, round(100 * usage.fraction)), usage.warning)
