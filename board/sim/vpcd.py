"""Serve an emulated card to vsmartcard's ``vpcd`` driver inside pcscd, so the real
PC/SC stack (pcscd, pyscard, opensc-tool) sees it in reader "Virtual PCD".

Wire protocol (vsmartcard vpcd): TCP to 127.0.0.1:35963 by default; every message
is a 2-byte big-endian length then the payload. A 1-byte payload from vpcd is a
control code: 0 power off, 1 power on, 2 reset, 4 "send the ATR"; any longer
payload is a command APDU, answered with the response APDU. vpcd carries APDUs
only: T=0/T=1 are not exercised on this path.

>>> # with VpcdCard(load_card("cps_medecin"), port=35963).start(): ...  # thread
"""

from __future__ import annotations

import socket
import threading
import time

from board.sim.card_side import EmulatedCard
from firmware.errors import InternalError
from firmware.iso7816.errors import CardGone

DEFAULT_PORT = 35963
CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4


class VpcdError(ConnectionError):
    """vpcd is not listening, or it broke the framing."""


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("vpcd closed the connection")
        buf += chunk
    return bytes(buf)


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(len(payload).to_bytes(2, "big") + payload)


class VpcdCard:
    """A virtual card plugged into vpcd. ``start()`` runs it on a thread;
    ``stop()`` (or the context manager) pulls it out and joins the thread."""

    def __init__(self, card: EmulatedCard, host: str = "127.0.0.1", port: int = DEFAULT_PORT):
        self.card = card
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.apdus = 0
        self.error: BaseException | None = None

    def connect(self, timeout: float = 10.0) -> None:
        """Connect, retrying while vpcd is not yet listening (pcscd starting)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._sock = socket.create_connection((self.host, self.port), timeout=1.0)
                self._sock.settimeout(0.2)
                return
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise VpcdError(f"vpcd not listening on {self.host}:{self.port}") from exc
                time.sleep(0.05)

    def handle(self, payload: bytes) -> bytes | None:
        """One message from vpcd; the answer to send back (None: nothing)."""
        if len(payload) == 1:
            code = payload[0]
            if code in (CTRL_ON, CTRL_RESET):
                self.card.power_on()
            elif code == CTRL_ATR:
                return bytes(self.card.atr)
            return None
        self.apdus += 1
        return self.card.process(payload)

    def serve(self) -> None:
        """Serve until stop() or the card is removed (CardGone closes the socket,
        which vpcd reports as a card removal)."""
        sock = self._sock
        if sock is None:
            raise InternalError("VpcdCard.serve() called before connect()")
        try:
            while not self._stop.is_set():
                try:
                    head = _recv_exact(sock, 2)
                except TimeoutError:
                    continue
                sock.settimeout(5.0)
                payload = _recv_exact(sock, int.from_bytes(head, "big"))
                sock.settimeout(0.2)
                answer = self.handle(payload)
                if answer is not None:
                    _send(sock, answer)
        except (CardGone, EOFError):
            pass
        except BaseException as exc:  # reported to the test through .error
            self.error = exc
        finally:
            sock.close()

    def start(self, timeout: float = 10.0) -> VpcdCard:
        self.connect(timeout)
        self._thread = threading.Thread(target=self.serve, name="vpcd-card", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def __enter__(self) -> VpcdCard:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
