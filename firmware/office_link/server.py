"""The unit's SMP server: bytes and time in, bytes and events out (sans-I/O, like h11).

>>> from firmware.office_link.security import Identity, MemoryPairedHosts
>>> server = SMPServer(Identity.generate(), MemoryPairedHosts(), services=None)
>>> from firmware.office_link.framing import encode_packet, FrameDecoder
>>> ping = bytes([0x0A, 0, 0, 6, 0, 0, 42, 0]) + b"\\xa1adbhi"   # v2 write, echo "hi"
>>> [reply] = server.receive_data(encode_packet(ping), now=0.0)
>>> FrameDecoder().feed(reply.data)[0].data[8:]
b'\\xa1arbhi'

One request is answered at a time, in order (SMP over serial has no pipelining).
A driver (:class:`firmware.office_link.runner.LinkRunner`) calls :meth:`receive_data` with
what the line brought, :meth:`tick` now and then (pairing and sessions expire),
:meth:`confirm_pairing` / :meth:`reject_pairing` on a key press and :meth:`link_reset`
when the line goes away or comes up; it writes every
:class:`~firmware.office_link.events.Send` to the line and handles the other events.

Inside a session every request to a session route must carry the session MAC
(:mod:`firmware.office_link.mac`); the answer to an authenticated request is sealed too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

import cbor2

from . import mac
from .dispatch import Access, CommandGroup, Context, Dispatcher
from .events import Action, LinkError, Send
from .framing import LINE_MAX, FrameDecoder, FrameError, encode_packet
from .groups import OsGroup, SecurityGroup, UnitGroup
from .header import (
    HEADER_SIZE,
    GroupError,
    Header,
    MgmtErr,
    MgmtError,
    Op,
    Request,
    error_body,
    response,
)
from .pairing import LinkSecurity
from .security import Identity, PairedHosts, RandomSource
from .services import UnitServices

DEFAULT_BUF_SIZE = 2048

log = logging.getLogger("opentla.link")


class SMPServer:
    def __init__(
        self,
        identity: Identity,
        trust: PairedHosts,
        services: UnitServices | None,
        *,
        groups: Iterable[CommandGroup] = (),
        buf_size: int = DEFAULT_BUF_SIZE,
        line_max: int = LINE_MAX,
        random_bytes: RandomSource = os.urandom,
        update_open: Callable[[float], bool] | None = None,
    ) -> None:
        self.security = LinkSecurity(identity, trust, random_bytes)
        self._decoder = FrameDecoder(buf_size, line_max)
        self._line_max = line_max
        self.dispatcher = Dispatcher()
        self.update_open = update_open  # the update mode: Access.UPDATE routes without a session
        self.dispatcher.add_group(OsGroup(services, buf_size))  # type: ignore[arg-type]
        self.dispatcher.add_group(SecurityGroup(self.security))
        if services is not None:
            self.dispatcher.add_group(UnitGroup(services))
        for group in groups:
            self.dispatcher.add_group(group)

    # ---- driver calls --------------------------------------------------------------
    def receive_data(self, data: bytes, now: float) -> list[Action]:
        """Bytes from the line: returns what to send and what happened."""
        actions: list[Action] = []
        for item in self._decoder.feed(data):
            if isinstance(item, FrameError):
                actions.append(LinkError(item.code, item.detail))
            else:
                actions.extend(self._handle_packet(item.data, now))
        return actions

    def tick(self, now: float) -> list[Action]:
        self.security.tick(now)
        return self._drain()

    def confirm_pairing(self, now: float) -> list[Action]:
        """Valider pressed while the pairing code is shown."""
        self.security.confirm_pairing(now)
        return self._drain()

    def reject_pairing(self, now: float) -> list[Action]:
        """Annuler pressed while the pairing code is shown."""
        self.security.reject_pairing(now)
        return self._drain()

    def link_reset(self, now: float) -> list[Action]:
        """The line went away (cable pulled, port closed): drop partial frames and the session."""
        self._decoder.reset()
        self.security.close_session("reset")
        return self._drain()

    def answer(self, packet: bytes, now: float) -> list[Action]:
        """One SMP packet handed in without the line's framing (the update health
        check's loopback echo); the line's partial frame, if any, is left alone."""
        return self._handle_packet(packet, now)

    # ---- one request -----------------------------------------------------------------
    def _drain(self) -> list[Action]:
        events, self.security.events[:] = list(self.security.events), []
        return events

    def _send(self, packet: bytes) -> Send:
        return Send(encode_packet(packet, self._line_max))

    def _handle_packet(self, packet: bytes, now: float) -> list[Action]:
        header = Header.parse(packet)  # the decoder guarantees at least 8 bytes
        if header.op in (Op.READ_RSP, Op.WRITE_RSP):
            return [LinkError("smp.unexpected_response", f"response op {header.op} sent to the unit")]
        if header.version > 1:
            reply_header = Header(header.op, 1, 0, 0, header.group, header.seq, header.command)
            body = error_body(reply_header, MgmtError(MgmtErr.UNSUPPORTED_TOO_NEW, "SMP v1 and v2 only"))
            return [self._send(response(reply_header, body)), LinkError("smp.version", str(header.version))]
        events: list[Action] = []
        sealed = _ReplySeal()
        try:
            request = Request(header, self._decode_body(header, packet[HEADER_SIZE:]))
            body = self._dispatch(request, now, events, sealed)
        except mac.MacError as refusal:
            body = error_body(header, MgmtError(MgmtErr.EACCESSDENIED, refusal.reason))
            events.append(LinkError(refusal.code, refusal.reason))
        except (GroupError, MgmtError) as refusal:
            body = error_body(header, refusal)
            events.append(LinkError(_log_code(refusal), getattr(refusal, "reason", "")))
        except Exception as exc:  # our own bug: answer, log the traceback, keep the link alive
            log.exception("internal error answering group %d command %d", header.group,
                          header.command)
            body = error_body(header, MgmtError(MgmtErr.EUNKNOWN, "internal error"))
            events.append(LinkError("smp.internal", f"{type(exc).__name__}: {exc}"))
        if sealed.key:  # the request was authenticated: so is its answer, error or not
            body = mac.seal(sealed.key, mac.LABEL_REPLY, mac.reply_header(header), body,
                            sealed.counter)
        return [self._send(response(header, body)), *self._drain(), *events]

    @staticmethod
    def _decode_body(header: Header, data: bytes) -> dict[str, Any]:
        if header.length != len(data):
            raise MgmtError(MgmtErr.EINVAL, f"header length {header.length} != body {len(data)}")
        if not data:
            return {}
        try:
            body = cbor2.loads(data)
        except Exception:  # cbor2 raises several types on malformed input
            raise MgmtError(MgmtErr.EINVAL, "body is not valid CBOR") from None
        if not isinstance(body, dict):
            raise MgmtError(MgmtErr.EINVAL, "body must be a CBOR map")
        return body

    def _dispatch(self, request: Request, now: float, events: list[Action],
                  sealed: _ReplySeal) -> dict[str, Any]:
        route = self.dispatcher.lookup(request.key)
        if route is None:
            raise MgmtError(MgmtErr.ENOTSUP, "command not supported")
        session = self.security.session(now)
        if mac.carries_mac(request.body):
            if session is None:
                raise mac.MacError("link.no_session", "no open session for this MAC (it ended)")
            opened = mac.open_sealed(session.key, mac.LABEL_REQUEST, request.header, request.body)
            if opened.counter <= session.counter:
                raise mac.MacError("link.replay", f"counter {opened.counter} already used")
            session.counter, session.last_use = opened.counter, now
            sealed.key, sealed.counter = session.key, opened.counter
            request = Request(request.header, opened.body)
        elif route.access is Access.SESSION or (
                route.access is Access.UPDATE
                and not (self.update_open is not None and self.update_open(now))):
            if session is None:
                raise MgmtError(MgmtErr.EACCESSDENIED, "pair and open a session first"
                                if route.access is Access.SESSION or self.update_open is None
                                else "open a session, or open the update mode at the unit "
                                     "(Mise à jour)")
            raise mac.MacError("link.no_mac", "session request without a MAC")
        ctx = Context(now, session if sealed.key else None)
        result = route.handler(request, ctx)
        events.extend(ctx.events)
        return result


class _ReplySeal:
    """Set by dispatch once a request's MAC verified: the reply is sealed with these."""

    key: bytes = b""
    counter: int = 0


def _log_code(refusal: GroupError | MgmtError) -> str:
    if isinstance(refusal, GroupError):
        return f"smp.group{refusal.group}.rc{refusal.rc}"
    return f"smp.{refusal.rc.name.lower()}"
