"""docs/ui.md says what the code does: the screen map, the error hints, the
screens, the battery threshold."""

from __future__ import annotations

from pathlib import Path

from firmware.ui.machine import BATTERY_MIN_TO_SIGN, BATTERY_WARN
from firmware.ui.problems import HINTS
from firmware.ui.screen_map import MAP, SCENES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "ui.md").read_text("utf-8")


def test_the_screen_map_table_is_the_codes():
    rows = {line for line in DOC.splitlines() if line.startswith("| `")}
    for (screen, outcome), move in MAP.items():
        assert f"| `{screen}` | `{outcome}` | `{move}` |" in rows
    documented = [line for line in rows if line.count("`") == 6 and "move" not in line
                  and line.split("|")[3].strip().startswith("`") and "(" in line.split("|")[3]]
    assert len(documented) == len(MAP)


def test_every_screen_is_described():
    for name in SCENES:
        assert f"\n| `{name}` | " in DOC, name


def test_every_error_hint_is_documented():
    for code, (hint, lead) in HINTS.items():
        assert f"| `{code}` | {hint} | `{lead}` |" in DOC


def test_the_battery_thresholds():
    assert f"below **{BATTERY_MIN_TO_SIGN} %**" in DOC and f"From {BATTERY_WARN} %" in DOC
