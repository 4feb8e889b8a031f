"""PC/SC backend: a :class:`firmware.iso7816.apdu.CardConnection` over pyscard, so the
same firmware card readers run with any standard reader (DESIGN.md §3).

>>> # conn = PcscConnection.open("Virtual PCD 00 00"); read_vitale(conn)
"""

from __future__ import annotations

import threading

from firmware.cardapps.reader_base import redacted
from firmware.iso7816.apdu import ApduTrace, CommandAPDU, ResponseAPDU
from firmware.iso7816.errors import CardAbsent, CardError, CardGone

try:  # pyscard is in the "host" extra; the unit itself does not need it
    from smartcard.CardConnection import CardConnection as _PyscardConnection
    from smartcard.Exceptions import CardConnectionException, NoCardException
    from smartcard.pcsc.PCSCExceptions import BaseSCardException, EstablishContextException
    from smartcard.System import readers as _readers
except ImportError:  # pragma: no cover - reported when used
    _readers = None


PROTOCOLS = {"T0": 0x1, "T1": 0x2, "any": 0x3}


class PcscUnavailable(CardError):
    """No PC/SC reader to use: pyscard missing, pcscd not running, or no such reader."""

    code = "pcsc_unavailable"
    message_fr = "Lecteur PC/SC absent"


PCSCD_DOWN = "pcscd (the PC/SC service) is not running: start it (sudo systemctl start pcscd)"


def _need_pyscard() -> None:
    if _readers is None:
        raise PcscUnavailable("pyscard is not installed (pip install pyscard)")


def _pcsc_readers() -> list:
    """pyscard's reader objects; SCardEstablishContext failing means pcscd is down."""
    _need_pyscard()
    try:
        return list(_readers())
    except EstablishContextException as exc:
        raise PcscUnavailable(f"{PCSCD_DOWN} ({exc})") from exc
    except BaseSCardException as exc:  # e.g. ListReadersException: the service failed
        raise PcscUnavailable(f"the PC/SC service failed: {exc}") from exc


def list_readers() -> list[str]:
    """Names of the PC/SC readers (empty if pcscd runs with none)."""
    readers = _pcsc_readers()
    return [str(r) for r in readers]


def _release(conn) -> None:
    release = getattr(conn, "release", None)
    if release is not None:
        try:
            release()
        except CardConnectionException:
            pass


class PcscConnection:
    """One card in one named PC/SC reader; ``protocol`` is "T0", "T1" or "any"."""

    def __init__(self, connection, atr: bytes, reader: str):
        self._conn = connection
        self._atr = atr
        self.reader = reader
        self.trace = ApduTrace()

    @classmethod
    def open(cls, reader: str, protocol: str = "any") -> PcscConnection:
        readers = _pcsc_readers()
        matches = [r for r in readers if str(r) == reader] or [
            r for r in readers if str(r).startswith(reader)
        ]
        if not matches:
            have = [str(r) for r in readers]
            raise PcscUnavailable(f"no PC/SC reader named {reader!r}; have {have}")
        conn = matches[0].createConnection()
        flags = {
            "T0": _PyscardConnection.T0_protocol,
            "T1": _PyscardConnection.T1_protocol,
            "any": _PyscardConnection.T0_protocol | _PyscardConnection.T1_protocol,
        }[protocol]
        try:
            conn.connect(protocol=flags)
        except (NoCardException, CardConnectionException) as exc:
            _release(conn)
            raise CardAbsent(f"no usable card in {reader}: {exc}") from exc
        return cls(conn, bytes(conn.getATR()), str(matches[0]))

    @property
    def atr(self) -> bytes:
        return self._atr

    def transmit(self, command: CommandAPDU) -> ResponseAPDU:
        raw = command.to_bytes()
        try:
            data, sw1, sw2 = self._conn.transmit(list(raw))
        except CardConnectionException as exc:
            raise CardGone(f"transmit failed in {self.reader}: {exc}") from exc
        resp = ResponseAPDU(bytes(data), sw1, sw2)
        self.trace.commands += 1
        self.trace.bytes_out += len(raw)
        self.trace.bytes_in += len(data) + 2
        self.trace.log.append((redacted(raw), resp.to_bytes()))
        return resp

    def close(self) -> None:
        """Disconnect and release the PC/SC context now (not in a late __del__)."""
        try:
            self._conn.disconnect()
        except CardConnectionException:
            pass
        _release(self._conn)

    def __enter__(self) -> PcscConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PcscReader:
    """One PC/SC reader as a :class:`firmware.parts.CardReader` (the ``pc``
    board's slots). ``name`` is the reader's name or its start."""

    def __init__(self, name: str, protocol: str = "any"):
        self.name = name
        self.protocol = protocol
        self._context = None
        self._full_name: str | None = None
        self._lock = threading.Lock()  # a PC/SC context serves one call at a time

    def connect(self) -> PcscConnection:
        return PcscConnection.open(self.name, self.protocol)

    def card_present(self) -> bool:
        """The reader's state (SCardGetStatusChange, no wait); False when the
        reader or the PC/SC service is gone."""
        with self._lock:
            return self._card_present()

    def _card_present(self) -> bool:
        _need_pyscard()
        from smartcard import scard  # lazily, with the rest of pyscard

        if self._context is None:
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult != scard.SCARD_S_SUCCESS:
                return False
            self._context = context
        if self._full_name is None:
            try:
                have = list_readers()
            except PcscUnavailable:  # pcscd stopped: no card to talk to
                return False
            names = [n for n in have if n == self.name] or [
                n for n in have if n.startswith(self.name)]
            if not names:
                return False
            self._full_name = names[0]
        hresult, states = scard.SCardGetStatusChange(
            self._context, 0, [(self._full_name, scard.SCARD_STATE_UNAWARE)])
        if hresult != scard.SCARD_S_SUCCESS or not states:
            self._full_name = None  # look the reader up again next time
            return False
        return bool(states[0][1] & scard.SCARD_STATE_PRESENT)

    def close(self) -> None:
        with self._lock:
            if self._context is not None:
                from smartcard import scard

                scard.SCardReleaseContext(self._context)
                self._context = None
