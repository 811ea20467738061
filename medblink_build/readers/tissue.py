"""Tissue detection on a low-resolution overview of a slide, to keep tiles and markers on tissue.

Method (documented, deterministic, scikit-image/SciPy only):

1. Saturation S = (max(R,G,B) - min(R,G,B)) / max(R,G,B) of each overview pixel (HSV saturation,
   0 for black). Stained tissue is coloured; glass, dust-free background and white fat are not.
2. Otsu's threshold (skimage.filters.threshold_otsu, 256 bins) on S, clamped to SATURATION_CLAMP:
   an overview that is all tissue (a tile cut from tissue) has no glass mode and Otsu would split
   pale from dark tissue; the upper clamp keeps pale eosin tissue in. The lower clamp keeps sensor
   noise on empty glass out.
3. tissue = S > threshold, then a binary closing with a disc of CLOSE_RADIUS overview pixels
   (bridges the gaps between nuclei and fibres), hole filling (fat lobules and vessel lumina
   enclosed by tissue are tissue) and removal of specks smaller than MIN_OBJECT_FRACTION of the
   overview.

`TissueMask.sample(box, shape)` maps the overview mask onto any region of the slide (nearest
pixel at each output pixel's centre), which is how a recipe gets the mask at tile resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .wsi import Overview, Slide, read_overview

SATURATION_CLAMP = (0.05, 0.15)
CLOSE_RADIUS = 2
MIN_OBJECT_FRACTION = 0.001
METHOD = (
    "HSV saturation of a low-resolution overview > Otsu threshold (clamped to "
    f"{SATURATION_CLAMP[0]:g}..{SATURATION_CLAMP[1]:g}), binary closing (disc radius {CLOSE_RADIUS} overview px), "
    f"holes filled, objects < {MIN_OBJECT_FRACTION:.1%} of the overview removed"
)


def saturation(rgb: np.ndarray) -> np.ndarray:
    """HSV saturation in 0..1 (float32) of uint8 RGB pixels."""
    arr = np.asarray(rgb)
    hi = arr.max(axis=-1).astype(np.float32)
    lo = arr.min(axis=-1).astype(np.float32)
    out = np.zeros(hi.shape, np.float32)
    np.divide(hi - lo, hi, out=out, where=hi > 0)
    return out


def tissue_threshold(sat: np.ndarray) -> tuple[float, float]:
    """(clamped threshold, raw Otsu threshold) for a saturation image."""
    from skimage.filters import threshold_otsu

    values = np.asarray(sat, np.float32).ravel()
    if values.size == 0 or float(values.min()) == float(values.max()):
        raw = float(values[0]) if values.size else 0.0
    else:
        raw = float(threshold_otsu(values, nbins=256))
    lo, hi = SATURATION_CLAMP
    return float(min(max(raw, lo), hi)), raw


def tissue_from_rgb(rgb: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Boolean tissue mask of an RGB overview, and how it was made (threshold values)."""
    from scipy import ndimage
    from skimage.morphology import disk

    sat = saturation(rgb)
    threshold, raw = tissue_threshold(sat)
    mask = sat > threshold
    if CLOSE_RADIUS > 0 and mask.any():
        padded = np.pad(mask, CLOSE_RADIUS, mode="edge")  # closing must not eat the image border
        padded = ndimage.binary_closing(padded, structure=disk(CLOSE_RADIUS))
        mask = padded[CLOSE_RADIUS:-CLOSE_RADIUS, CLOSE_RADIUS:-CLOSE_RADIUS]
    mask = ndimage.binary_fill_holes(mask)
    min_size = max(1, round(MIN_OBJECT_FRACTION * mask.size))
    labels, count = ndimage.label(mask)
    if count:
        sizes = np.bincount(labels.ravel())
        keep = sizes >= min_size
        keep[0] = False
        mask = keep[labels]
    info = {
        "method": METHOD,
        "otsu_threshold": round(raw, 6),
        "threshold": round(threshold, 6),
        "tissue_fraction": round(float(mask.mean()), 6) if mask.size else 0.0,
    }
    return mask, info


@dataclass(frozen=True)
class TissueMask:
    mask: np.ndarray  # bool, overview resolution
    downsample: float  # level-0 pixels per mask pixel
    info: dict[str, Any]

    def sample(self, box: tuple[float, float, float, float], shape: tuple[int, int]) -> np.ndarray:
        """The mask over level-0 `box` (x0, y0, x1, y1) at `shape` (h, w): nearest pixel per output
        pixel centre; outside the slide is not tissue."""
        return sample_grid(self.mask, self.downsample, box, shape, fill=False)

    def describe(self) -> dict[str, Any]:
        return {**self.info, "mask_shape": list(self.mask.shape), "downsample": round(self.downsample, 6)}


def sample_grid(
    grid: np.ndarray,
    downsample: float | tuple[float, float],
    box: tuple[float, float, float, float],
    shape: tuple[int, int],
    fill: Any,
) -> np.ndarray:
    """Nearest-pixel samples of `grid` (level-0 pixels per grid pixel: `downsample`, or (x, y)) at
    the centres of a `shape` (h, w) raster covering level-0 `box`; `fill` outside the grid."""
    dx, dy = (downsample, downsample) if isinstance(downsample, int | float) else downsample
    x0, y0, x1, y1 = (float(v) for v in box)
    h, w = int(shape[0]), int(shape[1])
    xs = x0 + (np.arange(w) + 0.5) * ((x1 - x0) / w)
    ys = y0 + (np.arange(h) + 0.5) * ((y1 - y0) / h)
    cols = np.floor(xs / dx).astype(np.int64)
    rows = np.floor(ys / dy).astype(np.int64)
    gh, gw = grid.shape[:2]
    col_ok = (cols >= 0) & (cols < gw)
    row_ok = (rows >= 0) & (rows < gh)
    out = grid[np.clip(rows, 0, gh - 1)[:, None], np.clip(cols, 0, gw - 1)[None, :]]
    out = np.array(out, copy=True)
    out[~(row_ok[:, None] & col_ok[None, :])] = fill
    return out


def slide_tissue(slide: Slide, downsample: float, max_side: int = 1024) -> tuple[TissueMask, Overview]:
    """The tissue mask of a slide from an overview at about `downsample` level-0 px per pixel."""
    overview = read_overview(slide, downsample, max_side)
    mask, info = tissue_from_rgb(overview.pixels)
    info = {**info, "overview": overview.describe()}
    return TissueMask(mask, overview.downsample, info), overview
