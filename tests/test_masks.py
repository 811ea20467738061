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


def test_measure_slices_measures_only_slices_with_voxels(monkeypatch: pytest.MonkeyPatch) -> None:
    volume = np.zeros((50, 32, 32), np.uint8)
    volume[10:13, 5:9, 6:20] = 1
    calls: list[int] = []
    real = masks.measure
    monkeypatch.setattr(masks, "measure", lambda m, s: calls.append(1) or real(m, s))
    regions = measure_slices(volume, (1.0, 1.0))
    assert len(calls) == 3  # the 47 empty slices are found in one pass, not measured one by one
    assert [k for k, r in enumerate(regions) if r is not None] == [10, 11, 12]
    assert regions[11] == real(volume[11], (1.0, 1.0))
