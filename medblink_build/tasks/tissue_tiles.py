"""Where on an annotated slide a tile can show two tissue classes, and where their markers go.

`screen_tiles` pre-screens a grid of tile origins on the low-resolution tissue overview (classes
eroded by the boundary distance, summed tables for O(1) per tile); `place_class_markers` then
places one marker per class at full tile resolution where the Euclidean distance transform of
the class is at least `min_boundary_px` and the marker disc lies on tissue. Both draw only from
the generator they are given, so a recipe's choices stay seeded.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np

from ..errors import RecipeError, SkipItem
from ..readers.annotations import Annotation
from ..readers.wsi import Slide, plan_region
from .markers import fits, sample_positions


def screen_tiles(
    annotation: Annotation,
    tissue: Any,
    asked: dict[int, str],
    size: tuple[int, int],
    extent: tuple[float, float],
    level0_per_tile_px: float,
    min_boundary_px: int,
    marker_radius: int,
) -> tuple[list[tuple[int, int]], list[str]]:
    """Level-0 origins of grid tiles whose overview shows two asked classes with clean interior,
    and the names of the classes present on the overview."""
    from scipy import ndimage
    from skimage.morphology import disk

    mask = tissue.mask
    d = tissue.downsample
    oh, ow = mask.shape
    labels = annotation.sample((0.0, 0.0, ow * d, oh * d), (oh, ow))
    present = sorted(annotation.classes[int(c)] for c in np.unique(labels) if int(c) in annotation.classes)
    # Relaxed (0.75) on the coarse overview; the exact test is made at tile resolution.
    need = 0.75 * min_boundary_px * level0_per_tile_px / d
    inset = (marker_radius + 2) * level0_per_tile_px / d
    sums = {}
    radius = max(0, math.floor(need))
    structure = disk(radius) if radius else None
    for code in asked:
        inside = labels == code
        if not inside.any():
            continue
        # erosion by a disc = "distance to another class >= radius", in one byte per pixel
        clean = ndimage.binary_erosion(inside, structure, border_value=1) if radius else inside
        clean &= mask
        if clean.any():
            sums[code] = np.pad(clean.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    if len(sums) < 2:
        return [], present
    w0, h0 = size
    ew, eh = extent
    stride_x, stride_y = ew / 4, eh / 4
    xs = sorted({round(min(i * stride_x, w0 - ew)) for i in range(int((w0 - ew) // stride_x) + 2)})
    ys = sorted({round(min(j * stride_y, h0 - eh)) for j in range(int((h0 - eh) // stride_y) + 2)})
    origins = []
    for y0 in ys:
        r0 = max(0, min(oh, math.ceil((y0) / d + inset)))
        r1 = max(0, min(oh, math.floor((y0 + eh) / d - inset)))
        if r1 <= r0:
            continue
        for x0 in xs:
            c0 = max(0, min(ow, math.ceil(x0 / d + inset)))
            c1 = max(0, min(ow, math.floor((x0 + ew) / d - inset)))
            if c1 <= c0:
                continue
            hits = sum(1 for s in sums.values() if s[r1, c1] - s[r0, c1] - s[r1, c0] + s[r0, c0] > 0)
            if hits >= 2:
                origins.append((max(0, x0), max(0, y0)))
    return origins, present


def class_marker_areas(
    annotation: Annotation,
    tissue: Any,
    asked: dict[int, str],
    box: tuple[int, int, int, int],
    shape: tuple[int, int],
    min_boundary_px: int,
    marker_radius: int,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per asked class in the tile (level-0 `box` shown at `shape`): where a marker centre may sit
    (at least `min_boundary_px` from any other class, its disc on tissue) and the boundary distance."""
    from scipy import ndimage

    th, tw = shape
    x0, y0, x1, y1 = box
    sx, sy = (x1 - x0) / tw, (y1 - y0) / th
    pad = min_boundary_px + 1
    padded_box = (x0 - pad * sx, y0 - pad * sy, x1 + pad * sx, y1 + pad * sy)
    labels = annotation.sample(padded_box, (th + 2 * pad, tw + 2 * pad))
    on_tissue = tissue.sample(box, shape)
    tissue_ok = ndimage.distance_transform_edt(np.pad(on_tissue, 1))[1:-1, 1:-1] >= marker_radius
    allowed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for code in sorted(asked):
        inside = labels == code
        if not inside[pad:-pad, pad:-pad].any():
            continue
        dist = ndimage.distance_transform_edt(inside)[pad:-pad, pad:-pad]
        ok = (dist >= min_boundary_px) & tissue_ok
        if ok.any():
            allowed[code] = (ok, dist)
    return allowed


def place_class_markers(
    rng: np.random.Generator,
    annotation: Annotation,
    tissue: Any,
    asked: dict[int, str],
    box: tuple[int, int, int, int],
    shape: tuple[int, int],
    min_boundary_px: int,
    marker_radius: int,
    min_separation_px: float,
) -> tuple[tuple[int, np.ndarray, float], tuple[int, np.ndarray, float]] | None:
    """Two (class code, (x, y), boundary distance) placements in the tile, or None."""
    allowed = class_marker_areas(annotation, tissue, asked, box, shape, min_boundary_px, marker_radius)
    if len(allowed) < 2:
        return None
    pairs = list(combinations(sorted(allowed), 2))
    a, b = pairs[int(rng.integers(len(pairs)))]
    for _ in range(20):
        pa = sample_positions(rng, allowed[a][0], 1, marker_radius, 0.0)
        pb = sample_positions(rng, allowed[b][0], 1, marker_radius, 0.0)
        if pa is None or pb is None:
            return None
        pts = np.concatenate([pa, pb])
        if fits(pts, marker_radius, shape, min_separation_px):
            pa_i, pb_i = pa[0].astype(int), pb[0].astype(int)
            return (
                (a, pa_i, float(allowed[a][1][pa_i[1], pa_i[0]])),
                (b, pb_i, float(allowed[b][1][pb_i[1], pb_i[0]])),
            )
    return None


def draw_tile_markers(
    rng: np.random.Generator,
    slide: Slide,
    annotation: Annotation,
    tissue: Any,
    asked: dict[int, str],
    origins: list[tuple[int, int]],
    tile: tuple[int, int],
    tile_mpp: float,
    max_tries: int,
    min_boundary_px: int,
    marker_radius: int,
    min_separation_px: float,
) -> tuple[int, int, Any, tuple[int, np.ndarray, float], tuple[int, np.ndarray, float]] | None:
    """Up to `max_tries` screened tiles in a seeded order until one holds two class markers; then
    which of the two is asked (seeded). (x0, y0, plan, asked marker, other marker), or None."""
    tw, th = tile
    order = rng.permutation(len(origins))[:max_tries] if origins else []
    for k in order:
        x0, y0 = origins[int(k)]
        plan = plan_region(slide, x0, y0, tw, th, tile_mpp)
        found = place_class_markers(
            rng, annotation, tissue, asked, plan.box_level0, (th, tw), min_boundary_px, marker_radius, min_separation_px
        )
        if found is not None:
            first, second = found
            asked_first = int(rng.integers(2)) == 0
            target, other = (first, second) if asked_first else (second, first)
            return x0, y0, plan, target, other
    return None


#: The parameters a release pins together for one tile: its origin, the two markers, the asked class.
PINNED_PLACEMENT = ("tile_origin", "markers", "asked")


def pinned_class_markers(
    pin: dict[str, Any],
    slide: Slide,
    annotation: Annotation,
    tissue: Any,
    asked: dict[int, str],
    tile: tuple[int, int],
    tile_mpp: float,
    min_boundary_px: int,
    marker_radius: int,
    min_separation_px: float,
) -> tuple[int, int, Any, tuple[int, np.ndarray, float], tuple[int, np.ndarray, float], int]:
    """The pinned tile origin, markers and asked class, checked like drawn ones: each marker
    well inside one asked class on tissue, exactly one of them in the asked class."""
    if set(PINNED_PLACEMENT) - set(pin):
        raise RecipeError(
            f"pin {', '.join(PINNED_PLACEMENT)} together (got {', '.join(sorted(set(PINNED_PLACEMENT) & set(pin)))})"
        )
    (tw, th), (x0, y0) = tile, (int(v) for v in pin["tile_origin"])
    plan = plan_region(slide, x0, y0, tw, th, tile_mpp)
    allowed = class_marker_areas(annotation, tissue, asked, plan.box_level0, (th, tw), min_boundary_px, marker_radius)
    marks = sorted(pin["markers"], key=lambda m: m["letter"])
    pts = np.array([[int(m["x"]), int(m["y"])] for m in marks])
    if [m["letter"] for m in marks] != ["A", "B"]:
        raise RecipeError(f"pinned marker letters {[m['letter'] for m in marks]} are not A and B")
    if not fits(pts, marker_radius, (th, tw), min_separation_px):
        raise SkipItem("pinned_markers_do_not_fit", "pinned markers overlap each other or the tile border")
    placed = []
    for (x, y), m in zip(pts, marks, strict=True):
        code = next((c for c, (ok, _) in allowed.items() if ok[y, x]), None)
        if code is None:
            raise SkipItem("pinned_marker_unclear", f"marker {m['letter']} is not well inside one asked class")
        placed.append((code, np.array([x, y]), float(allowed[code][1][y, x])))
    hits = [i for i, (code, _, _) in enumerate(placed) if annotation.classes[code] == pin["asked"]]
    if len(hits) != 1:
        raise SkipItem("pinned_question_unclear", f"{len(hits)} pinned markers lie in {pin['asked']!r}")
    return x0, y0, plan, placed[hits[0]], placed[1 - hits[0]], hits[0]
