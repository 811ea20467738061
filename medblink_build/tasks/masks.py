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


def measure_slices(selected: np.ndarray, spacing_mm: tuple[float, float]) -> list[SliceRegion | None]:
    """`measure` of every axial slice of a 3-D mask ([k, y, x], non-zero = inside); slices with no
    voxel inside (most of a volume, all of an empty mask) are found in one pass and not measured."""
    volume = np.asarray(selected)
    present = volume.reshape(volume.shape[0], -1).any(axis=1)
    return [measure(volume[k], spacing_mm) if present[k] else None for k in range(volume.shape[0])]


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
