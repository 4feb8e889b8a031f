"""Real card slot of the reference board: implements
:class:`firmware.iso7816.port.SlotPort` with a PL011 UART (pyserial) and GPIOs.

Pins, clock and the wiring table are in :mod:`board.pi.config`. The TDA8035
sequences VCC, CLK and I/O itself, so ``SetVcc`` drives CMDVCCN and
``SetClock`` only checks the frequency (GPCLK0 runs from boot; the chip stops
the card clock during its deactivation sequence). pyserial and gpiozero
(:class:`board.pi.gpio.GpiozeroLines`) are imported lazily, only when no test
double is given. Both slots share one UART: pass the same ``serial`` to both.

Limits of a Linux UART, and what is done about them:

- no timestamps: a byte's leading edge is estimated as the time ``read()``
  returned it minus 12 etu per byte still behind it in the same read;
- OFFN is read at each poll (every ``POLL_S`` at most while waiting) and its
  edges are counted from the GPIO interrupt (:meth:`GpiozeroLines.edges`): a card
  pulled and put back, or a fault pulse, between two polls still reads as
  ``CardRemoved`` (then ``CardInserted``), so a session never goes on with a card
  that was reset under it;
- pyserial does not report parity errors, so the driver sets termios PARMRK
  on the UART: a byte with a parity (or framing) error then reads as
  ``FF 00 byte`` and a real FF as ``FF FF``; :class:`ParityUnmarker` turns
  that stream back into bytes and per-byte parity flags. This is how an
  inverse-convention TS (read as 03 with a parity error under 'E', §8.1) is
  seen, and how T=0 parity errors reach the engine.
"""

from __future__ import annotations

import time

from board.pi import config as cfg
from board.pi.gpio import GpiozeroLines
from firmware.iso7816.actions import Send, SetClock, SetRst, SetUart, SetVcc
from firmware.iso7816.port import CardInserted, CardRemoved, PortEvent, Received, TransmitDone

POLL_S = 0.02  # longest sleep between two checks of OFFN while waiting


class ParityUnmarker:
    """Decodes a termios PARMRK byte stream (``FF FF`` = FF, ``FF 00 x`` = x
    with a parity/framing error) across reads."""

    def __init__(self) -> None:
        self._held = b""

    def feed(self, chunk: bytes) -> tuple[bytes, list[bool]]:
        data = self._held + bytes(chunk)
        out, flags, i = bytearray(), [], 0
        while i < len(data):
            b = data[i]
            if b != 0xFF:
                out.append(b)
                flags.append(True)
                i += 1
            elif i + 1 >= len(data):
                break
            elif data[i + 1] == 0xFF:
                out.append(0xFF)
                flags.append(True)
                i += 2
            elif i + 2 >= len(data):
                break
            else:  # FF 00 x
                out.append(data[i + 2])
                flags.append(False)
                i += 3
        self._held = data[i:]
        return bytes(out), flags


def enable_parmrk(fd: int) -> None:
    """Mark parity errors in the input stream (termios PARMRK, INPCK on)."""
    import termios

    attrs = termios.tcgetattr(fd)
    attrs[0] = (attrs[0] | termios.PARMRK | termios.INPCK) & ~(termios.IGNPAR | termios.ISTRIP)
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def open_uart(url: str = cfg.UART_DEVICE):
    """The slots' UART at its activation settings (9600 8E2, non-blocking)."""
    import serial  # lazy: pyserial only on the unit

    return serial.serial_for_url(url, baudrate=9600, bytesize=8, parity="E", stopbits=2,
                                 timeout=0)


class PiCardSlot:
    """One slot of the reference board (``name`` is a key of ``config.SLOTS``)."""

    def __init__(self, name: str = "vitale", *, gpio=None, serial=None,
                 clock=time.monotonic, sleep=time.sleep):
        self.pins = cfg.SLOTS[name]
        self.gpio = gpio if gpio is not None else GpiozeroLines()
        self.serial = serial if serial is not None else open_uart()
        self._clock = clock
        self._sleep = sleep
        self._baud = 0.0
        self._parity = "E"
        self._unmark = ParityUnmarker()
        self._stop_bits = 2
        self._extra_guard = 0.0
        self._pending: list[PortEvent] = []
        self.gpio.setup_output(self.pins.cmdvcc_n, True)  # card unpowered
        self.gpio.setup_output(self.pins.rstin, False)
        self.gpio.setup_input(self.pins.off_n)
        self.gpio.setup_output(cfg.IO_SELECT_PIN, self.pins.io_select_level)
        self._present = self.card_present()
        self.gpio.edges(self.pins.off_n)  # count from here

    # ---- SlotPort ------------------------------------------------------------------
    def now(self) -> float:
        return self._clock()

    def card_present(self) -> bool:
        return self.gpio.read(self.pins.off_n)

    def apply(self, action) -> None:
        if isinstance(action, SetVcc):
            self.gpio.write(cfg.IO_SELECT_PIN, self.pins.io_select_level)
            self.gpio.write(self.pins.cmdvcc_n, not action.on)
        elif isinstance(action, SetRst):
            if action.high:
                self.serial.reset_input_buffer()
                self._unmark = ParityUnmarker()
            self.gpio.write(self.pins.rstin, action.high)
        elif isinstance(action, SetClock):
            if action.hz not in (0, cfg.CARD_CLOCK_HZ):
                raise ValueError(f"the board's card clock is {cfg.CARD_CLOCK_HZ} Hz, not {action.hz}")
        elif isinstance(action, SetUart):
            self._baud, self._parity = action.baud, action.parity
            self._stop_bits = 1 if action.extra_guard_etu < 0 else 2  # 11 etu: N=255 in T=1
            self._extra_guard = max(0.0, action.extra_guard_etu)
            if action.baud > 0:
                self._configure(action.baud, action.parity)
        elif isinstance(action, Send):
            self._send(action)

    def wait(self, deadline: float | None) -> list[PortEvent]:
        while True:
            if self._pending:
                out, self._pending = self._pending, []
                return out
            events = self._poll()
            if events:
                return events
            now = self._clock()
            if deadline is not None and now >= deadline + self._char_time():
                return []  # late by a character: its leading edge was after deadline
            if deadline is None and not self._present and not self.card_present():
                return []
            left = POLL_S if deadline is None else min(POLL_S, deadline + self._char_time() - now)
            self._sleep(max(left, 0.0))

    # ---- internals -------------------------------------------------------------------
    def _char_time(self) -> float:
        return 12.0 / self._baud if self._baud > 0 else 0.0

    def _configure(self, baud: float, parity: str) -> None:
        self.serial.baudrate = int(round(baud))
        self.serial.parity = parity
        self.serial.stopbits = self._stop_bits
        if hasattr(self.serial, "fileno"):
            try:
                enable_parmrk(self.serial.fileno())
            except (OSError, ValueError, AttributeError):
                pass  # not a tty (loop://, tests)

    def _send(self, action: Send) -> None:
        delay = action.not_before - self._clock()
        if delay > 0:
            self._sleep(delay)
        first = self._clock()
        if self._extra_guard > 0:  # TC1 = N: pace characters one by one
            for i, byte in enumerate(action.data):
                if i:
                    self._sleep(self._extra_guard / self._baud)
                self.serial.write(bytes((byte,)))
                self.serial.flush()
        else:
            self.serial.write(action.data)
            self.serial.flush()  # returns once the last character left the UART
        end = self._clock()
        last = max(first, end - self._char_time())
        self._pending.append(TransmitDone(first, last))

    def _poll(self) -> list[PortEvent]:
        out: list[PortEvent] = []
        present = self.card_present()
        edges = self.gpio.edges(self.pins.off_n)
        if present != self._present:
            self._present = present
            now = self._clock()
            out.append(CardInserted(now) if present else CardRemoved(now))
        elif edges >= 2:  # OFFN went and came back between two looks: pulled, or a fault
            now = self._clock()
            out.append(CardRemoved(now))
            if present:
                out.append(CardInserted(now))
        waiting = self.serial.in_waiting
        if waiting:
            data, flags = self._unmark.feed(self.serial.read(waiting))
            now = self._clock()
            step = self._char_time()
            times = tuple(now - step * (len(data) - i) for i in range(len(data)))
            if data:
                out.insert(0, Received(data, times, tuple(flags)))
        return out
