"""``tla-unit demo``: a whole day of a home nurse on the simulated board (docs/demo.md).

The unit runs in-process (:class:`board.sim.unit.SimUnit`, state in a temporary
directory unless ``state`` is given) with its link on a pty; the office side is
the real ``tla`` command line (:func:`host_tools.cli.main`) talking to it over
that pty. Steps: pair (the nurse presses Valider on the code screen), set the
clock, enrol the CPS, load the sample office files (host_tools/samples/ and the
sample tariff), then the round at the unit through its keypad and screen
(:mod:`host_tools.demo_round`: key presses and card insertions only): two
prepared invoices signed in secured mode, one in degraded mode, one invoice made
on the spot, one Vitale read only; then unload (verify, import once,
acknowledge), unload again (nothing new), fetch the unit's timing traces and print
the per-operation report, and print the imported FSEs. The screens of the day
(PNG) go to ``state/screens/``, the day as a GIF to ``state/day.gif``.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives.serialization import Encoding

from board.sim.pki import TestPki
from board.sim.unit import SimUnit
from firmware.billing.amounts import format_euros
from firmware.billing.tariffs import SAMPLE_PATH, TariffTable
from host_tools.demo_round import Round, RoundFailed

SAMPLES = Path(__file__).resolve().parents[1] / "host_tools" / "samples"
SAMPLE_FILES = ("invoices.json", "patients.csv", "fse_ranges.csv", "opposition.csv")
DAY_START = datetime(2026, 3, 10, 7, 30, tzinfo=UTC)  # the cards are valid on that day
CPS_CARD, CPS_PIN = "cps_infirmier", "4321"
VITALE_CARD = "vitale_famille_essai"
GIF_SCALE = 3  # the GIF's pixels: 3x3 of the OLED's (384x192), sharp in a README

Print = Callable[[str], None]


class DemoFailed(RuntimeError):
    """A step of the day did not give what it should."""


@dataclass
class DayResult:
    """What the demo did: the FSEs it signed and the office database's rows."""

    signed: dict[str, str]  # fse_id -> mode
    vitale_reads: list[str]
    office_db: Path
    rows: list[dict]
    screens: list[Path]  # the PNGs of the day, in order
    gif: Path


def _tla(args: list[str], print_: Print) -> str:
    """Run the office command line in-process; its output, or DemoFailed."""
    from host_tools.cli import main as tla

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = tla(args)
    if rc != 0:
        raise DemoFailed(f"tla {args[4] if len(args) > 4 else args}: exit {rc}: "
                         f"{err.getvalue().strip() or out.getvalue().strip()}")
    return out.getvalue()


def office_files(office: Path, pki: TestPki) -> tuple[list[Path], Path]:
    """The files the office loads (samples + the sample tariff) and the trust PEM."""
    tariffs = office / "tariffs.json"
    tariffs.write_text(json.dumps({"tariffs": json.loads(SAMPLE_PATH.read_text("utf-8"))}),
                       encoding="utf-8")
    trust = office / "card-cas.pem"
    trust.write_bytes(b"".join(c.public_bytes(Encoding.PEM)
                               for c in (pki.root, pki.cps_ca, pki.vitale_ca)))
    return [tariffs, *(SAMPLES / name for name in SAMPLE_FILES)], trust


def _act(tariffs: TariffTable, profession: str, line: dict) -> str:
    """``AMI 2``, ``IFD``, ``IK 4 km``: the coefficient only for coefficient acts."""
    entry = tariffs.entry(profession, line["code"])
    text = line["code"]
    if entry is not None and entry.kind == "coefficient" and line.get("coefficient"):
        text += f" {line['coefficient']}"
    if line.get("km"):
        text += f" {line['km']} km"
    return text


def fse_rows(db_path: Path) -> list[dict]:
    """Imported FSEs with their acts (from the verified payload kept in the office DB)."""
    from host_tools.office_db import OfficeDb

    tariffs = TariffTable.load_sample()
    rows = []
    with OfficeDb(db_path) as db:
        for row in db.fses():
            _, cose = db.fse(row["import_id"])
            payload = cbor2.loads(cbor2.loads(cose).value[2])
            lines = payload["invoice"]["lines"]
            profession = payload["invoice"]["profession"]
            acts = " + ".join(_act(tariffs, profession, line) for line in lines)
            rows.append({**row, "acts": acts})
    return sorted(rows, key=lambda r: (r["billing_number"], r["fse_number"]))


def table(rows: list[dict]) -> list[str]:
    head = (f"{'No':>3}  {'Mode':<11} {'Patient':<12} {'Date':<10}  {'Acts':<24} "
            f"{'Total':>11} {'AMO':>11} {'Patient':>11}")
    out = [head, "-" * len(head)]
    for r in rows:
        out.append(f"{r['fse_number']:>3}  {r['mode']:<11} {r['patient_name'][:12]:<12} "
                   f"{r['date_of_care']:<10}  {r['acts'][:24]:<24} "
                   f"{format_euros(r['total_cents']):>11} {format_euros(r['amo_cents']):>11} "
                   f"{format_euros(r['patient_cents']):>11}")
    total = sum(r["total_cents"] for r in rows)
    out.append(f"{len(rows)} FSEs, {format_euros(total)} in all")
    return out


def run_day(state: Path, print_: Print = print) -> DayResult:
    """The whole day with the unit's state and the office files under ``state``."""
    if (state / "unit" / "unit.db").exists():
        raise DemoFailed(f"{state} holds a previous day's unit: remove it or give another "
                         "--state directory")
    pki = TestPki.create()
    office = state / "office"
    office.mkdir(parents=True, exist_ok=True)
    files, trust = office_files(office, pki)
    db = office / "office.db"
    sim = SimUnit(state / "unit", pki=pki, auto_confirm=True)
    with sim:
        base = ["--keys", str(office / "host_keys.json"), "--timeout", "10"]
        port = ["--port", sim.path]
        print_(f"1. Simulated unit started, link on {sim.path}")
        out = _tla([*base, "pair", *port, "--name", "Cabinet demo", "--wait", "30"], print_)
        print_(f"2. Paired (code {sim.pairing_codes[-1]} shown, Valider pressed): "
               + out.strip().splitlines()[-1])
        _tla([*base, "clock", "set", *port, "--time", DAY_START.strftime("%Y-%m-%dT%H:%M:%S")],
             print_)
        print_(f"3. Clock set to {DAY_START:%Y-%m-%d %H:%M} UTC")
        sim.insert("ps", CPS_CARD)  # the office's set-up step: no screen for it
        pro = sim.terminal_call(lambda t: t.enrol(CPS_PIN))
        sim.terminal_call(lambda t: t.lock())
        sim.remove("ps")
        print_(f"4. CPS of {pro.first_name} {pro.name} enrolled (PIN entered)")
        out = _tla([*base, "load", *port, *map(str, files)], print_)
        print_(f"5. {out.strip().rstrip('.')} from {', '.join(f.name for f in files)}")
        print_("6. The round, on the unit's keypad and screen (keys and cards only):")
        day = Round(sim, state / "screens", print_)
        try:
            day.run(CPS_CARD, CPS_PIN, VITALE_CARD)
        except RoundFailed as exc:
            raise DemoFailed(str(exc)) from None
        gif = state / "day.gif"
        count = day.gif(gif, scale=GIF_SCALE)
        print_(f"   screens of the day: {len(day.shots)} PNGs in {day.screens}, "
               f"the day as a GIF ({count} frames): {gif}")
        reads = sim.terminal_call(lambda t: t.vitale_reads())
        signed = day.signed
        seal = sim.call(lambda: sim.unit.seal.hex())
        unload = [*base, "unload", *port, "--db", str(db), "--trust", str(trust), "--seal", seal]
        print_(f"7. Unload: {_tla(unload, print_).strip()}")
        print_(f"8. Unload again: {_tla(unload, print_).strip()}")
        fetched = _tla([*base, "traces", *port, "--db", str(db)], print_).strip()
        print_(f"9. Traces: {fetched} Per operation:")
        for line in _tla([*base, "traces", "report", "--db", str(db)],
                         print_).splitlines()[1:]:
            print_("   " + line)
        left = sim.call(lambda: [(f.fse_id, f.status) for f in sim.unit.store.list_fses()])
    rows = fse_rows(db)
    imported = {r["fse_id"]: r["mode"] for r in rows}
    if imported != signed:
        raise DemoFailed(f"the office holds {imported}, the unit signed {signed}")
    if any(not r["acked_at"] for r in rows):
        raise DemoFailed("an imported FSE was not acknowledged")
    if any(status != "imported" for _, status in left):
        raise DemoFailed(f"FSEs left on the unit not acknowledged: {left}")
    return DayResult(signed, reads, db, rows, day.shots, gif)


def run_demo(print_: Print = print, state: Path | None = None) -> int:
    """``tla-unit demo``: 0 only when every step worked."""
    print_("OpenTLA demo: a home nurse's day on the simulated board")
    try:
        if state is not None:
            result = run_day(Path(state), print_)
        else:
            with tempfile.TemporaryDirectory(prefix="tla-demo-") as tmp:
                result = run_day(Path(tmp), print_)
    except Exception as exc:  # noqa: BLE001 - the demo reports any failure and exits 1
        print_(f"DEMO FAILED: {type(exc).__name__}: {exc}")
        return 1
    print_("10. FSEs imported into the office database:")
    for line in table(result.rows):
        print_("   " + line)
    print_("Demo complete: every FSE verified, imported once and acknowledged.")
    return 0
