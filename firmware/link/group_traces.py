"""Group 85: the unit's timing traces for the office (``docs/protocol.md`` §8).

- READ (cmd 0, read) ``{"after": trace_id}`` -> ``{"traces": [[id, at, operation,
  duration_s, outcome]], "more": bool}``: traces hold only codes and durations (the
  store refuses anything else), so a session is enough; the unit need not be unlocked.
  The office asks again with the last id it got while ``more`` is true.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cbor2

from .chunks import int_field, response_room
from .dispatch import Context, Route
from .header import Op, Request

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
