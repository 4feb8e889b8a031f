"""Screens of a visit: prepared invoices, the Vitale card, the beneficiary,
the check report, the recap, signing, signed; the degraded choice; the
Vitale card inserted on the home screen (its patient's invoice found by itself;
a family card with several: the choice of whose visit it is)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from firmware.parts import Beep, Key
from firmware.visit import Visit
from firmware.visit.errors import VisitError
from firmware.visit.results import (
    BeneficiaryView,
    CheckReport,
    InvoiceSummary,
    SignedResult,
    VitaleView,
)
from firmware.visit.visit import VitaleRead

from .events import CardInserted, CardRemoved, JobDone
from .fmt import clip, euros
from .machine import BATTERY_MIN_TO_SIGN, BATTERY_WARN, STAY, Scene, Ui, key_of
from .scenes_session import MENU_WIDTH, Menu, wrap
from .view import Line, View, scrolled, view


def patient_name(ui: Ui) -> str:
    ben = ui.ctx.beneficiary
    if ben is not None:
        return f"{ben.name} {ben.first_name}"
    inv = ui.ctx.invoice
    return inv.patient_name if inv is not None and inv.patient_name else "Patient"


def check_then(ui: Ui, report: object) -> str:
    ui.ctx.report = cast(CheckReport, report)
    return "checked" if ui.ctx.report.ok else "refused"


class Invoices(Menu):
    """Prepared invoices: patient and amount, oldest care first."""

    name, title = "invoices", "Factures préparées"

    def items(self, ui: Ui) -> list[tuple[str, str]]:
        self.summaries = ui.terminal.prepared_invoices()
        out = []
        for s in self.summaries:
            amount = "" if s.total_cents is None else euros(s.total_cents)[:-2]
            name = s.patient_name or f"Facture {s.invoice_id}"
            width = MENU_WIDTH - 1 - len(amount)
            out.append((f"{name[:width]:<{width}} {amount}", "detail"))
        return out

    def event(self, ui: Ui, ev) -> str | None:
        outcome = super().event(ui, ev)
        if outcome == "detail":
            ui.ctx.invoice = self.summaries[self.cursor]
        return outcome


class Detail(Scene):
    name = "detail"

    def event(self, ui: Ui, ev) -> str | None:
        key = key_of(ev)
        if key == Key.VALIDER:
            ui.ctx.beneficiary = ui.ctx.vitale = ui.ctx.report = None
            try:
                ui.ctx.visit = ui.terminal.start_visit(ui.ctx.need_invoice().invoice_id)
            except VisitError as exc:
                return ui.fail(exc, "to_home", allowed=("to_home",))
            return "start"
        return "back" if key == Key.ANNULER else None

    def view(self, ui: Ui) -> View:
        s = ui.ctx.need_invoice()
        acts = f"{s.lines} acte" + ("s" if s.lines > 1 else "")
        return view(clip(s.patient_name or s.invoice_id), f"Soins du {s.date_of_care:%d/%m/%Y}",
                    f"{acts}, {euros(s.total_cents)}", "Valider: carte Vitale")


class InsertVitale(Scene):
    """"Insérer la carte Vitale": reads it as soon as it is in (or on Valider);
    Menu offers the degraded mode."""

    name = "insert_vitale"

    def enter(self, ui: Ui) -> str | None:
        """A card already in the slot is read at once."""
        self.busy = False
        if "vitale" in ui.cards:
            self.busy = True
            ui.job("read_vitale", ui.ctx.need_visit().read_vitale)
        return None

    def resume(self, ui: Ui) -> None:
        self.busy = False

    def event(self, ui: Ui, ev) -> str | None:
        if isinstance(ev, JobDone) and ev.job == "read_vitale":
            self.busy = False
            if ev.error is not None:
                return ui.fail(ev.error, "to_vitale")
            ui.ctx.vitale = cast(VitaleView, ev.value)
            return "read"
        key = key_of(ev)
        if self.busy:
            return STAY if key is not None else None
        if (isinstance(ev, CardInserted) and ev.slot == "vitale") or key == Key.VALIDER:
            self.busy = True
            ui.job("read_vitale", ui.ctx.need_visit().read_vitale)
            return STAY
        if key == Key.MENU:
            return "degraded"
        if key == Key.ANNULER:
            _cancel(ui)
            return "back"
        return None

    def view(self, ui: Ui) -> View:
        inv = ui.ctx.invoice
        title = clip(inv.patient_name) if inv is not None and inv.patient_name else "Carte Vitale"
        if self.busy:  # the screen stays, its words say the card is being read
            return view(title, "Lecture de la carte", "Vitale…")
        return view(title, "Insérer la carte", "Vitale", "Menu: sans la carte")


def _cancel(ui: Ui) -> None:
    visit = ui.ctx.visit
    if visit is not None and not visit.finished:
        visit.cancel()
    ui.ctx.visit = None


class Beneficiaries(Menu):
    """The people on the card; the invoice's patient pre-selected; closed rights
    marked with "×". Valider chooses and runs the checks."""

    name, title = "beneficiaries", "Bénéficiaire"

    def items(self, ui: Ui) -> list[tuple[str, str]]:
        view_ = ui.ctx.need_vitale()
        return [((" " if b.rights_open else "×") + f"{b.first_name} {b.name} {b.birth_date[-4:]}",
                 "choose") for b in view_.beneficiaries]

    def enter(self, ui: Ui) -> None:
        super().enter(ui)
        self.busy = False
        suggested = ui.ctx.need_vitale().suggested
        bens = ui.ctx.need_vitale().beneficiaries
        self.cursor = next((i for i, b in enumerate(bens) if b.index == suggested), 0)

    def resume(self, ui: Ui) -> None:
        super().resume(ui)
        self.busy = False

    def event(self, ui: Ui, ev) -> str | None:
        if isinstance(ev, JobDone) and ev.job == "choose":
            self.busy = False
            if ev.error is not None:
                return ui.fail(ev.error, "to_choice")
            return check_then(ui, ev.value)
        if self.busy:
            return STAY if key_of(ev) is not None else None
        outcome = super().event(ui, ev)
        if outcome == "choose":
            ben = ui.ctx.need_vitale().beneficiaries[self.cursor]
            visit = ui.ctx.need_visit()
            ui.ctx.beneficiary, self.busy = ben, True

            def choose():
                visit.choose_beneficiary(ben.index)
                return visit.check()
            ui.job("choose", choose)
            return STAY
        if outcome == "back":
            ui.ctx.beneficiary = None
        return outcome

    def view(self, ui: Ui) -> View:
        v = super().view(ui)
        # checking: the list stays (the cursor on the one chosen), the title says so
        return View("Contrôles…", v.lines, v.offset) if self.busy else v


class Report(Scene):
    """Blocking errors of the checks (and the warnings): Valider goes back."""

    name = "report"

    def enter(self, ui: Ui) -> None:
        self.offset = 0

    def event(self, ui: Ui, ev) -> str | None:
        key = key_of(ev)
        if key == Key.DOWN:
            self.offset += 1
            return STAY
        if key == Key.UP:
            self.offset = max(0, self.offset - 1)
            return STAY
        return "back" if key in (Key.VALIDER, Key.ANNULER) else None

    def view(self, ui: Ui) -> View:
        report = ui.ctx.need_report()
        lines = [t for e in report.errors for t in wrap("× " + e.message_fr)]
        lines += [t for w in report.warnings for t in wrap("! " + w.message_fr)]
        return view("Contrôle refusé", *lines, offset=min(self.offset, max(0, len(lines) - 3)))


class Recap(Scene):
    """Total, AMO, AMC, what the patient pays now, the warnings; Valider signs."""

    name = "recap"

    def enter(self, ui: Ui) -> None:
        self.offset = 0

    def event(self, ui: Ui, ev) -> str | None:
        key = key_of(ev)
        offset = scrolled(self.offset, key, len(self.lines(ui)))
        if offset is not None:
            self.offset = offset
            return STAY
        if key == Key.VALIDER:
            if ui.battery is not None and ui.battery < BATTERY_MIN_TO_SIGN:
                return ui.fail(VisitError("battery low", code="battery_low",
                                          message_fr="Batterie faible"), "to_recap")
            return "sign"
        if key == Key.ANNULER:
            return "back"
        return None

    def lines(self, ui: Ui) -> list[Line]:
        r = ui.ctx.need_report()
        out = [Line(euros(r.total_cents), big=True),
               Line(clip(f"AMO {euros(r.amo_cents)[:-2]} AMC {euros(r.amc_cents)[:-2]}")),
               Line(due_now(r.due_now_cents)),
               Line(clip(f"Part patient {euros(r.patient_cents)}"))]
        out += [Line(t) for w in r.warnings for t in wrap("! " + w.message_fr)]
        if ui.battery is not None and ui.battery < BATTERY_WARN:
            out.append(Line(clip(f"! Batterie {ui.battery} %")))
        return [*out, Line("Valider: signer")]

    def view(self, ui: Ui) -> View:
        """The patient as the title (as on the invoice's detail, "signature en
        cours" and "signée": it stays while the visit goes on)."""
        return View(clip(patient_name(ui)), tuple(self.lines(ui)), self.offset)


def due_now(cents: int | None) -> str:
    """What the patient pays now: the recap's line, kept in place on "signée"."""
    return clip(f"À régler {euros(cents)}")


class Signing(Scene):
    """"Signature en cours": the cards sign, the store commits. Keys wait; a
    card pulled now fails the job cleanly (the invoice can be signed again)."""

    name = "signing"

    def enter(self, ui: Ui) -> None:
        visit = ui.ctx.need_visit()
        ui.job("sign", visit.sign)

    def event(self, ui: Ui, ev) -> str | None:
        if isinstance(ev, JobDone) and ev.job == "sign":
            if ev.error is not None:
                return ui.fail(ev.error, "to_recap")
            ui.ctx.signed = cast(SignedResult, ev.value)
            ui.beep(Beep.DONE)
            return "signed"
        return STAY if key_of(ev) is not None else None

    def view(self, ui: Ui) -> View:
        """The recap stays (patient, total); its AMO / AMC and "À régler" lines
        give way to the signature's progress and what not to do (pull a card)."""
        r = ui.ctx.need_report()
        return View(clip(patient_name(ui)), (Line(euros(r.total_cents), big=True),
                                             Line("Signature en cours…"),
                                             Line("Laisser les cartes")))


class Signed(Scene):
    """"FSE n° … signée": Valider goes to the next prepared invoice (or home)."""

    name = "signed"

    def enter(self, ui: Ui) -> None:
        self.offset = 0

    def event(self, ui: Ui, ev) -> str | None:
        offset = scrolled(self.offset, key_of(ev), len(self.lines(ui)))
        if offset is not None:  # degraded: the paper sheet's line below
            self.offset = offset
            return STAY
        if key_of(ev) in (Key.VALIDER, Key.ANNULER):
            ui.ctx.visit = None
            try:
                more = bool(ui.terminal.prepared_invoices())
            except VisitError:
                more = False
            return "next" if more and key_of(ev) == Key.VALIDER else "done"
        if isinstance(ev, CardInserted) and ev.slot == "vitale":
            return "vitale_in"
        return None

    def lines(self, ui: Ui) -> list[Line]:
        """The recap's layout: the patient as the title, the FSE's number where the
        total was (large), "FSE signée", what the patient pays now (degraded:
        the paper sheet below, down scrolls)."""
        s = ui.ctx.need_signed()
        lines = [Line(f"n° {s.fse_number}", big=True),
                 Line("FSE signée", bold=True), Line(due_now(s.due_now_cents))]
        if s.paper_sheet:
            lines.append(Line("Faire feuille papier"))
        return lines

    def view(self, ui: Ui) -> View:
        return View(clip(patient_name(ui)), tuple(self.lines(ui)), self.offset)


class Degraded(Scene):
    """The explicit choice to sign without the Vitale card (paper sheet)."""

    name = "degraded"

    def enter(self, ui: Ui) -> None:
        self.busy = False

    def event(self, ui: Ui, ev) -> str | None:
        if isinstance(ev, JobDone) and ev.job == "degraded":
            self.busy = False
            if ev.error is not None:
                return ui.fail(ev.error, "to_vitale")
            ui.ctx.beneficiary = None
            return check_then(ui, ev.value)
        key = key_of(ev)
        if self.busy:
            return STAY if key is not None else None
        if key == Key.VALIDER:
            visit, self.busy = ui.ctx.need_visit(), True

            def degraded():
                visit.use_degraded()
                return visit.check()
            ui.job("degraded", degraded)
            return STAY
        return "back" if key == Key.ANNULER else None

    def view(self, ui: Ui) -> View:
        return view("Contrôles…" if self.busy else "Mode dégradé ?", "Sans carte Vitale:",
                    "feuille papier à", "faire signer.")


@dataclass(frozen=True)
class Found:
    invoice: InvoiceSummary
    visit: Visit
    vitale: VitaleView
    beneficiary: BeneficiaryView | None
    report: CheckReport | None
    error: VisitError | None


@dataclass(frozen=True)
class CardHits:
    """The card read on the home screen and the prepared invoices of its patients."""

    read: VitaleRead
    invoices: list[InvoiceSummary]


def find_invoices(ui: Ui) -> Found | CardHits:
    """The job behind a Vitale card inserted on the home screen: read the card
    once, find the prepared invoices of its beneficiaries; all of one patient:
    open the oldest (:func:`open_invoice`) in the same job; of several patients
    (a family card): the choice is the nurse's (``card_invoices``)."""
    read = ui.terminal.read_vitale_card()
    hits = ui.terminal.invoices_for(read)
    if len({s.patient_name for s in hits}) == 1:  # one patient: the oldest care first
        return open_invoice(ui, read, hits[0])
    return CardHits(read, hits)


def open_invoice(ui: Ui, read: VitaleRead, hit: InvoiceSummary) -> Found:
    """Start the invoice's visit on the card already read (the same card session:
    the card is not read again), choose its patient and run the checks."""
    visit = ui.terminal.start_visit(hit.invoice_id)
    vitale = visit.read_vitale(kept=read)
    ben = next((b for b in vitale.beneficiaries if b.index == vitale.suggested), None)
    if ben is None:
        return Found(hit, visit, vitale, None, None, None)
    try:
        visit.choose_beneficiary(ben.index)
        return Found(hit, visit, vitale, ben, visit.check(), None)
    except VisitError as exc:
        return Found(hit, visit, vitale, ben, None, exc)


def found_outcome(ui: Ui, found: Found) -> str:
    """Where an opened invoice leads: the recap, the report, the list, or an error."""
    ui.ctx.invoice, ui.ctx.visit, ui.ctx.vitale = found.invoice, found.visit, found.vitale
    ui.ctx.beneficiary = found.beneficiary
    if found.error is not None:  # e.g. rights closed: the list, then the error
        ui.fail(found.error, "to_choice")
        return "choose_failed"
    if found.report is None:
        return "choose"
    ui.ctx.report = found.report
    return "ready" if found.report.ok else "refused"


class Finding(Scene):
    """A Vitale card went in on the home screen: "Recherche de la facture"."""

    name = "finding"

    def enter(self, ui: Ui) -> None:
        ui.job("find", lambda: find_invoices(ui))

    def event(self, ui: Ui, ev) -> str | None:
        if not (isinstance(ev, JobDone) and ev.job == "find"):
            return STAY if key_of(ev) is not None else None
        if ev.error is not None:
            return ui.fail(ev.error, "to_home", allowed=("to_home",))
        if isinstance(ev.value, CardHits):
            if not ev.value.invoices:
                return "none"
            ui.ctx.extra["card_hits"] = ev.value
            return "several"
        return found_outcome(ui, cast(Found, ev.value))

    def view(self, ui: Ui) -> View:
        return view("Carte Vitale", "", "Recherche de la", "facture…")


class CardInvoices(Menu):
    """A card holding several patients with a prepared invoice (a family card):
    the nurse picks whose visit it is; the card is not read again."""

    name, title = "card_invoices", "Factures de la carte"

    def items(self, ui: Ui) -> list[tuple[str, str]]:
        self.hits = cast(CardHits, ui.ctx.extra["card_hits"])
        return [(clip(s.patient_name or s.invoice_id), "open") for s in self.hits.invoices]

    def enter(self, ui: Ui) -> None:
        super().enter(ui)
        self.busy = False

    def resume(self, ui: Ui) -> None:
        super().resume(ui)
        self.busy = False

    def event(self, ui: Ui, ev) -> str | None:
        if isinstance(ev, JobDone) and ev.job == "open":
            self.busy = False
            if ev.error is not None:
                return ui.fail(ev.error, "to_home", allowed=("to_home",))
            return found_outcome(ui, cast(Found, ev.value))
        if isinstance(ev, CardRemoved) and ev.slot == "vitale":
            return "back"  # the card is gone: its list with it
        if self.busy:
            return STAY if key_of(ev) is not None else None
        outcome = super().event(ui, ev)
        if outcome == "open":
            read, hit = self.hits.read, self.hits.invoices[self.cursor]
            self.busy = True
            ui.job("open", lambda: open_invoice(ui, read, hit))
            return STAY
        return outcome

    def view(self, ui: Ui) -> View:
        v = super().view(ui)
        return View("Contrôles…", v.lines, v.offset) if self.busy else v


class NoInvoice(Scene):
    """No prepared invoice for anyone on the card: Valider makes one on the spot."""

    name = "no_invoice"

    def event(self, ui: Ui, ev) -> str | None:
        key = key_of(ev)
        if key == Key.VALIDER:
            return "new"
        return "ok" if key == Key.ANNULER else None

    def view(self, ui: Ui) -> View:
        return view("Aucune facture", "préparée pour cette", "carte Vitale.",
                    "Valider: en créer une")
