"""tasks/masks.py: per-slice measurements on the bounding box give the whole-slice numbers."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import label

from medblink_build.tasks import masks
from medblink_build.tasks.masks import measure, measure_slices


def _whole_slice(mask: np.ndarray, spacing: tuple[float, float]) -> tuple[int, float, tuple[float, float], tuple]:
    """The measurement as it was made before the bounding-box crop (the reference)."""
    _, n = label(mask, connectivity=2, return_num=True)
    rows, cols = np.nonzero(mask)
    area = float(mask.sum() * spacing[0] * spacing[1])
    extent = (int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max()))
    return int(n), area, (float(cols.mean()), float(rows.mean())), extent


@pytest.mark.parametrize("seed", range(12))
def test_measure_on_the_bounding_box_equals_the_whole_slice(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = np.zeros((96, 80), bool)
    for _ in range(int(rng.integers(1, 4))):  # 1-3 blobs, possibly touching the slice's edges
        y, x = rng.integers(-5, 96), rng.integers(-5, 80)
        h, w = rng.integers(1, 30, 2)
        mask[max(y, 0) : y + h, max(x, 0) : x + w] = True
    mask &= rng.random(mask.shape) < 0.9  # holes and speckle
    if not mask.any():
        mask[3, 4] = True
    spacing = (0.7, 0.83)
    region = measure(mask.astype(np.uint8), spacing)
    assert region is not None
    n, area, centroid, extent = _whole_slice(mask, spacing)
    assert (region.components, region.area_mm2, region.centroid_px, region.extent_px) == (n, area, centroid, extent)


def test_measure_of_an_empty_slice_is_none() -> None:
    assert measure(np.zeros((8, 8), np.uint8), (1.0, 1.0)) is None


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int16])
def test_measure_slices_equals_measure_slice_by_slice(seed: int, dtype: type) -> None:
    """The slab-wise measurement (one 3-D label with in-plane connectivity, row and column sums)
    gives exactly `measure` of each slice: components, areas, centroids and extents, across slab
    borders, with empty slices and touching, speckled and several blobs per slice."""
    rng = np.random.default_rng(seed)
    depth = masks.SLAB * 2 + 7
    volume = np.zeros((depth, 40, 36), dtype)
    for _ in range(8):
        k, y, x = rng.integers(0, depth), rng.integers(-5, 40), rng.integers(-5, 36)
        d, h, w = rng.integers(1, 40), rng.integers(1, 20), rng.integers(1, 20)
        volume[k : k + d, max(y, 0) : y + h, max(x, 0) : x + w] = 1
    volume &= (rng.random(volume.shape) < 0.85).astype(dtype)
    volume[5:9] = 0
    spacing = (0.7 + 0.01 * seed, 0.83)
    regions = measure_slices(volume, spacing)
    expected = [measure(volume[k], spacing) if volume[k].any() else None for k in range(depth)]
    assert regions == expected
    assert any(r is not None and r.components > 1 for r in regions) and regions[6] is None
