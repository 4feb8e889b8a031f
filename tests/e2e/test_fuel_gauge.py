"""The MAX17048 driver (board/pi) over a fake smbus, and its simulated twin
(board/sim), against the datasheet's register encodings, computed by hand:
VCELL (0x02) 78.125 uV per LSB; SOC (0x04) 1/256 % per LSB; 16 bits MSB first;
I2C address 0x36."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from board.pi.fuel_gauge import Max17048
from board.sim.fuel_gauge import SimMax17048


class FakeSMBus:
    """smbus2's block read over a dict of register -> (MSB, LSB)."""

    def __init__(self, registers: dict[int, tuple[int, int]], fail: bool = False):
        self.registers = registers
        self.fail = fail
        self.reads: list[tuple[int, int, int]] = []

    def read_i2c_block_data(self, address: int, register: int, length: int) -> list[int]:
        self.reads.append((address, register, length))
        if self.fail:
            raise OSError(121, "Remote I/O error")
        return list(self.registers[register])


def test_driver_decodes_soc_and_vcell_as_the_datasheet_says():
    # SOC 0x5780: 0x57 = 87 % + 0x80/256 = 0.5 % -> 87.5 % ; VCELL 0xCF00 = 52992 x 78.125 uV
    bus = FakeSMBus({0x04: (0x57, 0x80), 0x02: (0xCF, 0x00)})
    gauge = Max17048(bus=bus)
    assert gauge.soc() == 87.5
    assert gauge.percent() == 87
    assert gauge.voltage() == pytest.approx(4.14, abs=1e-12)  # 52992 x 78.125e-6
    assert (0x36, 0x04, 2) in bus.reads and (0x36, 0x02, 2) in bus.reads


def test_driver_caps_percent_at_100_and_reports_unknown_when_unreadable():
    assert Max17048(bus=FakeSMBus({0x04: (0x64, 0x80)})).percent() == 100  # 100.5 %
    assert Max17048(bus=FakeSMBus({0x04: (0x00, 0xFF)})).percent() == 0  # 0.996 %
    assert Max17048(bus=FakeSMBus({}, fail=True)).percent() is None


def test_twin_encodes_registers_as_the_chip_does():
    twin = SimMax17048(soc=87.5, vcell=4.14)
    assert twin.register(0x04) == 0x5780
    assert twin.register(0x02) == 0xCF00  # 4.14 V / 78.125 uV = 52992
    assert twin.read_i2c_block_data(0x36, 0x04, 2) == [0x57, 0x80]
    # without a voltage: the straight line 3.3 V (0 %) .. 4.2 V (100 %); 50 % -> 3.75 V
    twin.set(50.0)
    assert twin.register(0x02) == 48000  # 3.75 / 78.125e-6
    twin.discharge(60.0)
    assert twin.register(0x04) == 0 and twin.register(0x02) == 42240  # 3.3 V
    with pytest.raises(OSError):
        twin.read_i2c_block_data(0x37, 0x04, 2)  # nobody at that address


def test_real_driver_runs_unchanged_on_the_twin():
    twin = SimMax17048(soc=42.25, vcell=3.7)
    gauge = Max17048(bus=twin)
    assert gauge.soc() == 42.25 and gauge.percent() == 42 == twin.percent()
    assert gauge.voltage() == pytest.approx(3.7, abs=78.125e-6 / 2)
    assert Max17048(bus=twin, address=0x40).percent() is None


@given(st.integers(min_value=0, max_value=100 * 256))
def test_soc_round_trips_through_the_register(steps):
    twin = SimMax17048(soc=steps / 256)
    assert Max17048(bus=twin).soc() == steps / 256
    assert twin.percent() == steps // 256
