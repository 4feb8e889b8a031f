"""The display twin's frames as an animated GIF (``tla-unit sim --record``,
``tla-unit demo``): Pillow writes it; a frame equal to the one before it is
merged into it, each distinct frame shown ``frame_ms``; ``scale`` enlarges the
128x64 pixels (nearest neighbour: the OLED's pixels stay square and sharp)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from board.sim.unit import SimUnitError

if TYPE_CHECKING:
    from PIL.Image import Image

GIF_FRAME_MS = 500  # each distinct frame shown this long


def write_gif(frames: list[Image], path: Path, frame_ms: int = GIF_FRAME_MS,
              scale: int = 1) -> int:
    """Write ``frames`` to ``path``; returns the GIF's frame count."""
    from PIL import Image as PilImage

    distinct = [f for i, f in enumerate(frames) if i == 0 or f.tobytes() != frames[i - 1].tobytes()]
    if not distinct:
        raise SimUnitError("the display has shown nothing: no GIF written")
    images = [f.convert("L") for f in distinct]
    if scale != 1:
        images = [f.resize((f.width * scale, f.height * scale), PilImage.Resampling.NEAREST)
                  for f in images]
    try:
        images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                       duration=frame_ms, loop=0, disposal=1)
    except OSError as exc:
        raise SimUnitError(f"cannot write {path}: {exc.strerror or exc}") from None
    return len(images)
