"""Probe geometry on real ultrasound files, one test per class of real input (issue 12, defect 5).

Files (tests/data/ultrasound/README.md): US1_J2KR.dcm (GE LOGIQ 700, M12L linear probe, dual view,
no regions), OBXXXX1A_rle.dcm (Philips CX50, C5-1 curved probe, regions, TransducerType),
gdcm-US-ALOKA-16.dcm (Aloka SSD-4000, dual view of a convex probe cut by its two regions), and
pydicom's own examples_ybr_color.dcm (SonoSite, a phased-array cardiac cine: YBR_FULL_422, JPEG
baseline, 30 frames). No real linear-probe file with a SequenceOfUltrasoundRegions could be had
here, so that class is tested on US1_J2KR.dcm with the region its left view occupies added.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from medblink_build.errors import SkipItem
from medblink_build.model import SourceItem
from medblink_build.readers.ultrasound import read_ultrasound
from medblink_build.readers.ultrasound_region import (
    GeometryUnclear,
    edge_angle,
    locate_imaging_area,
    stated_probe,
)
from medblink_build.recipe import ItemContext
from medblink_build.recipes.wave_depth import WaveDepth

DATA = Path(__file__).parent / "data" / "ultrasound"
#: The left view of US1_J2KR.dcm: its B-mode rectangle (inclusive corners), measured on the pixels.
US1_LEFT_VIEW = (14, 108, 316, 336)


def _wave(folder: Path, name: str, **metadata: str):  # type: ignore[no-untyped-def]
    item = SourceItem(key=f"t/{name}", source_id="t", root=folder, files=(name,), metadata=dict(metadata))
    return WaveDepth().build(item, ItemContext(item, 5, {}))


def _wave_skip(folder: Path, name: str, **metadata: str) -> SkipItem:
    with pytest.raises(SkipItem) as info:
        _wave(folder, name, **metadata)
    return info.value


def _with_region(ds: Dataset, corners: tuple[int, int, int, int], delta: float = 0.0132) -> Dataset:
    region = Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    (
        region.RegionLocationMinX0,
        region.RegionLocationMinY0,
        region.RegionLocationMaxX1,
        region.RegionLocationMaxY1,
    ) = corners
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = region.PhysicalDeltaY = delta
    region.ReferencePixelX0, region.ReferencePixelY0 = (corners[2] - corners[0]) // 2, 0
    region.ReferencePixelPhysicalValueX = region.ReferencePixelPhysicalValueY = 0.0
    ds.SequenceOfUltrasoundRegions = [region]
    return ds


def test_edge_angles_are_taken_modulo_pi() -> None:
    assert edge_angle(0.0, 1.0) == 0.0
    assert edge_angle(0.0, -1.0) == 0.0  # atan2 gives -pi (pi): a vertical line, as the real file showed
    assert edge_angle(-1e-12, -1.0) == pytest.approx(0.0, abs=1e-9)
    assert edge_angle(1.0, 1.0) == pytest.approx(math.pi / 4) == pytest.approx(edge_angle(-1.0, -1.0))


def test_linear_probe_with_a_rectangular_region_is_linear(tmp_path: Path) -> None:
    ds = _with_region(pydicom.dcmread(DATA / "US1_J2KR.dcm"), US1_LEFT_VIEW)
    ds.save_as(tmp_path / "linear_region.dcm")
    frame = read_ultrasound(tmp_path / "linear_region.dcm")
    area, geometry = locate_imaging_area(frame.image.pixels, frame.region, frame.transducer_type)
    assert geometry.kind == "linear" and geometry.top_y == 108.0
    assert "fills the rectangular DICOM region" in geometry.evidence
    assert geometry.mm_per_px == pytest.approx((0.132, 0.132))
    assert area.box == (14, 108, 317, 337)
    example = _wave(tmp_path, "linear_region.dcm")
    assert example.label["probe_geometry_source_px"]["probe"] == "linear"
    assert all(m["depth_mm"] is not None for m in example.label["markers"])


def test_probe_model_in_transducer_data_states_the_geometry(tmp_path: Path) -> None:
    ds = pydicom.dcmread(DATA / "US1_J2KR.dcm")
    ds.TransducerData = ["L12-5", "", ""]
    ds.save_as(tmp_path / "l12.dcm")
    frame = read_ultrasound(tmp_path / "l12.dcm")
    assert frame.transducer_data == "L12-5" and "L12-5" not in str(frame.to_json())
    _area, geometry = locate_imaging_area(
        frame.image.pixels, frame.region, frame.transducer_type, transducer_data=frame.transducer_data
    )
    assert geometry.kind == "linear"
    assert geometry.evidence.startswith("TransducerData names a linear-array probe model, confirmed by the pixels")
    with pytest.raises(GeometryUnclear, match="says sector"):
        locate_imaging_area(frame.image.pixels, transducer_data="S5-1")
    assert stated_probe(None, "C5-1")[0] == stated_probe(None, "P4-2")[0] == stated_probe(None, "4C")[0] == "sector"
    assert stated_probe(None, "M12L")[0] == stated_probe(None, "VF13-5")[0] == "linear"
    assert stated_probe(None, "50.80.103.002") == (None, "")


def test_phased_array_cardiac_cine_is_a_sector() -> None:
    path = Path(get_testdata_file("examples_ybr_color.dcm"))  # YBR_FULL_422, JPEG baseline, 30 frames
    frame = read_ultrasound(path)
    assert frame.image.decode["transfer_syntax"].startswith("JPEG Baseline") and frame.frames == 30
    area, geometry = locate_imaging_area(frame.image.pixels, frame.region, frame.transducer_type)
    assert geometry.kind == "sector" and geometry.evidence.startswith("pixels: diverging straight lateral edges")
    ax, ay = geometry.apex
    assert 160 < ax < 180 and -10 < ay < area.box[1]  # the apex at the top of the fan, on its axis
    example = _wave(path.parent, path.name)
    assert example.label["probe_geometry_source_px"]["probe"] == "sector"


def test_curved_probe_with_regions_and_transducer_type_is_a_sector() -> None:
    frame = read_ultrasound(DATA / "OBXXXX1A_rle.dcm")
    area, geometry = locate_imaging_area(frame.image.pixels, frame.region, frame.transducer_type)
    assert geometry.kind == "sector"
    assert geometry.evidence.startswith("TransducerType CURVED LINEAR, confirmed by the pixels")
    assert geometry.apex[1] < area.box[1] and geometry.mm_per_px == pytest.approx((0.2623, 0.2623), abs=1e-4)


def test_image_filling_the_whole_frame_is_unclear_not_linear(tmp_path: Path) -> None:
    pixels = read_ultrasound(DATA / "US1_J2KR.dcm").image.pixels
    x0, y0, x1, y1 = US1_LEFT_VIEW
    Image.fromarray(pixels[y0 + 20 : y1 - 5, x0 + 6 : x1 - 20]).save(tmp_path / "cropped.png")  # cropped inside
    skip = _wave_skip(tmp_path, "cropped.png")
    assert skip.reason == "probe_geometry_unclear"
    assert "reaches the left and right side(s) of the frame" in skip.detail
    stated = _wave(tmp_path, "cropped.png", probe="linear")  # a source that states its probe (e.g. BUSI)
    assert stated.label["probe_geometry_source_px"]["evidence"].startswith("the source states a linear probe")


def test_convex_views_cut_by_their_regions_are_unclear() -> None:
    skip = _wave_skip(DATA, "gdcm-US-ALOKA-16.dcm")
    assert skip.reason == "probe_geometry_unclear"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.02])
def test_non_finite_or_negative_physical_delta_is_a_skip(tmp_path: Path, bad: float) -> None:
    ds = pydicom.dcmread(DATA / "OBXXXX1A_rle.dcm")
    ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX = bad
    ds.save_as(tmp_path / "bad.dcm")
    skip = _wave_skip(tmp_path, "bad.dcm")
    assert skip.reason == "invalid_ultrasound_calibration" and "PhysicalDeltaX/Y" in skip.detail
    assert np.isfinite(read_ultrasound(DATA / "OBXXXX1A_rle.dcm").region.mm_per_pixel()).all()
