"""Command groups every unit answers: OS (0), link security (80), unit (81).

The image group (1) is ``group_image.py``, added by the unit composition (docs/update.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from .dispatch import Access, Context, Route
from .events import ClockSet, ResetRequested
from .header import GroupError, MgmtErr, MgmtError, Op, Request
from .pairing import GROUP_SECURITY, LinkSecurity, SecurityCommand
from .services import UnitServices

GROUP_OS = 0
GROUP_UNIT = 81


class OsCommand(IntEnum):
    ECHO = 0
    DATETIME = 4
    RESET = 5
    PARAMS = 6


class OsErr(IntEnum):
    """Zephyr ``enum os_mgmt_err_code_t`` (the v2 ``err.rc`` of group 0)."""

    RTC_NOT_SET = 4
    RTC_COMMAND_FAILED = 5


class UnitCommand(IntEnum):
    INFO = 0


# Zephyr's os_mgmt date-time text, optionally with fraction and offset (ISO 8601).
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?")


def parse_datetime(text: object) -> datetime:
    """Parse the date-time write text; naive times are UTC. Raises MgmtError(EINVAL)."""
    if not isinstance(text, str) or not _DATETIME.fullmatch(text):
        raise MgmtError(MgmtErr.EINVAL, "datetime must look like 2026-01-31T14:05:00")
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MgmtError(MgmtErr.EINVAL, f"datetime: {exc}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if not 2000 <= value.year <= 2099:  # the DS3231 RTC counts 2000-2099
        raise MgmtError(MgmtErr.EINVAL, "datetime outside 2000-2099")
    return value


def format_datetime(value: datetime) -> str:
    """Zephyr's read format, ``%Y-%m-%dT%H:%M:%S``, in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class OsGroup:
    """Standard OS management group (Zephyr ``os_mgmt``): echo, date-time, reset, params."""

    group_id = GROUP_OS

    def __init__(self, services: UnitServices, buf_size: int, buf_count: int = 1) -> None:
        self.services = services
        self.buf_size = buf_size
        self.buf_count = buf_count

    def routes(self) -> Iterable[Route]:
        return [
            Route(OsCommand.ECHO, Op.WRITE, self.echo, Access.PUBLIC),
            Route(OsCommand.PARAMS, Op.READ, self.params, Access.PUBLIC),
            Route(OsCommand.DATETIME, Op.READ, self.datetime_read),
            Route(OsCommand.DATETIME, Op.WRITE, self.datetime_write),
            # also while the update mode is open: smpmgr's upgrade ends with a reset
            Route(OsCommand.RESET, Op.WRITE, self.reset, Access.UPDATE),
        ]

    def echo(self, request: Request, ctx: Context) -> dict[str, Any]:
        text = request.body.get("d")
        if not isinstance(text, str):
            raise MgmtError(MgmtErr.EINVAL, "'d' must be a text")
        return {"r": text}

    def params(self, request: Request, ctx: Context) -> dict[str, Any]:
        return {"buf_size": self.buf_size, "buf_count": self.buf_count}

    def datetime_read(self, request: Request, ctx: Context) -> dict[str, Any]:
        try:
            now = self.services.clock_now()
        except RuntimeError as exc:
            raise GroupError(GROUP_OS, OsErr.RTC_NOT_SET, MgmtErr.EBADSTATE, str(exc)) from None
        return {"datetime": format_datetime(now)}

    def datetime_write(self, request: Request, ctx: Context) -> dict[str, Any]:
        value = parse_datetime(request.body.get("datetime"))
        try:
            self.services.set_clock(value)
        except OSError as exc:
            raise GroupError(GROUP_OS, OsErr.RTC_COMMAND_FAILED, MgmtErr.EUNKNOWN, str(exc)) from None
        ctx.events.append(ClockSet(value))
        return {}

    def reset(self, request: Request, ctx: Context) -> dict[str, Any]:
        boot_mode = request.body.get("boot_mode", 0)
        if boot_mode != 0:
            raise MgmtError(MgmtErr.ENOTSUP, "only the normal boot mode exists")
        ctx.events.append(ResetRequested())
        return {}


class SecurityGroup:
    """Group 80: pairing and session authentication (all public: they open the door)."""

    group_id = GROUP_SECURITY

    def __init__(self, security: LinkSecurity) -> None:
        self.security = security

    def routes(self) -> Iterable[Route]:
        s = self.security

        def call(method):  # adapt LinkSecurity(body, now) to the handler signature
            return lambda request, ctx: method(request.body, ctx.now)

        return [
            Route(SecurityCommand.PAIR_BEGIN, Op.WRITE, call(s.pair_begin), Access.PUBLIC),
            Route(SecurityCommand.PAIR_FINISH, Op.WRITE, call(s.pair_finish), Access.PUBLIC),
            Route(SecurityCommand.SESSION_BEGIN, Op.WRITE, call(s.session_begin), Access.PUBLIC),
            Route(SecurityCommand.SESSION_AUTH, Op.WRITE, call(s.session_auth), Access.PUBLIC),
            Route(SecurityCommand.SESSION_END, Op.WRITE, call(s.session_end), Access.SESSION),
        ]


class UnitGroup:
    """Group 81: facts about the unit."""

    group_id = GROUP_UNIT

    def __init__(self, services: UnitServices) -> None:
        self.services = services

    def routes(self) -> Iterable[Route]:
        return [Route(UnitCommand.INFO, Op.READ, self.info)]

    def info(self, request: Request, ctx: Context) -> dict[str, Any]:
        info = self.services.unit_info()
        try:
            clock = format_datetime(self.services.clock_now())
        except RuntimeError:
            clock = ""  # never set: the office should set it
        body: dict[str, Any] = {
            "serial": info.serial,
            "fw": info.firmware,
            "seal": info.seal,
            "clock": clock,
            "store_used": info.storage_used,
            "store_total": info.storage_total,
            "locked": info.locked,
        }
        if info.battery_percent is not None:
            body["battery"] = info.battery_percent
        if info.board is not None:
            body["board"] = info.board
        return body
