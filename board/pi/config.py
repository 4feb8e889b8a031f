"""Pins and clock of the reference board's two card slots (DESIGN.md §3).

Each slot sits behind an NXP TDA8035-class interface. The chip sequences
activation and deactivation itself (ISO 7816-3 §6.2/§6.4): pulling CMDVCCN low
powers the card, starts its clock (CLKIN from GPCLK0) and enables I/O; RST
follows RSTIN; releasing CMDVCCN runs the deactivation sequence (RST low, CLK
stop, I/O low, VCC off). OFFN goes low when the card is absent or on a fault.

The Pi Zero 2 W has a single full UART (PL011) with parity; the I/O lines of
the two interfaces (I/OUC) reach its TX/RX (tied through 1 kOhm, so every
sent byte echoes) through an analog switch selected by ``IO_SELECT``. Only one
slot talks at a time; the other slot's card stays powered.

| signal             | Pi GPIO (BCM) | header pin | Vitale slot | PS slot |
|--------------------|---------------|------------|-------------|---------|
| GPCLK0 4.8 MHz     | 4             | 7          | CLKIN       | CLKIN   |
| UART TX+RX (tied)  | 14 / 15       | 8 / 10     | I/OUC       | I/OUC   |
| IO_SELECT          | 27            | 13         | low         | high    |
| CMDVCCN            | 17 / 22       | 11 / 15    | slot 1      | slot 2  |
| RSTIN              | 23 / 24       | 16 / 18    | slot 1      | slot 2  |
| OFFN (interrupt)   | 25 / 5        | 22 / 29    | slot 1      | slot 2  |

The other parts (docs/board.md §Wiring): the keypad matrix, the buzzer, and the
I2C-1 bus (GPIO 2 SDA, 3 SCL) shared by the MAX17048 gauge (0x36), the DS3231 RTC
(0x68) and the SSD1306 OLED (0x3C).

| signal             | Pi GPIO (BCM)     | header pins       |
|--------------------|-------------------|-------------------|
| keypad rows 1-4    | 6, 13, 19, 26     | 31, 33, 35, 37    |
| keypad columns 1-4 | 12, 16, 20, 21    | 32, 36, 38, 40    |
| buzzer             | 18                | 12                |
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.parts import Key

# GPCLK0 on GPIO4: 19.2 MHz crystal oscillator divided by 4.
CARD_CLOCK_SOURCE_HZ = 19_200_000
CARD_CLOCK_DIVIDER = 4
CARD_CLOCK_HZ = CARD_CLOCK_SOURCE_HZ // CARD_CLOCK_DIVIDER  # 4.8 MHz
UART_DEVICE = "/dev/ttyAMA0"  # PL011 (the mini UART has no parity)
UART_MAX_BAUD = 1_000_000.0  # PL011 at UARTCLK 48 MHz; TDA8035 I/O up to ~1 Mbit/s
IO_SELECT_PIN = 27


@dataclass(frozen=True)
class SlotPins:
    name: str
    cmdvcc_n: int  # output, active low
    rstin: int  # output, active high
    off_n: int  # input, low = no card or fault
    io_select_level: bool  # level of IO_SELECT_PIN that routes the UART here


SLOTS: dict[str, SlotPins] = {
    "vitale": SlotPins("vitale", cmdvcc_n=17, rstin=23, off_n=25, io_select_level=False),
    "ps": SlotPins("ps", cmdvcc_n=22, rstin=24, off_n=5, io_select_level=True),
}


# ---- keypad, buzzer, I2C (free GPIOs: none above, not I2C-1, not SPI0 7-11) ---------
KEYPAD_ROWS = (6, 13, 19, 26)  # outputs, driven low one at a time
KEYPAD_COLUMNS = (12, 16, 20, 21)  # inputs with pull-ups
KEYPAD_LAYOUT = (
    (Key.D1, Key.D2, Key.D3, Key.UP),
    (Key.D4, Key.D5, Key.D6, Key.DOWN),
    (Key.D7, Key.D8, Key.D9, Key.MENU),
    (Key.ANNULER, Key.D0, Key.CORRIGER, Key.VALIDER),
)
BUZZER_PIN = 18
I2C_BUS = 1
