"""Where a marker's depth on a metric depth map is unambiguous: valid, smooth pixels under the whole
disc, and depths far enough apart between markers. Used by the visual-depth recipe; thresholds are
the recipe's and are passed in."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from ..readers.depth_map import DepthMap
from .depth_markers import resample_nearest


def depth_edges(depth: DepthMap, edge_jump: float) -> np.ndarray:
    """Pixels with a 4-neighbour whose depth differs by more than `edge_jump` of the nearer one."""
    d = np.where(depth.valid, depth.depth_mm, np.inf)
    edge = np.zeros(d.shape, bool)
    with np.errstate(invalid="ignore"):
        for a, b in ((d[:, 1:], d[:, :-1]), (d[1:], d[:-1])):
            jump = np.abs(a - b) > edge_jump * np.minimum(a, b)  # invalid pixels are caught separately
            if a.shape[0] == d.shape[0]:
                edge[:, 1:] |= jump
                edge[:, :-1] |= jump
            else:
                edge[1:] |= jump
                edge[:-1] |= jump
    return edge


def local_range(depth: DepthMap, radius: int, edge_jump: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min and max depth in the (2r+1) square around each pixel, and where that square is all valid
    and free of depth edges."""
    from scipy import ndimage

    size = 2 * radius + 1
    d = depth.depth_mm
    lo = ndimage.minimum_filter(np.where(depth.valid, d, np.inf), size=size, mode="constant", cval=np.inf)
    hi = ndimage.maximum_filter(np.where(depth.valid, d, -np.inf), size=size, mode="constant", cval=-np.inf)
    bad = (~depth.valid | depth_edges(depth, edge_jump)).astype(np.uint8)
    bad = ndimage.maximum_filter(bad, size=size, mode="constant", cval=1)
    return lo, hi, bad == 0


def disc_depth(depth: DepthMap, cx: int, cy: int, radius: int) -> tuple[float, float, float]:
    """Median, min and max depth under the disc of `radius` around source pixel (cx, cy)."""
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    inside = xx * xx + yy * yy <= radius * radius
    values = depth.depth_mm[cy + yy[inside], cx + xx[inside]]
    return float(np.median(values)), float(values.min()), float(values.max())


def unambiguous(discs: list[tuple[float, float, float]], min_relative_gap: float) -> bool:
    """Whether every pair of marker discs differs in median depth by `min_relative_gap` of the nearer
    one and their depth ranges do not overlap."""
    ordered = sorted(discs)
    for near, far in itertools.pairwise(ordered):
        if far[0] - near[0] < min_relative_gap * near[0] or far[1] <= near[2]:
            return False
    return True


def depth_gap(
    depth: DepthMap, lo: np.ndarray, hi: np.ndarray, shape: tuple[int, int], min_relative_gap: float
) -> Callable[[int, int, np.ndarray, np.ndarray], np.ndarray]:
    """`compatible(y, x, ys, xs)` for `depth_markers.choose_positions` on an output image of `shape`:
    may a marker at (y, x) join ones at (ys, xs)? Their depths differ by `min_relative_gap` of the
    nearer one and their local depth ranges (`lo`, `hi` from `local_range`) do not overlap."""
    centre = resample_nearest(np.where(depth.valid, depth.depth_mm, 0.0), shape)
    lo_o, hi_o = resample_nearest(lo, shape), resample_nearest(hi, shape)

    def compatible(y: int, x: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        da, db = centre[y, x], centre[ys, xs]
        a_near = da <= db
        near, far = np.where(a_near, da, db), np.where(a_near, db, da)
        near_hi = np.where(a_near, hi_o[y, x], hi_o[ys, xs])
        far_lo = np.where(a_near, lo_o[ys, xs], lo_o[y, x])
        return (far - near >= min_relative_gap * near) & (far_lo > near_hi)

    return compatible
