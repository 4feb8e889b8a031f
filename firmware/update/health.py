"""The health check a new version passes before it is confirmed (docs/update.md §Health).

Run once, after a trial boot has served ``HEALTH_ROUNDS`` main-loop rounds (each round
polls the link and the keypad, looks at both card slots and refreshes the screen, so
a version that cannot do those has crashed before): the store passes SQLite's quick
check, both card slots answer, the display takes a frame, and the SMP server answers
an echo. Each failure is one line ``name: why``; any failure rolls the update back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import cbor2

from firmware.office_link.events import Send
from firmware.office_link.framing import FrameDecoder

log = logging.getLogger("opentla.update")

ECHO = bytes([0x0A, 0, 0, 10, 0, 0, 0xEE, 0]) + cbor2.dumps({"d": "health"})


def run_checks(checks: Mapping[str, Callable[[], Any]]) -> list[str]:
    """Run every check; a check fails by raising (anything: the new version is what
    is on trial) or by returning a non-empty list of problems."""
    problems: list[str] = []
    for name, check in checks.items():
        try:
            found = check()
        except Exception as exc:  # any failure of the new version counts against it
            log.exception("health_check_failed check=%s", name)
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if found:
            problems.append(f"{name}: {'; '.join(map(str, found))[:200]}")
    return problems


def store_check(store: Any) -> Callable[[], list[str]]:
    return lambda: store.quick_check()


def reader_check(reader: Any) -> Callable[[], None]:
    return lambda: (reader.card_present(), None)[1]


def link_check(server: Any, now: Callable[[], float]) -> Callable[[], list[str]]:
    """An echo through the SMP server (its reply framed as on the line)."""

    def check() -> list[str]:
        replies = [a for a in server.answer(ECHO, now()) if isinstance(a, Send)]
        frames = [f for r in replies for f in FrameDecoder().feed(r.data)]
        ok = any(getattr(f, "data", b"")[8:] == cbor2.dumps({"r": "health"}) for f in frames)
        return [] if ok else ["no echo answer"]

    return check
