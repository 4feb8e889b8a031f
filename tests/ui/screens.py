"""The golden screens: every screen of the UI reached by key and card events,
rendered to docs/screens/<name>.png. ``make screens`` (this file run as a
script) rewrites them after a deliberate change; tests/ui/test_screens.py
compares them pixel for pixel."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

if __name__ == "__main__":  # run as a script: the tests' packages on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PIL.Image import Image  # noqa: E402
from visit.simboard import invoice  # noqa: E402

from board.sim.pki import TestPki  # noqa: E402
from firmware.office_link.events import PairingRequested  # noqa: E402
from ui.driver import DAY, Driver, UiBoard, mute, prepare  # noqa: E402

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
FAMILY = "vitale_famille_essai"
Shots = dict[str, Image]


def _driver(tmp: Path, pki: TestPki, name: str, invoices=DAY,
            cps: str = "cps_medecin") -> Driver:
    board = UiBoard(tmp / name, pki)
    prepare(board, cps=cps, invoices=invoices)
    return Driver(board)


def _during(drv: Driver, shots: Shots, jobs: dict[str, str]) -> None:
    """Capture the screen shown while a job runs (the progress screens)."""
    def hook(job: str) -> None:
        if job in jobs:
            shots[jobs[job]] = drv.ui.render()
    drv.on_job = hook


def day(drv: Driver, shots: Shots) -> None:
    """The common visit, and the list: start to "signée"."""
    shot = lambda name: shots.__setitem__(name, drv.ui.render())  # noqa: E731
    shot("start")
    drv.key("valider")
    shot("lock")
    drv.insert("cps", "cps_medecin")
    drv.digits("12")
    shot("pin")
    _during(drv, shots, {"unlock": "pin_checking", "read_vitale": "vitale_reading",
                         "choose": "beneficiary_checking", "sign": "signing",
                         "find": "finding"})
    drv.digits("34")
    drv.key("valider")
    shot("home")
    drv.key("4")
    shot("info")
    drv.key("annuler", "1")  # digits pick a menu line
    shot("invoices")
    drv.key("valider")
    shot("detail")
    drv.key("valider")
    shot("insert_vitale")
    drv.insert("vitale", FAMILY)
    shot("beneficiaries")
    drv.key("valider")
    shot("recap")
    drv.key("valider")
    shot("signed")
    drv.key("annuler")
    drv.pull("vitale")
    drv.insert("vitale", FAMILY)  # MARIE's invoice found by the card
    shot("recap_found")
    drv.key("annuler")
    drv.key("annuler")
    drv.feed(PairingRequested("482913", "Cabinet Essai"))
    shot("pairing")
    drv.key("annuler")
    drv.restart()
    drv.wait(0)
    drv.wait(3)
    drv.unlock()
    shot("last_fse")


def pin_errors(drv: Driver, shots: Shots) -> None:
    drv.key("valider")
    drv.insert("cps", "cps_medecin")
    drv.digits("0000")
    drv.key("valider")
    drv.digits("0000")
    drv.key("valider")
    shots["pin_last_try"] = drv.ui.render()
    drv.digits("0000")
    drv.key("valider")
    shots["error_pin_blocked"] = drv.ui.render()


def visit_errors(drv: Driver, shots: Shots) -> None:
    drv.key("valider")
    drv.unlock()
    drv.key("valider", "valider", "valider", "menu")
    shots["no_vitale"] = drv.ui.render()
    drv.key("1")
    shots["degraded"] = drv.ui.render()
    drv.key("valider")
    shots["recap_degraded"] = drv.ui.render()
    drv.key("annuler")  # back to "Insérer la carte Vitale"
    mute(drv.board, "vitale", FAMILY)
    drv.key("valider")
    shots["error_card_mute"] = drv.ui.render()
    drv.key("valider")
    drv.insert("vitale", FAMILY)
    drv.key("valider")
    drv.battery(8)
    drv.key("valider")
    shots["error_battery_low"] = drv.ui.render()
    drv.battery(60)
    drv.key("valider")

    def pull(job: str) -> None:
        if job == "sign":
            drv.board.pull("vitale", after_s=0.002)
    drv.on_job = pull
    drv.key("valider")
    shots["error_vitale_pulled"] = drv.ui.render()
    drv.on_job = None
    drv.key("valider", "annuler", "annuler", "annuler", "annuler")
    drv.insert("vitale", "vitale_corse")
    shots["no_invoice"] = drv.ui.render()


def refused(drv: Driver, shots: Shots) -> None:
    drv.key("valider")
    drv.unlock()
    drv.key("valider", "valider", "valider")
    drv.insert("vitale", FAMILY)
    drv.key("valider")
    shots["report"] = drv.ui.render()


def spot(drv: Driver, shots: Shots) -> None:
    """On the spot: acts, km keyed in; then the Vitale read only."""
    drv.key("valider")
    drv.unlock()
    drv.insert("vitale", FAMILY)  # PAUL and MARIE on the card, both with an invoice
    shots["card_invoices"] = drv.ui.render()
    drv.pull("vitale")
    drv.key("2")
    shots["acts"] = drv.ui.render()
    drv.key("up", "valider")
    drv.digits("23")
    drv.key("menu")
    drv.digits("5")
    shots["quantity_km"] = drv.ui.render()
    drv.key("valider", "annuler", "annuler", "3")
    shots["read_only"] = drv.ui.render()
    drv.insert("vitale", FAMILY)
    shots["read_only_kept"] = drv.ui.render()
    drv.key("valider")
    drv.pull("vitale")
    drv.key("1", "valider", "valider", "menu", "2")
    shots["kept_reads"] = drv.ui.render()


def nurse(drv: Driver, shots: Shots) -> None:
    """The nurse's AMI on the spot: its prescription typed."""
    drv.key("valider")
    drv.unlock("cps_infirmier")
    drv.key("2", "valider", "valider", "valider")  # AMI 1, Terminer
    drv.digits("10001234567")
    drv.key("valider")
    drv.digits("0503")
    shots["prescription"] = drv.ui.render()


SCENARIOS: dict[str, tuple[Callable[[Driver, Shots], None], tuple]] = {
    "day": (day, DAY),
    "pin_errors": (pin_errors, DAY),
    "visit_errors": (visit_errors, DAY),
    "spot": (spot, DAY),
    "refused": (refused, (invoice("INV-F", date_of_care="2026-03-12", lines=[{"code": "G"}]),)),
    "nurse": (nurse, ()),
}


def shoot(tmp: Path, pki: TestPki | None = None) -> Shots:
    """Every golden screen, rendered on fresh simulated boards under ``tmp``."""
    pki = pki or TestPki.create()
    shots: Shots = {}
    for name, (scenario, invoices) in SCENARIOS.items():
        drv = _driver(tmp, pki, name, invoices,
                      "cps_infirmier" if name == "nurse" else "cps_medecin")
        try:
            scenario(drv, shots)
        finally:
            drv.board.unit.close()
    return shots


def main() -> int:
    SCREENS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tla-screens-") as tmp:
        shots = shoot(Path(tmp))
    for old in SCREENS.glob("*.png"):
        if old.stem not in shots:
            old.unlink()
    for name, image in sorted(shots.items()):
        image.save(SCREENS / f"{name}.png")
    print(f"{len(shots)} screens written to {SCREENS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
