"""The dispatch table: (group, command, op) -> handler and the access it needs.

A group is any object with a ``group_id`` and ``routes()``; the standard OS group,
the link-security group and the unit group are built this way, and the data groups
(load, unload, FSE, traces: ids 82-85, see ``docs/protocol.md``) plug in the same way::

    server = SMPServer(identity, trust, services, groups=[MyLoadGroup(store)])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from .header import Request
from .pairing import Session


class Access(Enum):
    PUBLIC = "public"  # answers an unpaired host (echo, params, pairing, session setup)
    SESSION = "session"  # needs an authenticated session
    UPDATE = "update"  # a session, or the update mode opened at the unit (docs/update.md §Access)


@dataclass
class Context:
    """What a handler may use besides the request."""

    now: float
    session: Session | None
    events: list = field(default_factory=list)  # emitted after the response is sent


Handler = Callable[[Request, Context], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    command: int
    op: int
    handler: Handler
    access: Access = Access.SESSION


class CommandGroup(Protocol):
    group_id: int

    def routes(self) -> Iterable[Route]: ...


class Dispatcher:
    def __init__(self) -> None:
        self._routes: dict[tuple[int, int, int], Route] = {}

    def add_group(self, group: CommandGroup) -> None:
        for route in group.routes():
            key = (group.group_id, route.command, route.op)
            if key in self._routes:
                raise ValueError(f"route {key} is already taken")
            self._routes[key] = route

    def lookup(self, key: tuple[int, int, int]) -> Route | None:
        return self._routes.get(key)
