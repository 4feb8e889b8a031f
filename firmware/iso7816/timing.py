"""ISO 7816-3 timing: transmission factors, etu and the waiting times derived
from the ATR. All times are in seconds (floats); helpers also give etu counts.

Tables: ISO/IEC 7816-3:2006 Table 7 (Fi, f max) and Table 8 (Di).
"""

from __future__ import annotations

from dataclasses import dataclass

# Fi index -> (Fi, f max in Hz). None marks an RFU value.
FI_TABLE: dict[int, tuple[int, int] | None] = {
    0x0: (372, 4_000_000),
    0x1: (372, 5_000_000),
    0x2: (558, 6_000_000),
    0x3: (744, 8_000_000),
    0x4: (1116, 12_000_000),
    0x5: (1488, 16_000_000),
    0x6: (1860, 20_000_000),
    0x7: None,
    0x8: None,
    0x9: (512, 5_000_000),
    0xA: (768, 7_500_000),
    0xB: (1024, 10_000_000),
    0xC: (1536, 15_000_000),
    0xD: (2048, 20_000_000),
    0xE: None,
    0xF: None,
}

# Di index -> Di. None marks an RFU value.
DI_TABLE: dict[int, int | None] = {
    0x0: None,
    0x1: 1,
    0x2: 2,
    0x3: 4,
    0x4: 8,
    0x5: 16,
    0x6: 32,
    0x7: 64,
    0x8: 12,
    0x9: 20,
    0xA: None,
    0xB: None,
    0xC: None,
    0xD: None,
    0xE: None,
    0xF: None,
}

DEFAULT_FI = 372
DEFAULT_DI = 1
DEFAULT_WI = 10
DEFAULT_BWI = 4
DEFAULT_CWI = 13
DEFAULT_IFSC = 32

# Activation (ISO 7816-3 §6.2.2): RST stays low at least 400 clock cycles after
# the clock starts; the ATR must begin within 400..40 000 cycles after RST rises.
RST_LOW_MIN_CYCLES = 400
ATR_START_MAX_CYCLES = 40_000
# Between two ATR characters at most 9 600 etu (§8.1).
ATR_CHAR_MAX_ETU = 9_600


@dataclass(frozen=True)
class LinkTiming:
    """Timing of one slot at a given moment (default speed, or after PPS)."""

    clock_hz: int
    fi: int = DEFAULT_FI
    di: int = DEFAULT_DI
    n: int = 0  # TC1 extra guard time
    wi: int = DEFAULT_WI
    bwi: int = DEFAULT_BWI
    cwi: int = DEFAULT_CWI
    protocol: int = 0

    @property
    def etu(self) -> float:
        return self.fi / (self.di * self.clock_hz)

    @property
    def baud(self) -> float:
        return 1.0 / self.etu

    @property
    def char_etu(self) -> float:
        """Minimum delay between leading edges of two consecutive characters sent
        in the same direction (§7.2): 12 etu + N; N=255 means 12 etu in T=0 and
        11 etu in T=1."""
        if self.n == 255:
            return 11.0 if self.protocol == 1 else 12.0
        return 12.0 + self.n

    @property
    def wwt(self) -> float:
        """T=0 work waiting time (§10.2): 960 x WI x Fi / f."""
        return 960 * self.wi * self.fi / self.clock_hz

    @property
    def cwt(self) -> float:
        """T=1 character waiting time (§11.4.3): (11 + 2^CWI) etu."""
        return (11 + 2**self.cwi) * self.etu

    @property
    def bwt(self) -> float:
        """T=1 block waiting time (§11.4.3): 11 etu + 2^BWI x 960 x 372 / f."""
        return 11 * self.etu + (2**self.bwi) * 960 * 372 / self.clock_hz

    @property
    def bgt_etu(self) -> float:
        """T=1 block guard time: 22 etu between leading edges in opposite directions."""
        return 22.0

    @property
    def turnaround_etu(self) -> float:
        """Minimum delay between the leading edges of the last character received
        and the first one sent in the other direction: 16 etu in T=0 (§10.2),
        BGT = 22 etu in T=1 (§11.2)."""
        return 22.0 if self.protocol == 1 else 16.0

    def etus(self, seconds: float) -> float:
        return seconds / self.etu
