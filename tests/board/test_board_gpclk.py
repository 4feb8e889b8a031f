"""GPCLK0 (board/pi/gpclk.py) against a register-level fake of the BCM2837 clock
manager's GP0 registers and the GPIO function select, written from the datasheet
(BCM2835 ARM Peripherals §6.3): writes without the 0x5A password are ignored,
BUSY follows ENAB a few reads late, and changing the source or divider while
BUSY is recorded as a glitch."""

from __future__ import annotations

import pytest

from board.pi import gpclk
from board.pi.gpclk import ClockState, GpclkError, peripheral_base, program, read_state, stop

OSC_HZ = 19_200_000


class FakeClockManager:
    """CM_GP0CTL (0x70) and CM_GP0DIV (0x74)."""

    def __init__(self, ctl: int = 0, div: int = 0, *, busy_lag: int = 2):
        self.ctl = ctl
        self.div = div
        self.busy_lag = busy_lag
        self._lag = 0
        self.glitches: list[str] = []
        self.ignored = 0

    def read(self, offset: int) -> int:
        if offset == 0x70:
            if self._lag:
                self._lag -= 1
                if not self._lag:
                    self.ctl &= ~(1 << 7)
            return self.ctl  # the password field reads as 0
        if offset == 0x74:
            return self.div
        raise AssertionError(f"clock manager read at 0x{offset:X}")

    def write(self, offset: int, value: int) -> None:
        if value >> 24 != 0x5A:
            self.ignored += 1
            return
        value &= 0xFFFFFF
        busy = bool(self.ctl & (1 << 7))
        if offset == 0x74:
            if busy:
                self.glitches.append("divider written while BUSY")
            self.div = value
        elif offset == 0x70:
            if busy and (value & 0x60F) != (self.ctl & 0x60F):
                self.glitches.append("source or MASH changed while BUSY")
            enab = bool(value & (1 << 4))
            self.ctl = (value & ~(1 << 7)) | (self.ctl & (1 << 7))
            if value & (1 << 5):  # KILL: stops at once
                self.ctl &= ~(1 << 7)
            elif enab:
                self.ctl |= 1 << 7
                self._lag = 0
            elif busy:
                self._lag = self.busy_lag  # finishes the current cycle
        else:
            raise AssertionError(f"clock manager write at 0x{offset:X}")

    def frequency(self) -> float:
        """What GPIO 4 would carry, from the fields as the datasheet defines them."""
        if not (self.ctl & (1 << 4) and self.ctl & (1 << 7)) or self.ctl & 0xF != 1:
            return 0.0
        divi, divf = (self.div >> 12) & 0xFFF, self.div & 0xFFF
        mash = (self.ctl >> 9) & 3
        return OSC_HZ / (divi + divf / 4096) if mash else OSC_HZ / divi


class FakeGpio:
    def __init__(self, fsel0: int):
        self.fsel0 = fsel0

    def read(self, offset: int) -> int:
        assert offset == 0x00
        return self.fsel0

    def write(self, offset: int, value: int) -> None:
        assert offset == 0x00
        self.fsel0 = value


def no_sleep(_s: float) -> None:
    pass


class Ticks:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 0.001
        return self.t


# GPIO 2, 3 ALT0 (I2C-1: 0b100 at bits 8-6 and 11-9), GPIO 5 input, 6 output, 4 input
FSEL_BEFORE = (0b100 << 6) | (0b100 << 9) | (0b001 << 18)


def test_programs_4_8_mhz_from_the_oscillator_on_gpio_4():
    cm, gpio = FakeClockManager(), FakeGpio(FSEL_BEFORE)
    assert program(cm, gpio, sleep=no_sleep, clock=Ticks()) is True
    assert cm.frequency() == 4_800_000
    assert (cm.ctl >> 9) & 3 == 0  # MASH off: no jitter
    assert gpio.fsel0 == FSEL_BEFORE | (0b100 << 12)  # only GPIO 4's bits changed
    assert cm.glitches == [] and cm.ignored == 0


def test_a_running_wrong_clock_is_stopped_before_it_is_changed():
    # running from PLLD (src 6) with MASH 1: BUSY set
    cm = FakeClockManager(ctl=(1 << 9) | (1 << 7) | (1 << 4) | 6, div=(10 << 12) | 300)
    gpio = FakeGpio(FSEL_BEFORE | (0b100 << 12))
    program(cm, gpio, sleep=no_sleep, clock=Ticks())
    assert cm.glitches == []  # waited for BUSY to clear before touching the divider
    assert cm.frequency() == 4_800_000


def test_an_already_right_clock_is_left_untouched():
    cm = FakeClockManager(ctl=(1 << 7) | (1 << 4) | 1, div=4 << 12)
    gpio = FakeGpio(FSEL_BEFORE | (0b100 << 12))
    writes: list[tuple[int, int]] = []
    write = cm.write
    cm.write = lambda off, value: (writes.append((off, value)), write(off, value))  # type: ignore[method-assign]
    assert program(cm, gpio, sleep=no_sleep, clock=Ticks()) is False
    assert writes == []


def test_a_clock_that_stays_busy_is_an_error_not_a_hang():
    cm = FakeClockManager(ctl=(1 << 7) | (1 << 4) | 6, div=10 << 12, busy_lag=10**9)
    with pytest.raises(GpclkError) as exc:
        program(cm, FakeGpio(0), sleep=no_sleep, clock=Ticks())
    assert "BUSY" in str(exc.value)


def test_stop_clears_enab_and_waits():
    cm = FakeClockManager(ctl=(1 << 7) | (1 << 4) | 1, div=4 << 12)
    stop(cm, sleep=no_sleep, clock=Ticks())
    assert cm.frequency() == 0.0 and not cm.ctl & (1 << 7)


def test_state_reads_back_the_fields():
    state = read_state(FakeClockManager(ctl=(1 << 7) | (1 << 4) | 1, div=4 << 12),
                       FakeGpio(0b100 << 12))
    assert state == ClockState(ctl=0x91, div=0x4000, fsel=0b100)
    assert state.correct
    assert "4800000 Hz" in state.describe() and "ALT0" in state.describe()


def test_peripheral_base_comes_from_the_device_tree(tmp_path):
    (tmp_path / "soc").mkdir()
    (tmp_path / "compatible").write_bytes(b"raspberrypi,model-zero-2-w\0brcm,bcm2837\0")
    # ranges = <0x7e000000 0x3f000000 0x1000000>
    (tmp_path / "soc" / "ranges").write_bytes(bytes.fromhex("7e000000 3f000000 01000000"))
    assert peripheral_base(tmp_path) == 0x3F000000


def test_another_board_is_refused(tmp_path):
    (tmp_path / "soc").mkdir()
    (tmp_path / "compatible").write_bytes(b"linux,dummy-virt\0")
    (tmp_path / "soc" / "ranges").write_bytes(b"")
    with pytest.raises(GpclkError) as exc:
        peripheral_base(tmp_path)
    assert "not a BCM2837" in str(exc.value)


def test_the_command_fails_clearly_off_a_pi(capsys, monkeypatch):
    monkeypatch.setattr(gpclk, "peripheral_base",
                        lambda: (_ for _ in ()).throw(GpclkError("not a BCM2837 board")))
    assert gpclk.main(["--check"]) == 1
    assert capsys.readouterr().err == "tla-unit gpclk: not a BCM2837 board\n"
