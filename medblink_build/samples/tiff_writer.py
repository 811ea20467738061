"""Tiled pyramidal TIFF slides that OpenSlide opens (generic tiled TIFF), written with tifffile.

Reduced levels are stored in the same file and marked as such (NewSubfileType = 1); resolution
tags are in centimetres so OpenSlide reports `openslide.mpp-x`. Used by the histology sample
source, the tests and the memory benchmark, which streams tiles so a 50,000 x 50,000 slide never
exists in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _resolution(mpp: float | None, downsample: float) -> dict[str, Any]:
    if mpp is None:
        return {}
    per_cm = 1e4 / (mpp * downsample)
    return {"resolution": (per_cm, per_cm), "resolutionunit": "CENTIMETER"}


_COMMON: dict[str, Any] = {"photometric": "rgb", "compression": "zlib", "compressionargs": {"level": 1}}


def write_pyramid_tiff(path: Path, levels: Sequence[np.ndarray], mpp: float | None = None, tile: int = 256) -> Path:
    """RGB uint8 `levels` (full resolution first) as one tiled pyramidal TIFF; `mpp` is microns per
    level-0 pixel, or None for a slide that states no resolution."""
    import tifffile

    path.parent.mkdir(parents=True, exist_ok=True)
    base_w = levels[0].shape[1]
    with tifffile.TiffWriter(path) as tif:
        for i, level in enumerate(levels):
            tif.write(
                np.ascontiguousarray(level),
                tile=(tile, tile),
                subfiletype=0 if i == 0 else 1,
                **_COMMON,
                **_resolution(mpp, base_w / level.shape[1]),
            )
    return path


def write_streamed_pyramid_tiff(
    path: Path,
    shape: tuple[int, int],
    tile_at: Callable[[int, int, int], np.ndarray],
    downsamples: Sequence[int],
    mpp: float,
    tile: int = 512,
) -> Path:
    """A pyramid whose tiles come from `tile_at(level_index, tile_row, tile_col)`, written one tile
    at a time (BigTIFF): memory does not depend on the slide size."""
    import tifffile

    h0, w0 = shape

    def tiles(index: int, h: int, w: int) -> Iterator[np.ndarray]:
        for r in range(0, h, tile):
            for c in range(0, w, tile):
                yield tile_at(index, r // tile, c // tile)

    path.parent.mkdir(parents=True, exist_ok=True)
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for i, ds in enumerate(downsamples):
            h, w = h0 // ds, w0 // ds
            tif.write(
                tiles(i, h, w),
                shape=(h, w, 3),
                dtype=np.uint8,
                tile=(tile, tile),
                subfiletype=0 if i == 0 else 1,
                **_COMMON,
                **_resolution(mpp, ds),
            )
    return path
