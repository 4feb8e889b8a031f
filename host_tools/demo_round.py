"""The nurse's round in ``tla-unit demo``, at the unit: key presses and card
insertions on the simulated board (:class:`board.sim.unit.SimUnit`), nothing
else. The unit's own screen (firmware/ui, docs/ui.md) drives the use cases, as
on the Pi; this module only reads the screen to know where it is, like the
nurse does, and keeps the screens of the day (PNG) and the day as a GIF.

The round (docs/demo.md step 6): the CPS and its PIN; the family's Vitale card
inserted on the home screen finds its patients' prepared invoices, PAUL's is
picked, Valider signs (secured); again for EMMA; LUCAS's invoice from the list, signed without the card
(degraded: the family card stayed at home); an invoice made on the spot for
PAUL (AMI 1 + IFD picked on the keypad, the prescription typed, then the card);
a Vitale read only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from board.sim.record import write_gif
from board.sim.unit import SimUnit
from firmware.billing.amounts import format_euros
from firmware.visit.results import ActChoice, SignedResult

Print = Callable[[str], None]
MAX_SCROLL = 12  # down presses to find a line in a list before giving up
# the invoice made on the spot for PAUL: its acts picked in the tariff's list, the
# coefficient typed; its prescription typed: the prescriber's RPPS number (the
# samples' DR EXEMPLE) and the date
SPOT_ACTS = (ActChoice("AMI", coefficient="1"), ActChoice("IFD"))
PRESCRIPTION = {"prescriber_id": "10001234567", "date": "2026-03-05"}


class RoundFailed(RuntimeError):
    """The unit's screen is not where the round expects it."""


@dataclass
class Round:
    """Drives the unit; ``shots`` collects the PNGs written (in order)."""

    sim: SimUnit
    screens: Path
    print_: Print
    signed: dict[str, str] = field(default_factory=dict)  # fse_id -> mode
    shots: list[Path] = field(default_factory=list)
    first_frame: int = 0

    # ---- what the nurse does -------------------------------------------------------
    def keys(self, *names: str) -> None:
        for name in names:
            self.sim.press(name)

    def expect(self, screen: str) -> str:
        """The screen's text, once it is ``screen``; else RoundFailed with what shows."""
        name, text = self.sim.screen()
        if name != screen:
            raise RoundFailed(f"expected the {screen} screen, the unit shows {name}: "
                              + " / ".join(line.strip() for line in text.splitlines()))
        return text

    def choose(self, screen: str, prefix: str) -> None:
        """Down until the selected line of the list starts with ``prefix``."""
        for _ in range(MAX_SCROLL):
            if any(line.startswith("> " + prefix) for line in self.expect(screen).splitlines()):
                return
            self.keys("down")
        raise RoundFailed(f"no line {prefix!r} on the {screen} screen")

    def shot(self, name: str) -> None:
        path = self.screens / f"{len(self.shots) + 1:02d}-{name}.png"
        self.sim.snapshot(path)
        self.shots.append(path)

    def signed_here(self, label: str) -> None:
        """On "FSE signée": note the FSE (the screen's own result) and go home."""
        self.expect("signed")
        self.shot("signed")
        result: SignedResult | None = self.sim.call(lambda: self.sim.ui.ctx.signed)
        if result is None:
            raise RoundFailed(f"{label}: the signed screen shows no FSE")
        self.signed[result.fse_id] = result.mode
        self.print_(f"   {label}: FSE n{result.fse_number} {result.mode}, "
                    f"{format_euros(result.total_cents)}")

    # ---- the round -------------------------------------------------------------------
    def run(self, cps: str, pin: str, vitale: str) -> None:
        self.screens.mkdir(parents=True, exist_ok=True)
        self.first_frame = len(self.sim.frames)  # the GIF: the day from the lock screen
        self.expect("lock")
        self.sim.insert("ps", cps)
        self.expect("pin")
        self.keys(*pin)
        self.shot("pin")
        self.keys("valider")
        text = self.expect("home")
        self.shot("home")
        self.print_("   unlocked (CPS + PIN on the keypad); home: "
                    + text.splitlines()[1].lstrip("> ").strip())
        for name in ("ESSAI PAUL", "ESSAI EMMA"):  # the Vitale finds the invoices by itself
            self.sim.insert("vitale", vitale)
            self.choose("card_invoices", name)  # a family card: whose visit it is
            self.shot("card_invoices")
            self.keys("valider")
            self.expect("recap")
            self.shot("recap")
            self.keys("valider")
            self.signed_here(f"{name}: the family card on the home screen, {name} picked, "
                             "Valider")
            self.sim.remove("vitale")
            self.keys("annuler")
            self.expect("home")
        self.keys("1")  # the list: LUCAS, whose card stayed at home
        self.choose("invoices", "ESSAI LUCAS")
        self.shot("invoices")
        self.keys("valider")
        self.expect("detail")
        self.keys("valider")
        self.expect("insert_vitale")
        self.keys("menu")
        self.choose("no_vitale", "Mode dégradé")
        self.keys("valider")
        self.expect("degraded")
        self.shot("degraded")
        self.keys("valider")
        self.expect("recap")
        self.keys("valider")
        self.signed_here("ESSAI LUCAS: from the list, without the card (degraded)")
        self.keys("annuler")
        self.keys("2")  # on the spot: AMI 1 + IFD for PAUL
        for act in SPOT_ACTS:
            self.choose("acts", act.code)
            self.keys("valider")
            self.expect("quantity")
            self.keys(*("menu" if c == "." else c for c in act.coefficient or ""), "valider")
        self.choose("acts", "Terminer")
        self.shot("acts")
        self.keys("valider")
        self.expect("prescription")  # AMI is prescribed: the doctor's number and date
        year, month, day = PRESCRIPTION["date"].split("-")
        self.keys(*PRESCRIPTION["prescriber_id"], "valider", *day, *month, *year)
        self.shot("prescription")
        self.keys("valider")
        self.expect("insert_vitale")
        self.sim.insert("vitale", vitale)
        self.choose("beneficiaries", " PAUL")
        self.keys("valider")
        self.expect("recap")
        self.keys("valider")
        self.signed_here("on the spot for ESSAI PAUL: AMI 1 + IFD picked, prescription typed, "
                         "Vitale, Valider")
        self.keys("annuler", "3")  # a Vitale read only, kept for the office
        self.expect("read_only")
        self.keys("valider")
        text = self.expect("read_only")
        self.shot("read_only")
        self.print_("   Vitale read only: " + " / ".join(text.splitlines()[1:3]))
        self.keys("annuler")
        self.sim.remove("vitale")
        self.expect("home")

    def gif(self, path: Path, scale: int = 1) -> int:
        """The day's frames (from the lock screen on) as an animated GIF."""
        return write_gif(self.sim.frames[self.first_frame:], path, scale=scale)
