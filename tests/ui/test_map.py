"""The screen map is whole: every move leads to a known screen, every screen
can be reached, every outcome a scene reports has a move."""

from __future__ import annotations

import ast
from pathlib import Path

from firmware.ui.screen_map import MAP, SCENES

UI = Path(__file__).resolve().parents[2] / "firmware" / "ui"


def test_every_move_leads_to_a_known_screen():
    for (screen, outcome), move in MAP.items():
        assert screen == "*" or screen in SCENES, (screen, outcome)
        for name in (*move.target, *move.then):
            assert name in SCENES, (screen, outcome, name)


def test_every_screen_is_reached_by_some_move():
    reached = {"start"} | {n for m in MAP.values() for n in (*m.target, *m.then)}
    assert reached == set(SCENES)


def returned_outcomes() -> set[str]:
    """Outcome names the scenes return as string literals (``return "x"``)."""
    out = set()
    for name in ("scenes_session.py", "scenes_visit.py", "problems.py"):
        tree = ast.parse((UI / name).read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant) \
                    and isinstance(node.value.value, str) and node.value.value:
                out.add(node.value.value)
    return out


def test_every_outcome_a_scene_returns_has_a_move():
    outcomes = {o for _, o in MAP}
    assert returned_outcomes() - outcomes == set()
    assert {"locked", "failed", "pairing"} <= {o for s, o in MAP if s == "*"}

