"""Measurements of binary masks on one 2-D slice: components, area, centroid and extent in mm.

Recipes use these to decide whether a structure is unambiguous in a slice (one connected
component, large enough) and where it is, without caring which file format the mask came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SliceRegion:
    """One structure on one slice, in pixel (col, row) and millimetre units of that slice."""

    components: int
    area_mm2: float
    centroid_px: tuple[float, float]  # (x = column, y = row)
    extent_px: tuple[int, int, int, int]  # (x0, y0, x1, y1), inclusive
    spacing_mm: tuple[float, float]  # (row spacing, column spacing)

    @property
    def centroid_mm(self) -> tuple[float, float]:
        return self.centroid_px[0] * self.spacing_mm[1], self.centroid_px[1] * self.spacing_mm[0]

    def extent_mm(self, axis: str) -> tuple[float, float]:
        """The (low, high) edges along 'x' (columns) or 'y' (rows), in mm, pixel edges included."""
        x0, y0, x1, y1 = self.extent_px
        if axis == "x":
            return x0 * self.spacing_mm[1], (x1 + 1) * self.spacing_mm[1]
        return y0 * self.spacing_mm[0], (y1 + 1) * self.spacing_mm[0]


def measure(mask2d: np.ndarray, spacing_mm: tuple[float, float]) -> SliceRegion | None:
    """Measure a 2-D mask (8-connectivity); None when it is empty.

    Components and coordinates are computed on the mask's bounding box (an organ covers a small
    part of a 512 x 512 slice), with integer offsets added back before any mean: the same numbers
    as on the whole slice, several times faster.
    """
    from skimage.measure import label as label_components

    mask = np.asarray(mask2d).astype(bool, copy=False)
    rows_any = mask.any(axis=1)
    if not rows_any.any():
        return None
    y0, y1 = _span(rows_any)
    x0, x1 = _span(mask[y0 : y1 + 1].any(axis=0))
    crop = mask[y0 : y1 + 1, x0 : x1 + 1]
    _, components = label_components(crop, connectivity=2, return_num=True)
    rows, cols = np.nonzero(crop)
    rows += y0
    cols += x0
    return SliceRegion(
        components=int(components),
        area_mm2=float(rows.size * spacing_mm[0] * spacing_mm[1]),
        centroid_px=(float(cols.mean()), float(rows.mean())),
        extent_px=(x0, y0, x1, y1),
        spacing_mm=(float(spacing_mm[0]), float(spacing_mm[1])),
    )


#: Slices labelled at once by `measure_slices`: bounds its scratch (a bool and an int32 label
#: array of at most this many cropped slices) whatever the structure's size.
SLAB = 32


def measure_slices(selected: np.ndarray, spacing_mm: tuple[float, float]) -> list[SliceRegion | None]:
    """`measure` of every axial slice of a 3-D mask ([k, y, x], non-zero = inside), None where a
    slice has no voxel inside.

    The same numbers as `measure` slice by slice, computed a slab of slices at a time: components
    by one `scipy.ndimage.label` whose structuring element connects pixels only within a slice
    (8-connectivity), areas, centroids and extents from per-slice row and column sums, all on the
    structure's bounding box. Centroids are integer coordinate sums over the count, exactly what
    the mean of the pixel coordinates gives. A Python loop of `measure` over the ~150 slices of
    each organ took 0.5 s for a TotalSegmentator subject's masks."""
    volume = np.asarray(selected)
    depth = volume.shape[0]
    out: list[SliceRegion | None] = [None] * depth
    present = volume.reshape(depth, -1).any(axis=1)
    for k0 in range(0, depth, SLAB):
        if present[k0 : k0 + SLAB].any():
            for k, region in _measure_slab(volume, k0, min(depth, k0 + SLAB), spacing_mm).items():
                out[k] = region
    return out


#: 8-connectivity within a slice, none across slices.
_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[1] = True


def _measure_slab(volume: np.ndarray, k0: int, k1: int, spacing_mm: tuple[float, float]) -> dict[int, SliceRegion]:
    """The regions of the non-empty slices among k0..k1-1, by slice index."""
    from scipy import ndimage

    slab = volume[k0:k1]
    # where any slice of the slab is inside, reduced along the (contiguous) slice axis
    footprint = slab.max(axis=0) if slab.dtype.kind in "ub" else (slab != 0).any(axis=0)
    rows_any, cols_any = footprint.any(axis=1), footprint.any(axis=0)
    if not rows_any.any():
        return {}
    y0, y1 = _span(rows_any)
    x0, x1 = _span(cols_any)
    crop = slab[:, y0 : y1 + 1, x0 : x1 + 1] != 0
    labels, _ = ndimage.label(crop, structure=_IN_PLANE)
    # Labels are numbered in scan order and never cross a slice, so each slice's labels are the
    # next consecutive numbers: its component count is its largest label minus all before it.
    largest = labels.reshape(labels.shape[0], -1).max(axis=1)
    before = np.concatenate([[0], np.maximum.accumulate(largest)[:-1]])
    components = np.where(largest > 0, largest - before, 0)
    row_counts = crop.sum(axis=2, dtype=np.int64)  # [slice, row]: pixels inside per row
    col_counts = crop.sum(axis=1, dtype=np.int64)  # [slice, column]
    areas = row_counts.sum(axis=1)
    y_sums = row_counts @ np.arange(y0, y1 + 1, dtype=np.int64)
    x_sums = col_counts @ np.arange(x0, x1 + 1, dtype=np.int64)
    spacing = (float(spacing_mm[0]), float(spacing_mm[1]))
    found: dict[int, SliceRegion] = {}
    for i in range(crop.shape[0]):
        n = int(areas[i])
        if n == 0:
            continue
        ry0, ry1 = _span(row_counts[i] > 0)
        rx0, rx1 = _span(col_counts[i] > 0)
        found[k0 + i] = SliceRegion(
            components=int(components[i]),
            area_mm2=float(n * spacing_mm[0] * spacing_mm[1]),
            centroid_px=(float(x_sums[i]) / n, float(y_sums[i]) / n),
            extent_px=(x0 + rx0, y0 + ry0, x0 + rx1, y0 + ry1),
            spacing_mm=spacing,
        )
    return found


def _span(flags: np.ndarray) -> tuple[int, int]:
    """First and last index where a 1-D boolean array is True (it has at least one)."""
    where = np.flatnonzero(flags)
    return int(where[0]), int(where[-1])


def gap_mm(a: SliceRegion, b: SliceRegion, axis: str) -> float:
    """Signed free space between two extents along an axis: > 0 when b lies wholly after a."""
    a_lo, a_hi = a.extent_mm(axis)
    b_lo, b_hi = b.extent_mm(axis)
    if b_lo >= a_hi:
        return b_lo - a_hi
    if a_lo >= b_hi:
        return -(a_lo - b_hi)
    return 0.0
