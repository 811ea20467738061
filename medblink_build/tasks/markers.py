"""Lettered markers drawn into images, and seeded placement that keeps them clear of each other.

A marker is a filled disc in a fixed colour per letter, with a dark outline for contrast on any
background and its letter in the middle. Discs are drawn at SUPERSAMPLE x resolution and
box-filtered down (anti-aliasing) with Pillow, then alpha-composited; the letter uses Pillow's
bundled FreeType font, so the drawing is byte-stable for a given Pillow version.
Drawing is the registered transform `draw_markers`, so provenance replays it like any other.

Recipes whose choices are marker letters do not draw them: they give the markers with provisional
letters (`bound_markers`) and the writer draws them with the letters its balanced plan gives
(medblink_build/output/lettering.py). Letters in a derivation are written as `slot(letter)` placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import MedblinkError
from ..questions import Bound
from ..transforms import Transform, register

SUPERSAMPLE = 4
#: Colour of each marker letter (RGB); chosen to stay distinct for common colour-vision deficiencies.
MARKER_COLOURS: dict[str, tuple[int, int, int]] = {
    "A": (230, 25, 75),
    "B": (0, 130, 200),
    "C": (255, 225, 25),
    "D": (60, 180, 75),
}
OUTLINE = (0, 0, 0)
TEXT = (255, 255, 255)
#: Marker radius as a fraction of the shorter image side (at least MIN_RADIUS pixels).
RADIUS_FRACTION = 0.04
MIN_RADIUS = 9


@dataclass(frozen=True)
class Marker:
    x: float  # column of the centre, pixels
    y: float  # row of the centre, pixels
    letter: str

    def to_json(self) -> dict[str, Any]:
        return {"x": round(float(self.x), 2), "y": round(float(self.y), 2), "letter": self.letter}


def marker_radius(shape: Sequence[int]) -> int:
    return max(MIN_RADIUS, round(RADIUS_FRACTION * min(shape[0], shape[1])))


def _sprite(letter: str, radius: int) -> Image.Image:
    size = (2 * radius + 3) * SUPERSAMPLE
    sprite = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(sprite)
    c = size / 2
    r = radius * SUPERSAMPLE
    outline = max(1, round(radius * 0.18)) * SUPERSAMPLE
    draw.ellipse((c - r, c - r, c + r, c + r), fill=(*OUTLINE, 255))
    inner = r - outline
    draw.ellipse((c - inner, c - inner, c + inner, c + inner), fill=(*MARKER_COLOURS[letter], 255))
    font = ImageFont.load_default(size=max(8, round(radius * 1.3)) * SUPERSAMPLE)
    draw.text(
        (c, c),
        letter,
        fill=(*TEXT, 255),
        font=font,
        anchor="mm",
        stroke_width=outline // 2,
        stroke_fill=(*OUTLINE, 255),
    )
    return sprite.resize((size // SUPERSAMPLE, size // SUPERSAMPLE), Image.Resampling.BOX)


def _apply_draw_markers(pixels: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    if pixels.dtype != np.uint8:
        raise MedblinkError(f"markers are drawn on uint8 display images, got {pixels.dtype}")
    radius = int(params["radius"])
    canvas = Image.fromarray(pixels).convert("RGBA")
    for m in params["markers"]:
        letter = m["letter"]
        if letter not in MARKER_COLOURS:
            raise MedblinkError(f"marker letter {letter!r} not one of {', '.join(MARKER_COLOURS)}")
        sprite = _sprite(letter, radius)
        half = sprite.size[0] // 2
        canvas.alpha_composite(sprite, (round(m["x"]) - half, round(m["y"]) - half))
    return np.asarray(canvas.convert("RGB"))


register("draw_markers", _apply_draw_markers)


def draw_markers(markers: Sequence[Marker], radius: int) -> Transform:
    return Transform("draw_markers", {"radius": int(radius), "markers": [m.to_json() for m in markers]})


#: Label keys whose values name markers, and label lists with one entry per marker (re-lettered by the writer).
MARKER_LABEL_KEYS = ("letter", "answer_marker", "near_to_far", "shallow_to_deep")
MARKER_LIST_KEYS = ("markers",)


def bound_markers(markers: Sequence[Marker], radius: int, image: int = 0) -> Bound:
    """The `Question.bound` of a question whose choices are these markers' letters, in letter order.

    The markers' letters are provisional slot names (A, B, ... in order); the label names them
    under MARKER_LABEL_KEYS and lists them (in letter order) under MARKER_LIST_KEYS.
    """
    letters = [m.letter for m in markers]
    if letters != list(MARKER_COLOURS)[: len(markers)]:
        raise MedblinkError(f"bound markers must be lettered A, B, ... in order, got {letters}")
    return Bound(
        "markers",
        MARKER_LABEL_KEYS,
        MARKER_LIST_KEYS,
        image=image,
        radius=int(radius),
        positions=tuple((float(m.x), float(m.y)) for m in markers),
    )


def slot(letter: str) -> str:
    """A marker letter in a derivation, as a placeholder the writer replaces with the final letter."""
    return "{" + letter + "}"


def fits(points: np.ndarray, radius: int, shape: Sequence[int], min_separation: float) -> bool:
    """True when every disc lies inside the image and centres are at least `min_separation` apart."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    margin = radius + 2
    h, w = shape[0], shape[1]
    if (pts[:, 0] < margin).any() or (pts[:, 0] > w - 1 - margin).any():
        return False
    if (pts[:, 1] < margin).any() or (pts[:, 1] > h - 1 - margin).any():
        return False
    d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return bool((d >= min_separation).all())


def sample_positions(
    rng: np.random.Generator,
    allowed: np.ndarray,
    count: int,
    radius: int,
    min_separation: float,
    tries: int = 200,
) -> np.ndarray | None:
    """`count` (x, y) centres drawn from the True pixels of `allowed`, clear of the border and of
    each other; None when `tries` draws found no such set. `allowed` should already exclude pixels
    near edges the task cares about (e.g. depth edges or class boundaries)."""
    ys, xs = np.nonzero(allowed)
    if len(xs) < count:
        return None
    for _ in range(tries):
        pick = rng.choice(len(xs), size=count, replace=False)
        pts = np.stack([xs[pick], ys[pick]], axis=1).astype(np.float64)
        if fits(pts, radius, allowed.shape, min_separation):
            return pts
    return None
