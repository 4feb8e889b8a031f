"""Group 85: the unit's timing traces for the office (``docs/protocol.md`` §10).

- READ (cmd 0, read) ``{"after": trace_id}`` -> ``{"traces": [[id, at, operation,
  duration_s, outcome]], "more": bool}``: traces hold only codes and durations (the
  store refuses anything else), so a session is enough; the unit need not be unlocked.
  The office asks again with the last id it got while ``more`` is true.

What the link itself records (DESIGN.md §4.7, operation names in docs/protocol.md §10),
through a :class:`TraceSink` (the :class:`~firmware.unit.Unit`), never inside the
sans-I/O server:

- :class:`TracedGroup` wraps a data group: each request handled is one trace
  ``link.<group>.<command>`` (``link.load.batch``, ``link.fse.pull`` ...), outcome
  ``ok`` or the refusal (``group82.rc5``, ``einval``);
- :class:`LinkTracer` watches the server's events: ``link.pairing`` (code shown ->
  ``ok`` when paired, else rejected / expired / failed), ``link.session`` (opened ->
  ``ok`` when the host ended it, else idle / reset / replaced) and ``link.error`` (a
  refused or dropped frame, duration 0, outcome its code; "pairing pending" answers to
  the host's polls are not errors).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Protocol

import cbor2

from .chunks import int_field, response_room
from .dispatch import CommandGroup, Context, Handler, Route
from .events import Action, LinkError, PairingEnded, PairingRequested, SessionClosed, SessionOpened
from .header import GroupError, MgmtError, Op, Request
from .pairing import SecurityErr

GROUP_TRACES = 85


class TracesGroup:
    group_id = GROUP_TRACES

    def __init__(self, store: Any, buf_size: int) -> None:
        self.store = store
        self.room = response_room(buf_size)

    def routes(self) -> Iterable[Route]:
        return [Route(0, Op.READ, self.read)]

    def read(self, request: Request, ctx: Context) -> dict[str, Any]:
        after = int_field(request.body, "after", default=0, high=2**63 - 1)
        out: list[list[Any]] = []
        used = 0
        traces = self.store.traces(after)
        for trace in traces:
            row = [trace.trace_id, trace.at, trace.operation, trace.duration_s, trace.outcome]
            size = len(cbor2.dumps(row))
            if used + size > self.room:
                break
            out.append(row)
            used += size
        return {"traces": out, "more": len(out) < len(traces)}


class TraceSink(Protocol):
    """Where traces go: :class:`firmware.unit.Unit` (``trace`` never raises)."""

    def monotonic(self) -> float: ...

    def trace(self, operation: str, started: float, outcome: str) -> None: ...


def refusal_code(exc: BaseException) -> str:
    """The trace outcome of a handler's refusal: ``group82.rc5``, ``einval``, ``internal``."""
    if isinstance(exc, GroupError):
        return f"group{exc.group}.rc{exc.rc}"
    if isinstance(exc, MgmtError):
        return exc.rc.name.lower()
    return "internal"


class TracedGroup:
    """``inner`` with every handler timed as ``link.<name>.<handler name>``."""

    def __init__(self, inner: CommandGroup, name: str, sink: TraceSink) -> None:
        self.group_id = inner.group_id
        self.inner = inner
        self.name = name
        self.sink = sink

    def routes(self) -> Iterable[Route]:
        return [dataclasses.replace(r, handler=self._timed(
            f"link.{self.name}.{getattr(r.handler, '__name__', r.command)}", r.handler))
            for r in self.inner.routes()]

    def _timed(self, operation: str, handler: Handler) -> Handler:
        def run(request: Request, ctx: Context) -> dict[str, Any]:
            started = self.sink.monotonic()
            try:
                result = handler(request, ctx)
            except Exception as exc:
                self.sink.trace(operation, started, refusal_code(exc))
                raise
            self.sink.trace(operation, started, "ok")
            return result

        return run


# data group id -> name in the trace operations (group 85 itself is not traced:
# reading the traces would keep adding to them)
TRACED_GROUPS = {82: "load", 83: "vitale_reads", 84: "fse"}


def traced_groups(groups: Iterable[CommandGroup], sink: TraceSink) -> list[CommandGroup]:
    """The data groups with those of :data:`TRACED_GROUPS` wrapped in :class:`TracedGroup`."""
    return [TracedGroup(g, TRACED_GROUPS[g.group_id], sink) if g.group_id in TRACED_GROUPS
            else g for g in groups]


# refusals that are part of a normal exchange: "pairing pending" answers the host's
# polls while the professional compares the code (docs/protocol.md, group 80 rc 1)
NOT_ERRORS = frozenset({f"smp.group80.rc{int(SecurityErr.PAIRING_PENDING)}"})


class LinkTracer:
    """Feed it every event the server hands out (:meth:`observe`)."""

    def __init__(self, sink: TraceSink) -> None:
        self.sink = sink
        self._pairing: float | None = None
        self._session: float | None = None

    def observe(self, action: Action) -> None:
        now = self.sink.monotonic()
        if isinstance(action, PairingRequested):
            self._pairing = now
        elif isinstance(action, PairingEnded):
            started = now if self._pairing is None else self._pairing
            self._pairing = None
            self.sink.trace("link.pairing", started,
                            "ok" if action.reason == "paired" else action.reason)
        elif isinstance(action, SessionOpened):
            if self._session is not None:  # replaced by a new session
                self.sink.trace("link.session", self._session, "replaced")
            self._session = now
        elif isinstance(action, SessionClosed):
            started = now if self._session is None else self._session
            self._session = None
            self.sink.trace("link.session", started,
                            "ok" if action.reason == "ended" else action.reason)
        elif isinstance(action, LinkError) and action.code not in NOT_ERRORS:
            self.sink.trace("link.error", now, action.code)
