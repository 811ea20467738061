"""Ultrasound reader: frames, DICOM region calibration, imaging-area segmentation, probe geometry.

DICOM files are written here with known SequenceOfUltrasoundRegions (a linear and a sector probe);
PNG screens without tags must give the same geometry from their pixels. pydicom ships five US files
inside its package (examples_palette, examples_ybr_color, examples_rgb_color, examples_jpeg2k,
ExplVR_BigEnd); they are read as they are, nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from medblink_build.errors import ReaderError
from medblink_build.readers.ultrasound import choose_region, middle_frame, parse_regions, read_ultrasound
from medblink_build.readers.ultrasound_region import (
    ANNOTATION_GREY,
    GeometryUnclear,
    ProbeGeometry,
    RegionNotFound,
    fit_probe_geometry,
    locate_imaging_area,
    segment_imaging_area,
)
from medblink_build.samples.sample_ultrasound import GEOMETRIES, ProbeSpec, annotate, render_frame
from medblink_build.samples.us_dicom_writer import RLE_LOSSLESS, RegionSpec, write_us_dicom

LINEAR = ProbeSpec("linear", 0.2, box=(100, 40, 379, 319))
SECTOR = ProbeSpec("sector", 0.5, apex=(230.0, 30.0), radii=(4.0, 310.0), half_angle_deg=40.0)


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=-1))


def test_linear_dicom_region_gives_top_edge_and_millimetres(tmp_path: Path) -> None:
    path = write_us_dicom(
        tmp_path / "linear.dcm", render_frame(LINEAR, 1), uid_seed="t/linear", regions=[LINEAR.dicom_region()]
    )
    frame = read_ultrasound(path)
    assert (frame.frame, frame.frames, frame.burned_in_annotation) == (None, 1, "NO")
    (region,) = frame.regions
    assert frame.region == region and "used" in frame.region_note
    assert region.box() == (100, 40, 380, 320)
    assert region.mm_per_pixel() == pytest.approx((0.2, 0.2))  # PhysicalDelta 0.02 cm per pixel
    area, geometry = locate_imaging_area(frame.image.pixels, frame.region, frame.transducer_type)
    assert geometry.kind == "linear" and geometry.top_y == 40.0
    assert area.box == (100, 40, 380, 320) and area.mask[40:320, 100:380].all()
    assert geometry.depth_mm(np.array([150.0]), np.array([140.0]))[0] == pytest.approx(20.0)  # 100 px * 0.2


def test_sector_dicom_apex_is_the_reference_pixel(tmp_path: Path) -> None:
    spec = SECTOR.dicom_region()
    path = write_us_dicom(
        tmp_path / "sector.dcm",
        _rgb(render_frame(SECTOR, 2)),
        uid_seed="t/sector",
        photometric="RGB",
        transfer_syntax=RLE_LOSSLESS,
        regions=[RegionSpec((0, 0, 10, 10), None, spatial_format=5, data_type=10), spec],  # a graphics region too
    )
    frame = read_ultrasound(path)
    assert len(frame.regions) == 2 and frame.region is not None and frame.region.spatial_format == 1
    assert frame.region.reference_absolute() == (230.0, 30.0)
    area, geometry = locate_imaging_area(frame.image.pixels, frame.region, frame.transducer_type)
    assert geometry.kind == "sector" and geometry.apex == (230.0, 30.0)
    assert "reference pixel" in geometry.evidence
    assert geometry.face_radius_px == pytest.approx(4.0, abs=1.5)
    assert geometry.mm_per_px == pytest.approx((5.0, 5.0)) or geometry.mm_per_px == pytest.approx((0.5, 0.5))
    x, y = np.array([230.0 + 60.0]), np.array([30.0 + 80.0])
    assert geometry.depth_px(x, y)[0] == pytest.approx(100.0)
    assert geometry.depth_mm(x, y)[0] == pytest.approx(100.0 * geometry.mm_per_px[0])
    truth = SECTOR.area()
    assert (area.mask & ~truth).sum() < 0.01 * truth.sum()  # the area stays inside the true fan
    assert (truth & ~area.mask).sum() < 0.03 * truth.sum()


@pytest.mark.parametrize("name", ["sector", "curved", "linear"])
def test_png_screen_geometry_comes_from_the_pixels(tmp_path: Path, name: str) -> None:
    probe = GEOMETRIES[name]
    grey = annotate(render_frame(probe, 20), probe, "C5-2 4.0MHz") if name != "linear" else render_frame(probe, 20)
    Image.fromarray(grey).save(tmp_path / "screen.png")
    frame = read_ultrasound(tmp_path / "screen.png")
    assert frame.regions == [] and frame.region is None
    area, geometry = locate_imaging_area(frame.image.pixels)
    assert geometry.mm_per_px is None
    if name == "linear":
        assert geometry.kind == "linear" and geometry.top_y == pytest.approx(probe.box[1], abs=1)
        assert area.text_components == 0
    else:
        assert geometry.kind == "sector"
        assert geometry.apex == pytest.approx(probe.apex, abs=1.5)
        assert geometry.face_radius_px == pytest.approx(probe.radii[0], abs=2.0)
        assert area.text_components > 0  # the burned-in text, ruler and bar were seen


def test_annotations_lie_outside_the_area_and_cover_the_text(tmp_path: Path) -> None:
    probe = GEOMETRIES["sector"]
    clean = render_frame(probe, 21)
    screen = annotate(clean, probe, "P4-2 3.0MHz D15cm")
    area = segment_imaging_area(screen)
    burned = (screen != clean) & ~probe.area()
    bright = burned & (screen >= ANNOTATION_GREY)
    assert bright.sum() > 500
    assert area.annotations[bright].mean() > 0.95  # the text, ruler and bar pixels are marked
    assert not area.mask[burned].any()  # and none is taken as imaging area


def test_no_imaging_region_is_refused_with_a_reason() -> None:
    text_only = annotate(np.zeros((360, 480), np.uint8), GEOMETRIES["linear"], "FROZEN")
    with pytest.raises(RegionNotFound, match="largest connected echo piece"):
        segment_imaging_area(text_only)
    with pytest.raises(RegionNotFound, match="distinct grey levels"):
        segment_imaging_area(np.full((100, 100), 128, np.uint8))
    mask = np.zeros((100, 100), np.uint8)
    mask[20:80, 30:70] = 255
    with pytest.raises(RegionNotFound, match="mask or label"):
        segment_imaging_area(mask)
    flat = np.tile(np.arange(100, dtype=np.uint8), (100, 1)) // 4 + 60  # a smooth ramp, no speckle
    with pytest.raises(RegionNotFound, match="speckle"):
        segment_imaging_area(flat.astype(np.uint8))


def test_transducer_type_that_contradicts_the_pixels_is_unclear() -> None:
    area = segment_imaging_area(render_frame(GEOMETRIES["sector"], 3))
    with pytest.raises(GeometryUnclear, match="LINEAR says linear"):
        fit_probe_geometry(area, None, "LINEAR")
    assert fit_probe_geometry(area, None, "SECTOR_PHASED").kind == "sector"


def test_multi_frame_reads_the_middle_frame(tmp_path: Path) -> None:
    frames = np.stack([render_frame(LINEAR, 4, f) for f in range(5)])
    path = write_us_dicom(tmp_path / "cine.dcm", frames, uid_seed="t/cine", multiframe=True)
    frame = read_ultrasound(path)
    assert (frame.frame, frame.frames) == (2, 5) == (middle_frame(5), 5)
    from medblink_build.readers import read_image

    np.testing.assert_array_equal(frame.image.pixels, read_image(path, frame=2).pixels)
    assert not np.array_equal(frame.image.pixels, read_image(path, frame=1).pixels)
    assert middle_frame(4) == 2 and middle_frame(1) == 0


def test_zero_frames_is_a_clear_reader_error(tmp_path: Path) -> None:
    path = write_us_dicom(
        tmp_path / "zero.dcm",
        np.stack([render_frame(LINEAR, 5)]),
        uid_seed="t/zero",
        multiframe=True,
        extra={"NumberOfFrames": 0},
    )
    with pytest.raises(ReaderError, match=r"zero\.dcm: multi-frame DICOM declares NumberOfFrames = 0"):
        read_ultrasound(path)


def test_region_beyond_the_pixel_matrix_is_ignored_and_slack_is_clipped() -> None:
    import pydicom

    ds = pydicom.Dataset()
    item = pydicom.Dataset()
    item.RegionSpatialFormat, item.RegionDataType = 1, 1
    item.RegionLocationMinX0, item.RegionLocationMinY0, item.RegionLocationMaxX1, item.RegionLocationMaxY1 = (
        10,
        10,
        100,
        60,
    )
    ds.SequenceOfUltrasoundRegions = [item]
    regions = parse_regions(ds)
    region, note = choose_region(regions, (50, 100))
    assert region is None and "exceed" in note
    region, note = choose_region(regions, (60, 100))  # one pixel of slack: taken, clipped
    assert region is not None and region.box((60, 100)) == (10, 10, 100, 60)


def test_geometry_moves_with_crop_and_resize() -> None:
    g = ProbeGeometry("sector", "test", apex=(100.0, -20.0), face_radius_px=30.0, mm_per_px=(0.4, 0.4))
    moved = g.moved((50, 10), (0.5, 0.5))
    assert moved.apex == pytest.approx(((100 - 50 + 0.5) * 0.5 - 0.5, (-20 - 10 + 0.5) * 0.5 - 0.5))
    assert moved.mm_per_px == pytest.approx((0.8, 0.8)) and moved.face_radius_px == 15.0
    x, y = np.array([130.0]), np.array([60.0])
    mx, my = (x - 50 + 0.5) * 0.5 - 0.5, (y - 10 + 0.5) * 0.5 - 0.5
    assert moved.depth_px(mx, my)[0] == pytest.approx(g.depth_px(x, y)[0] * 0.5)
    assert moved.depth_mm(mx, my)[0] == pytest.approx(g.depth_mm(x, y)[0])


# --- pydicom's shipped ultrasound files ---------------------------------------------------------


def test_pydicom_palette_file_region_ignored_fan_found_from_pixels() -> None:
    frame = read_ultrasound(get_testdata_file("examples_palette.dcm"))
    assert frame.image.decode["photometric"] == "PALETTE COLOR"
    assert len(frame.regions) == 2 and frame.region is None
    assert "exceed the 800x350 pixel matrix" in frame.region_note
    area, geometry = locate_imaging_area(frame.image.pixels, frame.region, frame.transducer_type)
    assert geometry.kind == "sector" and geometry.mm_per_px is None
    x0, y0, x1, y1 = area.box
    assert 320 <= x0 < x1 <= 600 and 55 <= y0 < y1 <= 170  # the curved fan under the banner
    assert area.text_components > 0  # banner text, measurements, grey bar


def test_pydicom_multiframe_ybr_jpeg_reads_frame_15_of_30() -> None:
    frame = read_ultrasound(get_testdata_file("examples_ybr_color.dcm"))
    assert (frame.frame, frame.frames) == (15, 30)
    assert frame.image.pixels.shape == (240, 320, 3)
    assert frame.region is None and "exceed" in frame.region_note  # calibrated for 640x480


def test_pydicom_jpeg2k_linear_probe_below_the_text() -> None:
    frame = read_ultrasound(get_testdata_file("examples_jpeg2k.dcm"))
    area, geometry = locate_imaging_area(frame.image.pixels)
    assert geometry.kind == "linear"
    assert geometry.top_y == pytest.approx(108, abs=3)
    assert area.box[1] > 100 and area.box[3] < 345  # text rows above and below are not imaging area
    assert area.text_components > 0
    assert area.colour[150:230, 20:40].any()  # the colour bar is colour, kept away from markers


def test_pydicom_tiny_big_endian_us_has_no_usable_region() -> None:
    frame = read_ultrasound(get_testdata_file("ExplVR_BigEnd.dcm"))
    assert frame.image.pixels.shape == (60, 80, 3)
    with pytest.raises((RegionNotFound, GeometryUnclear)):
        locate_imaging_area(frame.image.pixels)
