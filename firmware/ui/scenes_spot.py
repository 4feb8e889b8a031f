"""Screens of the invoice made on the spot and of the Vitale read only.

On the spot: the acts of the loaded tariff (the CPS's first situation); an act
picked asks for its number: coefficient (AMI 1,5), km (IK) or quantity, typed on
the keypad (Menu types the decimal comma, Corriger erases); "Terminer" makes the
invoice (``Terminal.new_visit``), after the prescription (prescriber's number and
date) when a prescribed act was picked, and the visit goes on as for a prepared one.
"""

from __future__ import annotations

import logging
from typing import cast

from firmware.errors import TlaError
from firmware.parts import Key
from firmware.visit import vitale_record
from firmware.visit.errors import VisitError
from firmware.visit.results import ActChoice, ActOption, CheckReport, VitaleReadResult

from .events import CardInserted, JobDone
from .fmt import clip, euros, local
from .machine import STAY, Scene, Ui, key_of
from .scenes_session import DIGITS, Menu
from .view import Line, View, view

log = logging.getLogger("opentla.ui")
MAX_ENTRY = 6  # characters of a coefficient / km / quantity


def chosen(ui: Ui) -> list[ActChoice]:
    acts: list[ActChoice] = ui.ctx.extra.setdefault("acts", [])
    return acts


class Acts(Menu):
    """The tariff's acts, then "Terminer" once at least one act was added."""

    name, title = "acts", "Nouvelle facture"

    def items(self, ui: Ui) -> list[tuple[str, str]]:
        try:
            self.options: list[ActOption] = ui.terminal.tariff_acts()
        except VisitError as exc:
            self.options = []
            ui.ctx.notice = exc.message_fr
        picked = chosen(ui)
        out = [(f"{o.code} {o.label}", "pick") for o in self.options]
        if picked:
            out.insert(0, (f"Terminer ({len(picked)} acte{'s' if len(picked) > 1 else ''})",
                           "done"))
        return out

    def enter(self, ui: Ui) -> None:
        ui.ctx.extra["acts"] = []
        super().enter(ui)

    def resume(self, ui: Ui) -> None:
        super().resume(ui)
        if chosen(ui):
            self.cursor = 0  # "Terminer", or down to add another act

    def event(self, ui: Ui, ev) -> str | None:
        outcome = super().event(ui, ev)
        if outcome == "pick":
            index = self.cursor - (1 if chosen(ui) else 0)
            ui.ctx.extra["act"] = self.options[index]
        elif outcome == "done":
            codes = {c.code for c in chosen(ui)}
            if any(o.prescription and o.code in codes for o in self.options):
                return "prescribe"  # the prescription first (the checks require it)
            try:
                ui.ctx.visit = ui.terminal.new_visit(chosen(ui))
            except VisitError as exc:
                return ui.fail(exc, "to_home", allowed=("to_home",))
            ui.ctx.invoice = ui.ctx.beneficiary = ui.ctx.vitale = ui.ctx.report = None
        elif outcome == "back":
            ui.ctx.extra.pop("acts", None)
        return outcome


class Prescription(Scene):
    """The prescription of prescribed acts (AMI, AIS...): the prescriber's
    number (RPPS, 11 digits, or AM number, 9), then its date JJMMAAAA, typed on
    the keypad; Corriger erases, Valider goes on. The invoice's own format
    rules (firmware.billing.invoice) judge it: a refusal is shown here."""

    name = "prescription"
    FIELDS = (("Prescripteur n°", 11), ("Date JJMMAAAA", 8))

    def enter(self, ui: Ui) -> None:
        self.values = ["", ""]
        self.field = 0
        self.message = ""

    def event(self, ui: Ui, ev) -> str | None:
        key = key_of(ev)
        text, size = self.values[self.field], self.FIELDS[self.field][1]
        if key in DIGITS and len(text) < size:
            self.values[self.field] += DIGITS[key]
            return STAY
        if key == Key.CORRIGER:
            if text:
                self.values[self.field] = text[:-1]
            elif self.field:
                self.field = 0
            return STAY
        if key == Key.ANNULER:
            return "back"
        if key == Key.VALIDER:
            return self._next(ui)
        return STAY if key is not None else None

    def _next(self, ui: Ui) -> str:
        number, day = self.values
        if self.field == 0:
            if len(number) not in (9, 11):
                self.message = "11 ou 9 chiffres"
                return STAY
            self.field, self.message = 1, ""
            return STAY
        if len(day) != 8:
            self.message = "Date: 8 chiffres"
            return STAY
        iso = f"{day[4:]}-{day[2:4]}-{day[:2]}"
        try:
            ui.ctx.visit = ui.terminal.new_visit(chosen(ui), prescription={
                "prescriber_id": number, "date": iso})
        except VisitError as exc:
            if exc.code == "invoice_format":  # digits only and sized: the date is wrong
                self.message = "Date invalide"
                return STAY
            return ui.fail(exc, "to_home", allowed=("to_home",))
        ui.ctx.invoice = ui.ctx.beneficiary = ui.ctx.vitale = ui.ctx.report = None
        return "done"

    def view(self, ui: Ui) -> View:
        label, _ = self.FIELDS[self.field]
        text = self.values[self.field]
        if self.field == 1 and text:
            text = "/".join(p for p in (text[:2], text[2:4], text[4:]) if p)
        return View("Prescription", (Line(label), Line(text or "_", big=True),
                                     Line(clip(self.message or "Valider: suite"))))


class Quantity(Scene):
    """The number of one act: coefficient, km or quantity."""

    name = "quantity"

    def enter(self, ui: Ui) -> None:
        self.act: ActOption = ui.ctx.extra["act"]
        self.text = "" if self.act.kind == "per_km" else "1"
        self.fresh = True  # the first digit replaces the default

    def label(self) -> str:
        return {"coefficient": "Coefficient", "per_km": "Kilomètres"}.get(self.act.kind,
                                                                          "Quantité")

    def event(self, ui: Ui, ev) -> str | None:
        key = key_of(ev)
        if key in DIGITS and len(self.text) < MAX_ENTRY:
            self.text = ("" if self.fresh else self.text) + DIGITS[key]
            self.fresh = False
            return STAY
        if key == Key.MENU and self.act.kind != "fixed" and "," not in self.text:
            self.text = (self.text if not self.fresh else "0") + ","
            self.fresh = False
            return STAY
        if key == Key.CORRIGER:
            self.text, self.fresh = self.text[:-1], False
            return STAY
        if key == Key.ANNULER:
            return "back"
        if key == Key.VALIDER and self.text.strip(",0"):
            value = self.text.replace(",", ".")
            if self.act.kind == "coefficient":
                choice = ActChoice(self.act.code, coefficient=value)
            elif self.act.kind == "per_km":
                choice = ActChoice(self.act.code, km=value)
            else:
                choice = ActChoice(self.act.code, quantity=int(value))
            chosen(ui).append(choice)
            return "added"
        return STAY if key is not None else None

    def view(self, ui: Ui) -> View:
        price = euros(round(float(self.act.unit_price) * 100))
        hint = "Menu: virgule" if self.act.kind != "fixed" else "Valider: ajouter"
        return View(clip(f"{self.act.code} {self.act.label}"),
                    (Line(f"{self.label()} à {price}"), Line(self.text or "_", big=True),
                     Line(hint)))


class ReadOnly(Scene):
    """Read the Vitale card and keep the read for the office (and SESAM sans
    Vitale later): insert the card or Valider."""

    name = "read_only"

    def enter(self, ui: Ui) -> None:
        self.busy = False
        self.result: VitaleReadResult | None = None

    def event(self, ui: Ui, ev) -> str | None:
        if isinstance(ev, JobDone) and ev.job == "read_only":
            self.busy = False
            if ev.error is not None:
                return ui.fail(ev.error, "to_home", allowed=("to_home",))
            self.result = cast(VitaleReadResult, ev.value)
            return STAY
        key = key_of(ev)
        if self.busy:
            return STAY if key is not None else None
        if self.result is not None:
            return "back" if key in (Key.VALIDER, Key.ANNULER) else None
        if (isinstance(ev, CardInserted) and ev.slot == "vitale") or key == Key.VALIDER:
            self.busy = True
            ui.job("read_only", ui.terminal.read_vitale_only)
            return STAY
        return "back" if key == Key.ANNULER else None

    def view(self, ui: Ui) -> View:
        if self.busy:  # the screen stays, its words say the card is being read
            return view("Lecture Vitale", "Lecture de la carte", "Vitale…")
        if self.result is None:
            return view("Lecture Vitale", "Insérer la carte", "Vitale")
        names = [clip(f"{b.first_name} {b.name}") for b in self.result.beneficiaries]
        return view("Lecture gardée", f"{len(names)} bénéficiaires", *names)


class NoVitale(Menu):
    """Menu on "Insérer la carte Vitale": sign without the card, degraded (paper
    sheet) or SESAM sans Vitale on a read kept on the unit (rental acts)."""

    name, title = "no_vitale", "Sans carte Vitale"

    def items(self, ui: Ui) -> list[tuple[str, str]]:
        return [("Mode dégradé", "degraded"), ("Lecture gardée", "kept")]


def read_label(ui: Ui, read_id: str) -> str:
    """'ESSAI PAUL     10/03': the card holder and the (local) day of the read."""
    try:
        card, read_at, _ = vitale_record.decode(ui.unit.store.get_record("vitale_read",
                                                                         read_id))
    except TlaError as exc:  # shown, not hidden: use_sans_vitale will say why
        log.warning("vitale_read_unreadable id=%s code=%s", read_id, exc.code)
        return clip(read_id)
    holder = card.beneficiaries[0] if card.beneficiaries else None
    name = "" if holder is None else f"{holder.name} {holder.first_name}"
    return f"{name[:14]:<14} {local(read_at):%d/%m}"


class KeptReads(Menu):
    """The Vitale reads kept on the unit, newest first; Valider bills on one
    (the invoice's patient is looked up on it: the invoice must name the patient)."""

    name, title = "kept_reads", "Lecture gardée"

    def items(self, ui: Ui) -> list[tuple[str, str]]:
        self.reads = list(reversed(ui.terminal.vitale_reads()))
        return [(read_label(ui, r), "pick") for r in self.reads]

    def enter(self, ui: Ui) -> None:
        super().enter(ui)
        self.busy = False

    def event(self, ui: Ui, ev) -> str | None:
        if isinstance(ev, JobDone) and ev.job == "sans_vitale":
            self.busy = False
            if ev.error is not None:
                return ui.fail(ev.error, "to_vitale", allowed=("to_vitale", "to_home"))
            ui.ctx.beneficiary = None
            report = cast(CheckReport, ev.value)
            ui.ctx.report = report
            return "checked" if report.ok else "refused"
        if self.busy:
            return STAY if key_of(ev) is not None else None
        outcome = super().event(ui, ev)
        if outcome == "pick":
            visit, read_id, self.busy = ui.ctx.need_visit(), self.reads[self.cursor], True

            def sans_vitale() -> CheckReport:
                visit.use_sans_vitale(read_id)
                return visit.check()
            ui.job("sans_vitale", sans_vitale)
            return STAY
        return outcome

    def view(self, ui: Ui) -> View:
        v = super().view(ui)
        # checking: the list stays (the cursor on the read chosen), the title says so
        return View("Contrôles…", v.lines, v.offset) if self.busy else v
