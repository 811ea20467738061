"""Recovering drawn markers from a published image, by comparing it with the re-rendered item.

The candidate image is the item rendered with the release seed's markers, so outside those
markers it *is* the unmarked base. A published marker is then where the published image has a
marker's colour (`markers.MARKER_COLOURS`, one per letter) and differs from the rendering; a
published marker that sits exactly where the rendering has the same letter shows no difference,
and is kept where the rendering has it when the published image has that colour there. The
centre is the centroid of the marker-coloured component holding most such pixels (the disc's coloured ring
around the letter), in the rendering's pixel coordinates.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from ..tasks.markers import MARKER_COLOURS, marker_radius
from ..transforms import Transform, apply

#: A pixel has a marker's colour when within this RGB distance of it (JPEG shifts colours a little).
COLOUR_DISTANCE = 70.0
#: ... and counts as drawn when it differs from the rendering by at least this much.
DRAWN_DIFFERENCE = 60.0
#: A marker's coloured component covers at least this share of its inner disc.
MIN_COVER = 0.25


def recover_markers(
    published: Image.Image, rendered: Image.Image, drawn: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """Markers `[{x, y, letter}]` (letters A.. in order) seen in `published`, or None when they do
    not form a complete lettered set."""
    w, h = rendered.size
    ours = np.asarray(rendered.convert("RGB"), np.float32)
    pub = np.asarray(published.convert("RGB").resize((w, h), Image.Resampling.BILINEAR), np.float32)
    radius = marker_radius((h, w))
    inner = np.pi * (0.8 * radius) ** 2
    drawn_at = {m["letter"]: (int(m["x"]), int(m["y"])) for m in drawn}
    differs = np.sqrt(((pub - ours) ** 2).sum(axis=2)) >= DRAWN_DIFFERENCE
    found: list[dict[str, Any]] = []
    for letter, colour in MARKER_COLOURS.items():
        near = np.sqrt(((pub - np.array(colour, np.float32)) ** 2).sum(axis=2)) <= COLOUR_DISTANCE
        labels, count = ndimage.label(near)
        if count:
            drawn_px = ndimage.sum(differs, labels, index=range(1, count + 1))
            best = int(np.argmax(drawn_px)) + 1
            if drawn_px[best - 1] >= MIN_COVER * inner:
                cy, cx = ndimage.center_of_mass(ndimage.binary_fill_holes(labels == best))  # the letter's holes
                dx, dy = _sprite_offset(letter, radius)
                found.append({"letter": letter, "x": round(float(cx) - dx), "y": round(float(cy) - dy)})
                continue
        if letter in drawn_at:  # unchanged from the rendering?
            x, y = drawn_at[letter]
            window = near[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1]
            if window.sum() >= MIN_COVER * inner:
                found.append({"letter": letter, "x": x, "y": y})
                continue
        break  # letters are consecutive: the first one missing ends the set
    if len(found) < 2:
        return None
    return found


@functools.cache
def _sprite_offset(letter: str, radius: int) -> tuple[float, float]:
    """Where the detection above puts the centre of a marker drawn at a known centre, minus that
    centre: the letter glyph and the sprite's pixel grid make it a pixel or two off."""
    size = 4 * radius + 9
    centre = size // 2
    canvas = np.full((size, size, 3), 128, np.uint8)
    params = {"radius": radius, "markers": [{"x": centre, "y": centre, "letter": letter}]}
    drawn = apply(Transform("draw_markers", params), canvas).astype(np.float32)
    near = np.sqrt(((drawn - np.array(MARKER_COLOURS[letter], np.float32)) ** 2).sum(axis=2)) <= COLOUR_DISTANCE
    labels, count = ndimage.label(near)
    sizes = ndimage.sum(near, labels, index=range(1, count + 1))
    cy, cx = ndimage.center_of_mass(ndimage.binary_fill_holes(labels == int(np.argmax(sizes)) + 1))
    return float(cx) - centre, float(cy) - centre
