"""Shared readers for the docs-follow-the-code tests (tests/docs/)."""

from __future__ import annotations

import re
from pathlib import Path

from firmware.office_link.data_groups import data_groups
from firmware.office_link.group_fse import DeviceIdentity
from firmware.office_link.group_traces import TRACED_GROUPS, traced_groups

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
README = ROOT / "README.md"
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")


def doc_text(name: str) -> str:
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


def hex_bytes(text: str) -> bytes:
    """The bytes of a run of hex tokens ("a4 01 27 04 48 544c412d30303031")."""
    tokens = re.findall(r"(?<![\w'\"])(?:[0-9a-fA-F]{2})+(?![\w'\"])", text)
    return bytes.fromhex("".join(tokens))


def table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]


def trace_operations() -> set[str]:
    ops: set[str] = set()
    for folder in ("firmware/visit", "firmware/unit", "firmware/office_link"):
        for path in (ROOT / folder).glob("*.py"):
            text = path.read_text(encoding="utf-8")
            ops |= set(re.findall(r'(?:trace|timed)\(\s*"([a-z0-9_.]+)"', text))
            if 'f"card.{slot}.sign"' in text:
                ops |= {"card.cps.sign", "card.vitale.sign"}

    class Sink:
        def monotonic(self):
            return 0.0

        def trace(self, *args):
            pass

    wrapped = traced_groups(data_groups(None, DeviceIdentity("U", bytes(32)), 2048), Sink())
    for group in wrapped:
        if group.group_id in TRACED_GROUPS:
            ops |= {f"link.{group.name}.{getattr(r.handler, '__name__', r.command)}"
                    for r in group.inner.routes()}
    return ops
