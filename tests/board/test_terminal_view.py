"""The OLED frame as half-block text and the terminal's bytes as keypad keys
(board/sim/terminal_view.py, drawn by `tla-unit sim --interactive`)."""

from __future__ import annotations

from PIL import Image

from board.sim.terminal_view import decode_keys, half_blocks


def test_two_pixel_rows_make_one_line_of_half_blocks():
    image = Image.new("1", (4, 3), 0)
    for xy in [(0, 0), (1, 1), (2, 0), (2, 1), (3, 2)]:  # hand-placed lit pixels
        image.putpixel(xy, 1)
    # rows 0-1: top only, bottom only, both, none; row 2 (odd, alone): only x=3 lit
    assert half_blocks(image) == ["▀▄█ ", "   ▀"]


def test_a_128x64_frame_is_32_lines_of_128_cells():
    image = Image.new("1", (128, 64), 1)
    assert half_blocks(image) == ["█" * 128] * 32


def test_terminal_bytes_become_keys_and_card_actions():
    assert decode_keys(b"12\n") == ["1", "2", "valider"]
    assert decode_keys(b"\x1b[A\x1b[B") == ["up", "down"]
    assert decode_keys(b"\x1b") == ["annuler"]
    assert decode_keys(b"\x7fmvcq") == ["corriger", "menu", "card:vitale", "card:ps", "quit"]
    assert decode_keys(b"\x1b[Cx5") == ["5"]  # right arrow and unknown keys ignored
