"""Screens of the session: start, lock, PIN, home, unit information, the last
FSE signed, errors, pairing (the screen map is in screen_map.py)."""

from __future__ import annotations

import logging
import textwrap
from typing import Any

from firmware.billing import cbor_det, cose
from firmware.errors import TlaError
from firmware.office_link.events import PairingEnded, PairingRequested
from firmware.parts import Beep, Key
from firmware.unit.clock import ClockNotSet
from firmware.visit.errors import PinRejected, VisitError

from .events import CardInserted, CardRemoved, JobDone, Tick
from .fmt import clip, euros, local, local_time
from .machine import BATTERY_WARN, STAY, Scene, Ui, key_of
from .view import Line, View, scrolled, view

log = logging.getLogger("opentla.ui")
START_SECONDS = 2.0
PIN_LENGTH = 4
MASK_ON, MASK_OFF = "●", "○"  # a digit typed, a digit to type
DIGITS = {Key.D0: "0", Key.D1: "1", Key.D2: "2", Key.D3: "3", Key.D4: "4", Key.D5: "5",
          Key.D6: "6", Key.D7: "7", Key.D8: "8", Key.D9: "9"}


def wrap(text: str, width: int = 21) -> list[str]:
    return textwrap.wrap(text, width) or [""]


def last_fse(ui: Ui):
    """The FSE signed last on this unit (metadata, readable while locked), or None."""
    fses = ui.unit.store.list_fses()
    return max(fses, key=lambda f: (f.signed_at, f.fse_number)) if fses else None


class Start(Scene):
    """Version and short seal for two seconds (or a key), then the lock screen.
    Keeps the last FSE signed: it is shown after the first unlock."""

    name, unlocked = "start", False

    def enter(self, ui: Ui) -> None:
        self.since: float | None = None
        ui.ctx.extra["last_fse"] = last_fse(ui)

    def event(self, ui: Ui, ev) -> str | None:
        if isinstance(ev, Tick):
            self.since = ev.now if self.since is None else self.since
            return "shown" if ev.now - self.since >= START_SECONDS else STAY
        if isinstance(ev, CardInserted) and ev.slot == "cps":
            return "cps_in"
        return "shown" if key_of(ev) is not None else None

    def view(self, ui: Ui) -> View:
        lines = [f"Version {ui.unit.firmware}", f"Sceau {ui.unit.seal.hex()[:8]}"]
        last = ui.ctx.extra.get("last_fse")
        if last is not None:
            lines.append(f"Dernière FSE n° {last.fse_number}")
        try:
            ui.unit.clock.now()
        except ClockNotSet:
            lines.append("Heure non réglée")
        return view("OpenTLA", *lines)


class Lock(Scene):
    name, unlocked = "lock", False

    def enter(self, ui: Ui) -> None:
        if ui.terminal.is_unlocked:
            ui.terminal.lock("demand")
        ui.ctx.visit = ui.ctx.invoice = ui.ctx.vitale = ui.ctx.report = None

    def event(self, ui: Ui, ev) -> str | None:
        if (isinstance(ev, CardInserted) and ev.slot == "cps") or key_of(ev) == Key.VALIDER:
            ui.ctx.notice = ""
            return "cps_in"
        return None

    def view(self, ui: Ui) -> View:
        return view("Verrouillé", ui.ctx.notice, "Insérer la CPS", "puis Valider")


def unlock(ui: Ui, pin: str):
    """The unlock job: the PIN on the card, then the prepared invoices decoded
    (off the key path: the home screen that follows lists them)."""
    pro = ui.terminal.unlock(pin)
    try:
        ui.terminal.prepared_invoices()
    except VisitError:
        pass  # the home screen counts none; the list's own call says why
    return pro


class Pin(Scene):
    """Masked digits, Corriger erases one, Valider checks the code on the card."""

    name, unlocked = "pin", False

    def enter(self, ui: Ui) -> None:
        self.digits = ""
        self.message = ""
        self.tries: int | None = None
        self.busy = False

    def event(self, ui: Ui, ev) -> str | None:
        if isinstance(ev, JobDone) and ev.job == "unlock":
            self.busy = False
            if ev.error is None:
                ui.ctx.notice = ""
                return "show_last" if ui.ctx.extra.get("last_fse") is not None else "unlocked"
            if isinstance(ev.error, PinRejected):
                self.digits, self.tries = "", ev.error.tries_left
                self.message = ev.error.message_fr
                ui.beep(Beep.ERROR)
                return STAY
            return ui.fail(ev.error, "to_lock")
        if isinstance(ev, CardRemoved) and ev.slot == "cps":
            ui.ctx.notice = "CPS retirée"
            return "pulled"
        if self.busy:
            return STAY if key_of(ev) is not None else None
        key = key_of(ev)
        if key in DIGITS and len(self.digits) < PIN_LENGTH:
            self.digits += DIGITS[key]
            return STAY
        if key == Key.CORRIGER:
            self.digits = self.digits[:-1]
            return STAY
        if key == Key.ANNULER:
            return "cancel"
        if key == Key.VALIDER and len(self.digits) == PIN_LENGTH:
            pin, self.digits, self.busy = self.digits, "", True
            ui.job("unlock", lambda: unlock(ui, pin))
            return STAY
        return STAY if key is not None else None

    def view(self, ui: Ui) -> View:
        if self.busy:  # the code typed stays masked; the line below says it is checked
            return View(self.title(), (Line(" ".join(MASK_ON * PIN_LENGTH), big=True),
                                       Line("Vérification…")))
        mask = " ".join(MASK_ON * len(self.digits) + MASK_OFF * (PIN_LENGTH - len(self.digits)))
        lines = [Line(mask, big=True)]
        if self.message:
            lines += [Line(t) for t in wrap(self.message)]
        else:
            lines.append(Line("Corriger efface"))
        return View(self.title(), tuple(lines))

    def title(self) -> str:
        return "DERNIER ESSAI !" if self.tries == 1 else "Code porteur"


class LastFse(Scene):
    """After a restart: the last FSE signed (number, patient, amount), so that
    an on-the-spot visit interrupted by a power cut is never signed twice."""

    name = "last_fse"

    def enter(self, ui: Ui) -> None:
        info = ui.ctx.extra.pop("last_fse", None)
        self.lines: list[Line] = []
        if info is None:
            return
        self.lines.append(Line(f"n° {info.fse_number}", big=True))
        try:
            payload: Any = cbor_det.decode_deterministic(
                cose.parse(ui.unit.store.get_fse(info.fse_id)).payload)
            ben = payload["beneficiary"]
            self.lines.append(Line(clip(f"{ben['name']} {ben['first_name']}")))
            self.lines.append(Line(f"{euros(payload['amounts']['total_cents'])} à "
                                   f"{local_time(_utc(info.signed_at))}"))
        except (TlaError, KeyError, TypeError) as exc:  # the number is what matters
            log.error("last_fse_unreadable fse=%s error=%s", info.fse_id,
                      getattr(exc, "code", type(exc).__name__))
            self.lines.append(Line("Détails illisibles"))

    def event(self, ui: Ui, ev) -> str | None:
        return "ok" if key_of(ev) in (Key.VALIDER, Key.ANNULER) else None

    def view(self, ui: Ui) -> View:
        return View("Dernière FSE signée", tuple(self.lines))


def _utc(ts: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)


MENU_WIDTH = 20  # characters of a list line (the cursor takes the first column)


class Menu(Scene):
    """A list with a cursor: up/down move, Valider picks, digits 1-9 pick directly."""

    title = ""
    rows = 4  # lines the list shows (one less with a title)

    def items(self, ui: Ui) -> list[tuple[str, str]]:
        """(text, outcome) of each item."""
        raise NotImplementedError

    def enter(self, ui: Ui) -> None:
        self.cursor = 0
        self.entries = self.items(ui)

    def resume(self, ui: Ui) -> None:
        self.entries = self.items(ui)
        self.cursor = min(self.cursor, max(0, len(self.entries) - 1))

    def event(self, ui: Ui, ev) -> str | None:
        key = key_of(ev)
        if key == Key.DOWN and self.entries:
            self.cursor = (self.cursor + 1) % len(self.entries)
            return STAY
        if key == Key.UP and self.entries:
            self.cursor = (self.cursor - 1) % len(self.entries)
            return STAY
        if key in DIGITS and 1 <= int(DIGITS[key]) <= len(self.entries):
            self.cursor = int(DIGITS[key]) - 1
            return self.entries[self.cursor][1]
        if key == Key.VALIDER and self.entries:
            return self.entries[self.cursor][1]
        if key == Key.ANNULER:
            return "back"
        return None

    def view(self, ui: Ui) -> View:
        rows = self.rows - (1 if self.title else 0)
        offset = max(0, self.cursor - rows + 1)
        lines = tuple(Line(clip(text, MENU_WIDTH), selected=i == self.cursor)
                      for i, (text, _) in enumerate(self.entries))
        return View(self.title, lines or (Line("(vide)"),), offset)


class Home(Menu):
    """Prepared invoices, new invoice, Vitale read only, unit information.
    A Vitale card inserted here finds its patient's prepared invoice."""

    name = "home"

    def items(self, ui: Ui) -> list[tuple[str, str]]:
        try:
            count = len(ui.terminal.prepared_invoices())
        except VisitError:
            count = 0
        items = [(f"Factures préparées {count}", "invoices"), ("Nouvelle facture", "new"),
                 ("Lecture Vitale seule", "read_only"), ("Informations", "info")]
        if ui.update_mode is not None:
            items.append(("Mise à jour", "update"))
        return items

    def event(self, ui: Ui, ev) -> str | None:
        if isinstance(ev, CardInserted) and ev.slot == "vitale":
            return "vitale_in"
        if key_of(ev) == Key.ANNULER:
            return STAY
        return super().event(ui, ev)

    def view(self, ui: Ui) -> View:
        v = super().view(ui)
        notice = ui.ctx.notice
        if not notice and ui.status.store_warning:
            notice = f"Mémoire pleine à {ui.status.store_percent}%"
        elif not notice and ui.battery is not None and ui.battery < BATTERY_WARN:
            notice = f"Batterie faible {ui.battery} %"
        if notice:
            return View(clip(notice), v.lines, max(0, self.cursor - 2))
        return v


class Info(Scene):
    """Version, seal, serial, store, battery, clock; up/down scroll."""

    name = "info"

    def enter(self, ui: Ui) -> None:
        self.offset = 0

    def lines(self, ui: Ui) -> list[str]:
        usage = ui.unit.store.usage()
        try:
            clock = f"{local(ui.unit.clock.now()):%d/%m/%Y %H:%M}"
        except ClockNotSet:
            clock = "(heure non réglée)"
        seal = ui.unit.seal.hex()
        bat = "--" if ui.battery is None else f"{ui.battery} %"
        return [f"Version {ui.unit.firmware}", f"Sceau {seal[:14]}", f"      {seal[14:28]}",
                f"N° {ui.unit.serial}", f"Mémoire {round(100 * usage.fraction)} % "
                f"({usage.used_bytes // 1024} Ko)", f"FSE à décharger {ui.status.waiting}",
                f"Batterie {bat}", f"Le {clock}"]

    def event(self, ui: Ui, ev) -> str | None:
        key = key_of(ev)
        offset = scrolled(self.offset, key, len(self.lines(ui)))
        if offset is not None:
            self.offset = offset
            return STAY
        return "back" if key in (Key.VALIDER, Key.ANNULER) else None

    def view(self, ui: Ui) -> View:
        return view("Informations", *self.lines(ui), offset=self.offset)


class Error(Scene):
    """The error's French text, what to do, Valider (or Annuler) to go on."""

    name, unlocked = "error", False

    def enter(self, ui: Ui) -> None:
        ui.beep(Beep.ERROR)
        self.offset = 0

    def event(self, ui: Ui, ev) -> str | None:
        key = key_of(ev)
        problem = ui.ctx.problem
        if key == Key.DOWN:
            self.offset += 1
            return STAY
        if key == Key.UP:
            self.offset = max(0, self.offset - 1)
            return STAY
        if key in (Key.VALIDER, Key.ANNULER) and problem is not None:
            return problem.then
        return None

    def view(self, ui: Ui) -> View:
        p = ui.ctx.problem
        if p is None:
            return view("Erreur")
        lines = wrap(p.message_fr)[1:] + (wrap(p.hint) if p.hint else [])
        first = wrap(p.message_fr)[0]
        return view(first, *lines, offset=min(self.offset, max(0, len(lines) - 3)))


class Pairing(Scene):
    """An office PC asks to pair: its code, Valider confirms, Annuler refuses."""

    name, unlocked = "pairing", False

    def event(self, ui: Ui, ev) -> str | None:
        from .events import AnswerPairing

        key = key_of(ev)
        if key in (Key.VALIDER, Key.ANNULER):
            ui.effect(AnswerPairing(accept=key == Key.VALIDER))
            ui.ctx.pairing = None
            return "answered"
        if isinstance(ev, PairingEnded):
            ui.ctx.pairing = None
            ui.ctx.notice = ev.message_fr
            return "ended"
        if isinstance(ev, PairingRequested):
            ui.ctx.pairing = ev
            return STAY
        return None

    def view(self, ui: Ui) -> View:
        req = ui.ctx.pairing
        if req is None:
            return view("Appairage PC")
        return View("Appairage PC", (Line(clip(req.host_name)), Line(f"Code {req.code}", big=True),
                                     Line("Valider / Annuler")))
