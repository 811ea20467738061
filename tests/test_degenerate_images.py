"""Degenerate images (1x1, 1xN strips, constant frames) are recorded skips, never rows.

Real files: pydicom's SC_rgb_small_odd.dcm (a real 3x3 secondary capture); CT_small.dcm and
US1_J2KR.dcm (tests/data/ultrasound) with their pixels blanked; and crops of a real photograph
(scikit-image's camera) to 1x1 and to a 1x65535 strip, written as the PNGs an export would hold.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from skimage import data as skdata

from medblink_build.errors import SkipItem
from medblink_build.model import SourceItem
from medblink_build.readers.degenerate import MAX_DOMINANT_FRACTION, degenerate_reason
from medblink_build.recipe import ItemContext
from medblink_build.recipes.wave_depth import WaveDepth

US_DATA = Path(__file__).parent / "data" / "ultrasound"


def _ctx(folder: Path, name: str) -> ItemContext:
    item = SourceItem(key=f"t/{name}", source_id="t", root=folder, files=(name,))
    return ItemContext(item, 0, {})


def _png(folder: Path, name: str, pixels: np.ndarray) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(folder / name)
    return name


def _skip_detail(ctx: ItemContext) -> str:
    with pytest.raises(SkipItem) as info:
        ctx.read_image(0)
    assert info.value.reason == "degenerate_image"
    return info.value.detail


def test_one_pixel_and_strip_images_are_skipped(tmp_path: Path) -> None:
    camera = skdata.camera()
    assert "shorter side is under" in _skip_detail(_ctx(tmp_path, _png(tmp_path, "one.png", camera[:1, :1])))
    strip = np.resize(camera[256], (1, 65535))  # a real scan line, repeated to a 1x65535 strip
    assert "65535x1 px" in _skip_detail(_ctx(tmp_path, _png(tmp_path, "strip.png", strip)))
    wide = np.resize(camera[:20].ravel(), (20, 4000))  # 20 px tall: past the side limit, but a strip
    assert "a strip" in _skip_detail(_ctx(tmp_path, _png(tmp_path, "wide.png", wide)))


def test_real_tiny_secondary_capture_is_skipped() -> None:
    path = Path(get_testdata_file("SC_rgb_small_odd.dcm"))
    assert "3x3 px" in _skip_detail(_ctx(path.parent, path.name))


def test_constant_real_dicom_is_skipped(tmp_path: Path) -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    assert _ctx(Path(get_testdata_file("CT_small.dcm")).parent, "CT_small.dcm").read_image(0) is not None
    black = copy.deepcopy(ds)
    black.PixelData = np.zeros_like(ds.pixel_array).tobytes()
    black.save_as(tmp_path / "black.dcm")
    assert "constant image" in _skip_detail(_ctx(tmp_path, "black.dcm"))


def test_nearly_constant_image_is_skipped_but_a_sparse_real_image_is_not(tmp_path: Path) -> None:
    camera = skdata.camera()
    almost = np.zeros_like(camera)
    almost.flat[:: int(1 / (1 - MAX_DOMINANT_FRACTION)) * 2] = 200  # 0.05 % stray pixels
    assert degenerate_reason(almost).startswith("nearly constant")
    assert degenerate_reason(camera) is None
    assert degenerate_reason(skdata.astronaut()) is None


def test_wave_depth_skips_a_blank_real_ultrasound_frame(tmp_path: Path) -> None:
    ds = pydicom.dcmread(US_DATA / "US1_J2KR.dcm")
    ds.decompress()
    ds.PixelData = bytes(len(ds.PixelData))
    ds.save_as(tmp_path / "blank.dcm")
    ctx = _ctx(tmp_path, "blank.dcm")
    with pytest.raises(SkipItem) as info:
        WaveDepth().build(ctx.item, ctx)
    assert info.value.reason == "degenerate_image" and "constant" in info.value.detail
