"""Golden screens (docs/screens/*.png, pixel for pixel) and the font's coverage
of every French string the UI can show."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from PIL import Image

from firmware.ui.render import NOT_A_CHAR, fonts, missing_glyphs

from . import driver
from .screens import SCREENS, shoot

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


@pytest.fixture(scope="module")
def shots(tmp_path_factory, pki):
    return shoot(tmp_path_factory.mktemp("screens"), pki)


def test_every_golden_screen_is_rendered(shots):
    assert sorted(p.stem for p in SCREENS.glob("*.png")) == sorted(shots)
    assert len(shots) >= 25


@pytest.mark.parametrize("name", sorted(p.stem for p in SCREENS.glob("*.png")))
def test_screen_matches_its_golden_image(shots, name, tmp_path):
    golden = Image.open(SCREENS / f"{name}.png")
    image = shots[name]
    assert (golden.mode, golden.size) == ("1", (128, 64))
    if image.tobytes() != golden.tobytes():
        image.save(tmp_path / f"{name}.png")
        pytest.fail(f"{name} differs from docs/screens/{name}.png (new one: {tmp_path}); "
                    "after a deliberate change run `make screens`")


def shown_literals() -> set[str]:
    """Every non-ASCII string literal of the firmware outside docstrings: the
    French texts (message_fr, the checks' issues, the screens' own words)."""
    out = set()
    for path in FIRMWARE.rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef))
                      and n.body and isinstance(n.body[0], ast.Expr)
                      and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in docstrings and not node.value.isascii() \
                    and node.value != NOT_A_CHAR:
                out.add(node.value)
    return out


def test_the_firmware_strings_include_the_accented_messages():
    found = shown_literals()
    assert {"Heure non réglée", "Droits fermés à la date", "Insérer la CPS",
            "Réinsérer la carte, puis Valider", "Mode dégradé ?"} <= found


def test_every_glyph_of_every_french_string_is_in_the_fonts(shots):
    texts = shown_literals() | driver.SEEN
    assert any("€" in t for t in driver.SEEN) and any("É" in t or "À" in t for t in texts)
    alphabet = "".join(texts) + "éèàçêôîùÉÈÀÇÊÔÎÙ€"
    for face in fonts():
        assert missing_glyphs(alphabet, face) == set(), face.getname()


def test_the_coverage_check_finds_a_missing_glyph():
    body = fonts()[0]
    assert missing_glyphs("Aé€\u4e00\u0e01", body) == {"\u4e00", "\u0e01"}


def test_21_characters_fit_the_body_and_15_the_large_face():
    body, _, big = fonts()
    assert body.getlength("é" * 21) <= 128 < body.getlength("é" * 22)
    assert big.getlength("0" * 15) <= 128 < big.getlength("0" * 16)


def test_every_screen_line_fits_the_width():
    from firmware.ui.render import font

    body = font()
    too_long = [line for text in driver.SEEN for line in text.splitlines()
                if body.getlength(line.removeprefix("> ")) > 128]
    assert too_long == []


@pytest.mark.parametrize(("before", "after", "kept"), [
    ("detail", "insert_vitale", [(0, 10, 128, 23)]),  # the patient, the title
    ("insert_vitale", "vitale_reading", [(0, 10, 128, 23)]),  # reading: the words change
    ("beneficiaries", "beneficiary_checking", [(0, 23, 128, 64)]),  # checks: the list stays
    ("recap", "signing", [(0, 10, 128, 39)]),  # signing: the patient and the total stay
    # signed: the patient, "À régler" (the recap's "more below" mark aside)
    ("recap", "signed", [(0, 10, 128, 23), (0, 51, 120, 64)]),
])
def test_a_step_of_the_visit_keeps_the_rows_that_do_not_change(shots, before, after, kept):
    """Screens of one task share their layout (docs/ui.md): a step redraws only
    what it changes, on the screen and on the I2C bus."""
    a, b = shots[before], shots[after]
    for box in kept:
        assert a.crop(box).tobytes() == b.crop(box).tobytes(), box
    assert a.crop((0, 10, 128, 64)).tobytes() != b.crop((0, 10, 128, 64)).tobytes()
