"""Depth maps that are pictures of depth (colour-mapped renderings) are skipped, never read as depth.

Real inputs: scikit-image's Middlebury stereo pair (`stereo_motorcycle`: the left frame and its
ground-truth disparity). Its depth (focal x baseline / disparity) is written the two ways depth
ships: as a C3VD-style 16-bit TIFF (metric, 0..65535 = 0..100 mm), and as the viridis PNG a
viewer would save (matplotlib's colormap, 8-bit RGB): the first builds, the second is skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from matplotlib import colormaps
from PIL import Image
from skimage import data as skdata

from medblink_build.errors import SkipItem
from medblink_build.model import SourceItem
from medblink_build.readers.depth_map import DepthNotMetric, DepthScale, read_depth_map
from medblink_build.recipe import ItemContext
from medblink_build.recipes.visual_depth import VisualDepth

C3VD = DepthScale(full_scale_mm=100.0)


@pytest.fixture(scope="module")
def stereo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    left, _right, disparity = skdata.stereo_motorcycle()
    folder = tmp_path_factory.mktemp("stereo")
    Image.fromarray(left).save(folder / "0000_color.png")
    with np.errstate(divide="ignore"):
        depth_mm = np.where(np.isfinite(disparity) & (disparity > 0), 3000.0 / disparity, 0.0)  # 7..400 mm
    depth_mm = np.clip(depth_mm, 0, 99.0)  # inside the C3VD range, far values clipped as C3VD does
    tifffile.imwrite(folder / "0000_depth.tiff", np.rint(depth_mm / 100.0 * 65535).astype(np.uint16))
    finite = depth_mm[depth_mm > 0]
    unit = (depth_mm - finite.min()) / (finite.max() - finite.min())
    viridis = (colormaps["viridis"](np.clip(unit, 0, 1))[..., :3] * 255).astype(np.uint8)
    Image.fromarray(viridis).save(folder / "0000_viridis.png")
    Image.fromarray(viridis).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "0000_palette.png")
    return folder


def _build(folder: Path, depth_name: str):  # type: ignore[no-untyped-def]
    item = SourceItem(
        key=f"t/{depth_name}",
        source_id="t",
        root=folder,
        files=("0000_color.png", depth_name),
        metadata={"depth_scale": "full_scale_mm=100"},
    )
    return VisualDepth().build(item, ItemContext(item, 3, {}))


@pytest.mark.parametrize("name", ["0000_viridis.png", "0000_palette.png"])
def test_colour_mapped_depth_is_not_metric(stereo: Path, name: str) -> None:
    with pytest.raises(DepthNotMetric, match="colour"):
        read_depth_map(stereo / name, scale=C3VD)
    with pytest.raises(DepthNotMetric):
        read_depth_map(stereo / name, scale=DepthScale(mm_per_unit=1.0), channel=0)  # a channel is no way round
    with pytest.raises(SkipItem) as info:
        _build(stereo, name)
    assert info.value.reason == "depth_not_metric" and name in info.value.detail


def test_colour_rendering_saved_as_npy_is_not_metric(stereo: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "d.npy", np.asarray(Image.open(stereo / "0000_viridis.png")))
    with pytest.raises(DepthNotMetric):
        read_depth_map(tmp_path / "d.npy", scale=DepthScale(mm_per_unit=1.0), channel=1)


def test_sixteen_bit_c3vd_style_depth_still_builds(stereo: Path) -> None:
    depth = read_depth_map(stereo / "0000_depth.tiff", scale=C3VD)
    assert depth.decode["dtype"] == "uint16" and 0.5 < depth.valid.mean() < 1.0
    example = _build(stereo, "0000_depth.tiff")
    assert example.label["depth_units"] == "mm" and len(example.label["markers"]) >= 2
