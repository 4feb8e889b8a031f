"""The screens' glyphs are rasterized once, a few per idle round of the unit's main loop
after it starts serving (docs/ui.md §Font): the boot does not wait for all of them, and
a while later every character the screens use is a cached bitmap."""

from __future__ import annotations

from board.config import BoardConfig
from board.sim.parts import build as build_sim
from firmware.app import UnitApp
from firmware.ui import host, render


def test_the_glyphs_are_warmed_in_idle_rounds_after_the_start(tmp_path):
    everything = 3 * len(set(render.CHARSET))  # three faces
    render._glyph.cache_clear()
    board = build_sim(BoardConfig(board="sim", state_dir=str(tmp_path)))
    try:
        app = UnitApp(board, tmp_path)
        at_start = render._glyph.cache_info().currsize
        assert 0 < at_start < everything // 2  # the first screen's characters only
        app.step(0)
        assert render._glyph.cache_info().currsize <= at_start + host.WARM_GLYPHS_PER_ROUND
        for _ in range(everything // host.WARM_GLYPHS_PER_ROUND + 1):
            app.step(0)
        assert render._glyph.cache_info().currsize == everything
        first_screen = render.render(app.ui.ui.status, app.ui.ui.view())
        assert render._glyph.cache_info().misses == everything  # no glyph drawn twice
        assert first_screen.size == (128, 64)
    finally:
        board.close()
