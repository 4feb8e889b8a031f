"""The card clock: GPCLK0 on GPIO 4 at 4.8 MHz, ``tla-unit gpclk`` (docs/board.md §Card clock).

Both TDA8035s take CLKIN from GPCLK0 (``board/pi/config.py``): the 19.2 MHz crystal
oscillator divided by 4, an integer divider, so the clock has no MASH jitter. The
kernel has a driver for the clock manager (clk-bcm2835) but nothing that turns GP0
on (no consumer in the device tree; lgpio has no hardware clock), so a root
oneshot at boot (``opentla-gpclk.service``) programs it the way pigpio's
``hardware_clock`` does, through ``/dev/mem``: the clock manager's GP0 registers
and GPIO 4's function select (ALT0; config.txt's ``gpio=4=a0`` sets it too).

BCM2835 ARM Peripherals §6.3 (BCM2837 alike), peripheral base 0x3F000000 on the
Zero 2 W (read from the device tree's ``/soc/ranges``):

| register   | offset   | fields                                                          |
|------------|----------|-----------------------------------------------------------------|
| CM_GP0CTL  | 0x101070 | 31-24 PASSWD 0x5A, 10-9 MASH, 7 BUSY, 5 KILL, 4 ENAB, 3-0 SRC (1 = oscillator) |
| CM_GP0DIV  | 0x101074 | 31-24 PASSWD 0x5A, 23-12 DIVI, 11-0 DIVF                        |
| GPFSEL0    | 0x200000 | 3 bits a pin, GPIO 4 at bits 14-12, 0b100 = ALT0 (GPCLK0)       |

Sequence (the datasheet: never change SRC, MASH or the divider while BUSY):
stop (ENAB off), wait for BUSY to clear, write the divider, write SRC and MASH,
then set ENAB. Already running at 4.8 MHz from the oscillator: left untouched,
so a restart of the service never glitches a card session.
"""

from __future__ import annotations

import argparse
import mmap
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .config import CARD_CLOCK_DIVIDER, CARD_CLOCK_HZ, CARD_CLOCK_SOURCE_HZ

PASSWD = 0x5A << 24
CM_BASE = 0x101000
GPIO_BASE = 0x200000
GP0CTL = 0x70  # from CM_BASE
GP0DIV = 0x74
GPFSEL0 = 0x00  # from GPIO_BASE
BUSY = 1 << 7
KILL = 1 << 5
ENAB = 1 << 4
SRC_OSC = 1
CLOCK_PIN = 4
FSEL_ALT0 = 0b100
BCM2837_PERI_BASE = 0x3F000000
BUSY_WAIT_S = 0.1


class GpclkError(RuntimeError):
    """The clock could not be programmed (no /dev/mem, not a BCM2837, stuck BUSY)."""


class Registers(Protocol):
    """32-bit registers by byte offset in one mapped block."""

    def read(self, offset: int) -> int: ...

    def write(self, offset: int, value: int) -> None: ...


@dataclass(frozen=True)
class ClockState:
    ctl: int
    div: int
    fsel: int  # GPIO 4's function select (3 bits)

    @property
    def running(self) -> bool:
        return bool(self.ctl & ENAB) and bool(self.ctl & BUSY)

    @property
    def source(self) -> int:
        return self.ctl & 0xF

    @property
    def divi(self) -> int:
        return (self.div >> 12) & 0xFFF

    @property
    def divf(self) -> int:
        return self.div & 0xFFF

    @property
    def mash(self) -> int:
        return (self.ctl >> 9) & 0x3

    @property
    def correct(self) -> bool:
        """Running at the card clock, from the oscillator, integer divider, on GPIO 4."""
        return (self.running and self.source == SRC_OSC and self.divi == CARD_CLOCK_DIVIDER
                and self.divf == 0 and self.mash == 0 and self.fsel == FSEL_ALT0)

    def describe(self) -> str:
        state = "running" if self.running else "stopped"
        hz = CARD_CLOCK_SOURCE_HZ // self.divi if self.source == SRC_OSC and self.divi else 0
        return (f"GPCLK0 {state}, source {self.source}, DIVI {self.divi} DIVF {self.divf} "
                f"MASH {self.mash} ({hz} Hz from the oscillator), GPIO 4 function "
                f"{'ALT0' if self.fsel == FSEL_ALT0 else f'0b{self.fsel:03b}'}")


def read_state(cm: Registers, gpio: Registers) -> ClockState:
    fsel = (gpio.read(GPFSEL0) >> (3 * CLOCK_PIN)) & 0b111
    return ClockState(cm.read(GP0CTL), cm.read(GP0DIV), fsel)


def _wait_not_busy(cm: Registers, sleep: Callable[[float], None],
                   clock: Callable[[], float]) -> None:
    deadline = clock() + BUSY_WAIT_S
    while cm.read(GP0CTL) & BUSY:
        if clock() > deadline:
            raise GpclkError("GPCLK0 stays BUSY after it was stopped")
        sleep(0.0001)


def stop(cm: Registers, *, sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.monotonic) -> None:
    """Stop GPCLK0 cleanly (ENAB off, then wait for the last cycle)."""
    ctl = cm.read(GP0CTL)
    cm.write(GP0CTL, PASSWD | (ctl & ~ENAB & 0xFFFFFF))
    _wait_not_busy(cm, sleep, clock)


def program(cm: Registers, gpio: Registers, *, sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.monotonic) -> bool:
    """Run GPCLK0 at CARD_CLOCK_HZ on GPIO 4; False if it already was (untouched)."""
    if read_state(cm, gpio).correct:
        return False
    stop(cm, sleep=sleep, clock=clock)
    cm.write(GP0DIV, PASSWD | (CARD_CLOCK_DIVIDER << 12))
    cm.write(GP0CTL, PASSWD | SRC_OSC)  # MASH 0: integer division
    cm.write(GP0CTL, PASSWD | SRC_OSC | ENAB)
    fsel = gpio.read(GPFSEL0)
    shift = 3 * CLOCK_PIN
    gpio.write(GPFSEL0, (fsel & ~(0b111 << shift)) | (FSEL_ALT0 << shift))
    state = read_state(cm, gpio)
    if not state.correct:
        raise GpclkError(f"GPCLK0 did not start as programmed: {state.describe()}")
    return True


class MappedRegisters:
    """One 4 KiB page of /dev/mem, 32-bit aligned accesses."""

    def __init__(self, fd: int, address: int):
        self._map = mmap.mmap(fd, mmap.PAGESIZE, mmap.MAP_SHARED,
                              mmap.PROT_READ | mmap.PROT_WRITE, offset=address)
        self._words = memoryview(self._map).cast("I")

    def read(self, offset: int) -> int:
        return self._words[offset // 4]

    def write(self, offset: int, value: int) -> None:
        self._words[offset // 4] = value & 0xFFFFFFFF

    def close(self) -> None:
        self._words.release()
        self._map.close()


def peripheral_base(device_tree: Path = Path("/proc/device-tree")) -> int:
    """The ARM physical address of the peripherals (``/soc/ranges``' second cell);
    GpclkError if the board is not a BCM2837 (the Zero 2 W's SoC)."""
    try:
        compatible = (device_tree / "compatible").read_bytes().split(b"\0")
        ranges = (device_tree / "soc" / "ranges").read_bytes()
    except OSError as exc:
        raise GpclkError(f"no device tree to read ({exc}): not a Raspberry Pi") from None
    if b"brcm,bcm2837" not in compatible:
        raise GpclkError("not a BCM2837 board (device tree compatible: "
                         f"{b', '.join(c for c in compatible if c).decode(errors='replace')})")
    base = int.from_bytes(ranges[4:8], "big") if len(ranges) >= 8 else BCM2837_PERI_BASE
    return base or BCM2837_PERI_BASE


def open_registers(base: int) -> tuple[MappedRegisters, MappedRegisters, int]:
    try:
        fd = os.open("/dev/mem", os.O_RDWR | os.O_SYNC)
    except OSError as exc:
        raise GpclkError(f"/dev/mem: {exc.strerror} (run as root)") from None
    try:
        return MappedRegisters(fd, base + CM_BASE), MappedRegisters(fd, base + GPIO_BASE), fd
    except OSError as exc:
        os.close(fd)
        raise GpclkError(f"/dev/mem mapping at 0x{base:08X} refused: {exc.strerror} "
                         "(a kernel with IO_STRICT_DEVMEM needs iomem=relaxed, "
                         "board/os/cmdline.txt)") from None


DESCRIPTION = (f"Run the card clock, GPCLK0 on GPIO 4, at {CARD_CLOCK_HZ} Hz from the "
               "crystal (root; opentla-gpclk.service runs it at boot). Exit codes: 0 done "
               "(--check: running right), 1 not programmed or not right, 2 bad usage.")


def _arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only report the clock's state")
    mode.add_argument("--stop", action="store_true", help="stop the clock")
    parser.set_defaults(func=run)


def add_parser(sub: Any, h: dict[str, Any]) -> None:
    """``gpclk`` in tla-unit's full parser (for --help)."""
    _arguments(sub.add_parser("gpclk", help="the Pi's card clock, GPCLK0 at 4.8 MHz (root)",
                              description=DESCRIPTION, **h))


def main(argv: list[str]) -> int:
    """``tla-unit gpclk [--check | --stop]`` alone (the boot oneshot)."""
    parser = argparse.ArgumentParser(prog="tla-unit gpclk", description=DESCRIPTION)
    _arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    try:
        cm, gpio, fd = open_registers(peripheral_base())
        try:
            if args.check:
                state = read_state(cm, gpio)
                print(state.describe())
                return 0 if state.correct else 1
            if args.stop:
                stop(cm)
                print("GPCLK0 stopped")
                return 0
            changed = program(cm, gpio)
            print(("GPCLK0 started: " if changed else "GPCLK0 already right: ")
                  + read_state(cm, gpio).describe())
            return 0
        finally:
            cm.close()
            gpio.close()
            os.close(fd)
    except GpclkError as exc:
        print(f"tla-unit gpclk: {exc}", file=sys.stderr)
        return 1
