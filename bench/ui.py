"""The keypad-and-screen interface: frame time, I2C bytes per key, keys per visit.

The unit is built as every unit is: ``board.build`` (the sim board) and
:class:`firmware.app.UnitApp`. The office's part runs first on a
:class:`board.sim.unit.SimUnit` with the real ``tla`` command line over its pty
(pair, clock, CPS enrolled, sample tariff, FSE ranges and prepared invoices, as
``tla-unit demo`` does); then the same state directory is opened again by a
``UnitApp`` on this thread, whose display is the real luma.oled ``ssd1306``
driver over a fake I2C bus that counts bytes, and the day is driven with key and
card events only, through ``UnitApp.ui`` (the ``UiHost`` the main loop feeds):
start, lock, PIN, home, information, invoices, detail, the Vitale, beneficiaries,
recap, signing, signed; a Vitale inserted on the home screen (its invoice found),
recap, Valider; an on-the-spot invoice started.

Figures printed beside their bounds:
- ``frame_cpu_p99_ms``: event -> image ready (``ui.handle`` + ``ui.render``) on
  this machine, over every event of the day (card jobs excluded: they run off the
  key path); target < 20 ms;
- ``i2c_bytes_per_key_mean``: the bytes the unit's display driver
  (board/pi/display.py: the changed runs of the SSD1306's RAM, adjacent pages
  joined into one window where cheaper, each window with the part of its
  address the controller does not hold, the real luma ``ssd1306`` and its I2C
  serial interface under it) puts on the bus for one key press (and the screens its card jobs
  lead to), against ``full_frame_bytes`` (what luma's ``ssd1306.display``
  sends for one image, counted on the fake bus: COLUMNADDR/PAGEADDR, then 1,024
  bytes in 32-byte SMBus blocks, each with the address and the control byte);
  target ratio <= 0.35. Split: keys that stay on their screen (cursor, digits)
  and keys that change it; beside it, luma.core's ``diff_to_previous`` with 64
  segments (16 x 8 px: one page high, each changed one with its address).
  Bus time at 400 kHz: 9 bits a byte (8 + ACK);
- ``keys_prepared_secured``: key presses from the home screen to "signée" for a
  prepared invoice in secured mode (PIN and card insertion excluded); target <= 2;
- ``door_s``: Vitale 2 inserted on the home screen (the CPS4-class nurse's card
  in its slot, PIN given at unlock) -> "signée": emulated wire time (the two
  slots' virtual clocks, board/sim/slot.py), our CPU (wall time less the slot
  twins' and the emulated cards' own Python: the UART's and the card's work on
  the Pi) and a modelled card compute time (``CARD_COMPUTE_S``: an assumption
  stated there, not a measurement); ``door_ratio`` against the wire bound of
  the bytes a secured FSE strictly needs at the door (the Vitale's files with
  its certificate and its INTERNAL AUTHENTICATE, the CPS's MSE + PSO:CDS,
  bench/card_reads.py's rules) plus the same model's compute for them; target
  <= 1.2. The card is read once (the read that found the invoice is the
  visit's: docs/ui.md).

    python bench/ui.py [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from luma.core.framebuffer import diff_to_previous  # noqa: E402
from luma.core.interface.serial import i2c  # noqa: E402
from luma.oled.device import ssd1306  # noqa: E402
from PIL import Image  # noqa: E402

from bench.card_link import lower_bound_etu  # noqa: E402
from bench.card_reads import CPS_NEEDED, needed_chars, vitale_needed  # noqa: E402
from board import build  # noqa: E402
from board.config import BoardConfig  # noqa: E402
from board.pi.display import Ssd1306Display, gddram  # noqa: E402
from board.sim.card_emulator import CardEmulator  # noqa: E402
from board.sim.cardos.filesystem import TransparentEF  # noqa: E402
from board.sim.cards.loader import load_card  # noqa: E402
from board.sim.parts import SimBoard  # noqa: E402
from board.sim.pki import TestPki  # noqa: E402
from board.sim.slot import SimCardSlot  # noqa: E402
from board.sim.unit import SimUnit  # noqa: E402
from firmware.app import UnitApp  # noqa: E402
from firmware.cardapps import vitale_profile as vp  # noqa: E402
from firmware.iso7816.link import CardLink  # noqa: E402
from firmware.iso7816.slot import SlotConfig  # noqa: E402
from firmware.parts import Key, KeyEvent  # noqa: E402
from firmware.ui.events import CardInserted, CardRemoved, Tick, run_job  # noqa: E402
from host_tools.cli import main as tla  # noqa: E402
from host_tools.demo import CPS_CARD, CPS_PIN, DAY_START, VITALE_CARD, office_files  # noqa: E402

TARGET_FRAME_MS = 20.0
TARGET_I2C_RATIO = 0.35
TARGET_KEYS = 2
I2C_HZ = 400_000
BITS_PER_BYTE = 9  # 8 data bits + ACK
ADDRESS = 0x3C
COLUMNADDR, PAGEADDR = 0x21, 0x22
# The modelled card compute time (an assumption, not a measurement of a Vitale 2
# or a CPS4, whose timings are not published): RSA-2048 private-key operation
# with CRT on a smart-card crypto coprocessor, a few hundred ms (order of
# magnitude of the RSA timing table in Rankl & Effing, Smart Card Handbook, §4
# cryptology); the PIN check (a retry counter written to EEPROM) 20 ms; any
# other command (SELECT, READ BINARY, MSE, GET RESPONSE) 5 ms of card OS work.
CARD_COMPUTE_S = {0x2A: 0.300, 0x88: 0.300, 0x20: 0.020}  # PSO, INTERNAL AUTH., VERIFY
CARD_COMMAND_S = 0.005
TARGET_DOOR_RATIO = 1.2


def _bound_s(card: str, exchanges: list[tuple[int, int]]) -> float:
    """The ISO 7816-3 lower bound (bench/card_reads.py's rules) of ``exchanges``
    at the speed the card negotiates with the board's slot (DirectReader's config)."""
    link = CardLink(SimCardSlot(CardEmulator(load_card(card))), SlotConfig())
    link.power_on()
    t = link.timing
    ifsc = getattr(link.slot, "ifsc", None) or 32
    chars = needed_chars(exchanges, t.protocol, ifsc, link.config.ifsd)
    return lower_bound_etu(chars, t.protocol, t.n) * t.etu


def door_bound() -> tuple[float, float]:
    """(wire, compute) strictly needed at the door for a secured FSE: the Vitale's
    SELECT and its card, beneficiaries and certificate files (the certificate goes
    into the FSE) with exact Le, its INTERNAL AUTHENTICATE of the FSE's digest;
    the CPS's MSE + PSO:CDS (its PIN was checked at unlock, not at the door);
    compute by the same model as the measured door."""
    vitale = vitale_needed(VITALE_CARD)
    cert = load_card(VITALE_CARD).applications[0].files[vp.EF_CERTIFICATE]
    if not isinstance(cert, TransparentEF):
        raise RuntimeError("the Vitale 2's certificate is a transparent file")
    size = len(cert.data)
    vitale += [(5, min(256, size - off)) for off in range(0, size, 256)]
    vitale.append((5 + 32, 256))  # INTERNAL AUTHENTICATE: SHA-256 in, RSA-2048 out
    cps = CPS_NEEDED[1:]  # MSE SET, PSO:CDS
    wire = _bound_s(VITALE_CARD, vitale) + _bound_s(CPS_CARD, cps)
    compute = ((len(vitale) - 1) * CARD_COMMAND_S + CARD_COMPUTE_S[0x88]
               + CARD_COMMAND_S + CARD_COMPUTE_S[0x2A])
    return wire, compute


class CountingBus:
    """An smbus-like bus: counts what each block write puts on the wire
    (address byte, control byte, payload)."""

    def __init__(self) -> None:
        self.bytes = 0

    def write_i2c_block_data(self, address: int, register: int, data: list[int]) -> None:
        self.bytes += 2 + len(data)


class BenchDisplay:
    """The board's display: the unit's real driver (board/pi/display.py
    ``Ssd1306Display``: the changed runs of the controller's RAM, each with its
    address window) with the real luma ``ssd1306`` under it, on a
    :class:`CountingBus`. Beside it, for comparison, on a second bus: luma.core's
    ``diff_to_previous`` with 64 segments (16 x 8 px, page-high), each changed
    segment sent with its own address window. The comparison's time is kept
    apart (``bench_s``): it is not the unit's."""

    def __init__(self) -> None:
        self.bus = CountingBus()
        self.driver = Ssd1306Display(self.bus)
        self.luma_bus = CountingBus()
        self.luma = ssd1306(i2c(bus=self.luma_bus, address=ADDRESS), width=128, height=64)
        self.diff = diff_to_previous(num_segments=64)
        list(self.diff.redraw(Image.new("1", (128, 64))))  # luma's init cleared the screen
        self.show_s = 0.0  # the driver's time (the unit's, not the UI's)
        self.bench_s = 0.0  # the comparison's time (the bench's)

    def show(self, image) -> None:
        start = time.perf_counter()
        self.driver.show(image)
        driven = time.perf_counter()
        self.show_s += driven - start
        image = image.convert("1")
        ram = gddram(image)
        for _part, (x0, y0, x1, y1) in self.diff.redraw(image):
            p0, p1 = y0 // 8, (y1 - 1) // 8
            self.luma.command(COLUMNADDR, x0, x1 - 1, PAGEADDR, p0, p1)
            self.luma.data([b for row in ram[p0:p1 + 1] for b in row[x0:x1]])
        self.bench_s += time.perf_counter() - driven

    def contrast(self, level: int) -> None:
        self.driver.contrast(level)

    def power_save(self, on: bool) -> None:
        self.driver.power_save(on)


def full_frame_bytes() -> int:
    """What luma's ssd1306.display puts on the bus for one whole image."""
    bus = CountingBus()
    device = ssd1306(i2c(bus=bus, address=ADDRESS), width=128, height=64)
    bus.bytes = 0
    device.display(Image.new("1", (128, 64)))
    return bus.bytes


FULL_FRAME_BYTES = full_frame_bytes()


def _tla(*args: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = tla(list(args))
    if rc != 0:
        raise RuntimeError(f"tla {args[4]}: exit {rc}: {err.getvalue() or out.getvalue()}")


def prepare(state: Path, pki: TestPki) -> None:
    """The office's part on a SimUnit (the real link and ``tla``), as the demo does."""
    office = state / "office"
    office.mkdir(parents=True)
    files, _ = office_files(office, pki)
    with SimUnit(state / "unit", pki=pki, auto_confirm=True) as sim:
        base = ["--keys", str(office / "host_keys.json"), "--timeout", "10"]
        _tla(*base, "pair", "--port", sim.path, "--name", "Bench office", "--wait", "30")
        _tla(*base, "clock", "set", "--port", sim.path,
             "--time", DAY_START.strftime("%Y-%m-%dT%H:%M:%S"))
        sim.insert("ps", CPS_CARD)
        sim.terminal_call(lambda t: t.enrol(CPS_PIN))
        sim.terminal_call(lambda t: t.lock())
        _tla(*base, "load", "--port", sim.path, *map(str, files))
        sim.remove("ps")


class Day:
    """The UnitApp on this thread, fed key and card events; every frame timed."""

    def __init__(self, state: Path, pki: TestPki):
        self.pki = pki
        self.now = 0.0
        board = build(BoardConfig(board="sim", state_dir=str(state)))
        if not isinstance(board, SimBoard):
            raise RuntimeError("board.build('sim') did not give the simulated board")
        self.board = board
        self.display = BenchDisplay()
        board.display = self.display
        self.app = UnitApp(board, state, monotonic=lambda: self.now)
        self.frames_ms: list[float] = []
        self.key_bytes: list[int] = []
        self.key_moves: list[tuple[str, str, str]] = []  # key, screen before, after
        self.luma_bytes: list[int] = []
        self.screens: set[str] = set()
        self.keys_counted = 0
        self.card_cpu_s = 0.0  # the emulated cards' Python (not ours, not the card's)
        self.twin_s = 0.0  # the slot twins' Python, the cards' in it (the UART's, the card's)
        for slot in board.slots.values():
            self._time_twin(slot)
        self.apdus: list[int] = []  # INS of every command the cards processed
        self.doors: list[tuple[float, float, float, int]] = []  # wire, ours, compute, APDUs

    def close(self) -> None:
        self.app.close()

    def _time_twin(self, slot: SimCardSlot) -> None:
        """Time the slot twin's own work (the line model and the card behind it):
        on the Pi, the UART and the card do it, not the unit's CPU."""
        for name in ("apply", "wait"):
            inner = getattr(slot, name)

            def timed(*args, _inner=inner):
                start = time.perf_counter()
                try:
                    return _inner(*args)
                finally:
                    self.twin_s += time.perf_counter() - start
            setattr(slot, name, timed)

    @property
    def screen(self) -> str:
        return self.app.ui.ui.screen

    def feed(self, event) -> None:
        """The event, then the card jobs it asks for (each end is an event too)."""
        queue = [event]
        while queue:
            start, shown = time.perf_counter(), self.display.show_s + self.display.bench_s
            self.app.ui.feed(queue.pop(0))
            spent = time.perf_counter() - start - (self.display.show_s + self.display.bench_s
                                                   - shown)
            self.frames_ms.append(spent * 1000)
            self.screens.add(self.screen)
            while self.app.ui.jobs:
                queue.append(run_job(self.app.ui.jobs.popleft()))

    def key(self, *names: str) -> None:
        for name in names:
            key = Key(name)
            before, before_luma = self.display.bus.bytes, self.display.luma_bus.bytes
            screen = self.screen
            self.now += 0.5
            self.feed(KeyEvent(key, True, self.now))
            self.feed(KeyEvent(key, False, self.now + 0.1))
            self.key_bytes.append(self.display.bus.bytes - before)
            self.luma_bytes.append(self.display.luma_bus.bytes - before_luma)
            self.key_moves.append((name, screen, self.screen))
            self.keys_counted += 1

    def insert(self, slot: str, card: str, door: bool = False) -> None:
        """The card goes in (``door``: the door's clock starts as it does; the
        emulated card is built before, it is not the unit's work)."""
        emulated = load_card(card, self.pki)
        inner = emulated.process

        def process(command: bytes) -> bytes:  # the card's own work, timed apart
            start = time.perf_counter()
            try:
                return inner(command)
            finally:
                self.card_cpu_s += time.perf_counter() - start
                self.apdus.append(command[1] if len(command) > 1 else 0)
        emulated.process = process  # type: ignore[method-assign]
        if door:
            self.door_start()
        self.board.slots[slot].insert(CardEmulator(emulated))
        self.feed(CardInserted("cps" if slot == "ps" else slot))

    def pull(self, slot: str) -> None:
        self.board.slots[slot].remove()
        self.feed(CardRemoved("cps" if slot == "ps" else slot))

    def door_start(self) -> None:
        slots = self.board.slots
        self._door = (time.perf_counter(), self.twin_s + self.display.bench_s, len(self.apdus),
                      slots["vitale"].now(), slots["ps"].now())

    def door_end(self) -> None:
        """One door: emulated wire time (both slots' virtual clocks), our CPU (the
        wall time less the slot twins' and emulated cards' Python and the bench's
        own display comparison), the modelled card work."""
        start, not_ours, first, vitale_t, ps_t = self._door
        slots = self.board.slots
        wire = slots["vitale"].now() - vitale_t + slots["ps"].now() - ps_t
        ours = time.perf_counter() - start - (self.twin_s + self.display.bench_s - not_ours)
        compute = sum(CARD_COMPUTE_S.get(ins, CARD_COMMAND_S) for ins in self.apdus[first:])
        self.doors.append((wire, ours, compute, len(self.apdus) - first))

    def tick(self, seconds: float) -> None:
        self.now += seconds
        self.feed(Tick(self.now))

    def expect(self, screen: str) -> None:
        if self.screen != screen:
            raise RuntimeError(f"expected the {screen} screen, on {self.screen}: "
                               f"{self.app.ui.ui.text()!r}")


ROUNDS = 2  # the samples prepare three invoices for the family card: one through the list


def run_day(day: Day) -> int:
    """The day; returns the keys from home to "signée" for the found invoice."""
    for _ in range(6):  # the start screen's two seconds, ticked as the loop does
        day.tick(0.5)
    day.expect("lock")
    day.insert("ps", CPS_CARD)
    day.expect("pin")
    day.key(*CPS_PIN, "valider")
    day.expect("home")
    day.key("4")
    day.expect("info")
    day.key("annuler", "1")
    day.expect("invoices")
    day.key("down", "up", "valider")
    day.expect("detail")
    day.key("valider")
    day.expect("insert_vitale")
    day.insert("vitale", VITALE_CARD)
    day.expect("beneficiaries")
    day.key("valider")
    day.expect("recap")
    day.key("valider")
    day.expect("signed")
    day.key("annuler")
    day.expect("home")
    day.pull("vitale")
    secured = 0
    for left in range(ROUNDS, 0, -1):  # the common visit: insert the card on the home screen
        if day.screen != "home":
            day.key("annuler")
        day.expect("home")
        before = day.keys_counted
        day.insert("vitale", VITALE_CARD, door=True)
        if left > 1:  # two of the family's patients still have an invoice: whose visit?
            day.expect("card_invoices")
            day.key("valider")
        day.expect("recap")
        day.key("valider")
        day.expect("signed")
        day.door_end()
        secured = max(secured, day.keys_counted - before)
        day.pull("vitale")
        day.key("annuler")
    day.expect("home")
    day.insert("vitale", VITALE_CARD)  # every invoice of the card is signed now
    day.expect("no_invoice")
    day.key("annuler")
    day.expect("home")
    day.key("3")
    day.expect("read_only")
    day.key("annuler")
    day.pull("vitale")
    day.expect("home")
    day.key("2")
    day.expect("acts")
    day.key("valider")
    day.expect("quantity")
    day.key("1", "valider", "annuler", "annuler")
    return secured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    pki = TestPki.create()
    with tempfile.TemporaryDirectory() as tmp:
        prepare(Path(tmp), pki)
        day = Day(Path(tmp) / "unit", pki)
        try:
            keys = run_day(day)
        finally:
            day.close()
    full = FULL_FRAME_BYTES
    luma = statistics.fmean(day.luma_bytes)
    frames = sorted(day.frames_ms)
    p99 = frames[min(len(frames) - 1, int(0.99 * len(frames)))]
    per_key = statistics.fmean(day.key_bytes)
    wire, ours, compute, apdus = (statistics.fmean(d[i] for d in day.doors) for i in range(4))
    bound_wire, bound_compute = door_bound()
    door = wire + ours + compute
    result = {
        "door_s": round(door, 3),
        "door_bound_s": round(bound_wire + bound_compute, 3),
        "door_ratio": round(door / (bound_wire + bound_compute), 4),
        "target_door_ratio": TARGET_DOOR_RATIO,
        "door_wire_s": round(wire, 3),
        "door_cpu_s": round(ours, 3),
        "door_card_compute_s": round(compute, 3),
        "door_apdus": round(apdus, 1),
        "events": len(frames),
        "screens": len(day.screens),
        "frame_cpu_p50_ms": round(statistics.median(frames), 3),
        "frame_cpu_p99_ms": round(p99, 3),
        "target_frame_cpu_ms": TARGET_FRAME_MS,
        "keys": len(day.key_bytes),
        "i2c_bytes_per_key_mean": round(per_key, 1),
        "full_frame_bytes": full,
        "full_frame_ms_at_400khz": round(full * BITS_PER_BYTE / I2C_HZ * 1000, 2),
        "i2c_ratio": round(per_key / full, 4),
        "target_i2c_ratio": TARGET_I2C_RATIO,
        "i2c_bytes_per_key_same_screen_mean": round(statistics.fmean(
            n for n, (_, a, z) in zip(day.key_bytes, day.key_moves, strict=True) if a == z), 1),
        "i2c_bytes_per_key_new_screen_mean": round(statistics.fmean(
            n for n, (_, a, z) in zip(day.key_bytes, day.key_moves, strict=True) if a != z), 1),
        "i2c_bytes_per_key_mean_luma_segments": round(luma, 1),
        "i2c_ratio_luma_segments": round(luma / full, 4),
        "keys_changing_screen": sum(before != after for _, before, after in day.key_moves),
        "keys_prepared_secured": keys,
        "target_keys_prepared_secured": TARGET_KEYS,
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    print(f"{len(frames)} events over {len(day.screens)} screens "
          f"({', '.join(sorted(day.screens))})")
    print(f"  frame CPU p99     {p99:8.2f} ms  (p50 {result['frame_cpu_p50_ms']:.2f}; "
          f"target < {TARGET_FRAME_MS:g})")
    print(f"  I2C per key       {per_key:8.1f} B   ratio {result['i2c_ratio']:.3f} of a full "
          f"frame {full} B ({result['full_frame_ms_at_400khz']} ms at 400 kHz); "
          f"target <= {TARGET_I2C_RATIO}")
    print(f"    same screen     {result['i2c_bytes_per_key_same_screen_mean']:8.1f} B   "
          f"(cursor, digits); new screen {result['i2c_bytes_per_key_new_screen_mean']:.1f} B "
          "(the text body rewritten)")
    print(f"  luma segments     {luma:8.1f} B   ratio {result['i2c_ratio_luma_segments']:.3f} "
          f"(luma.core diff_to_previous, 64 segments of 16x8, for comparison)")
    print(f"  keys that change the screen: {result['keys_changing_screen']} of {len(day.key_bytes)}")
    print(f"  door (Vitale in -> signée) {result['door_s']:6.3f} s = wire "
          f"{wire:.3f} + our CPU {ours:.3f} + modelled card work {compute:.3f} "
          f"({apdus:.0f} APDUs)")
    print(f"  door ratio        {result['door_ratio']:8.3f}     against {result['door_bound_s']:.3f} s "
          f"(wire bound {bound_wire:.3f} for one Vitale read + CPS sign, + modelled card "
          f"work {bound_compute:.3f}); target <= {TARGET_DOOR_RATIO}")
    print(f"  keys home->signée {keys:8d}     (prepared invoice, secured; target <= "
          f"{TARGET_KEYS})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
