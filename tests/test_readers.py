"""Tests of the image readers: DICOM in every transfer syntax we claim, PNG/JPEG/TIFF, windowing,
geometry, and one-line errors for broken input.

Expected display values are computed here, independently of `medblink_build.readers.display`:
the DICOM PS3.3 C.11.2.1.2 linear window written out by hand, plain LUT indexing for VOI LUT
Sequences, and a min/max stretch for the percentile window on arrays built so that the 0.5th and
99.5th percentiles are unambiguous.

Several tests pin bugs found while writing them (int16 overflow, negative rescale slope, 8-bit VOI
LUTs of more than 256 entries, palette depth, truncated encapsulated pixel data, one-line errors).
"""

from __future__ import annotations

import shutil
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import UID

from medblink_build.errors import ReaderError
from medblink_build.model import DisplayImage, ImageGeometry
from medblink_build.readers import read_image, sniff_format
from medblink_build.readers.dicom_image import geometry_of

try:
    from . import dicom_factory as factory
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    import dicom_factory as factory

SYNTAX_IDS = {
    factory.EXPLICIT_VR_LE: "explicit-le",
    factory.IMPLICIT_VR_LE: "implicit-le",
    factory.RLE_LOSSLESS: "rle",
    factory.JPEG2000_LOSSLESS: "j2k-lossless",
    factory.JPEGLS_LOSSLESS: "jpeg-ls-lossless",
}

needs_jpeg_lossless_encoder = pytest.mark.skipif(
    factory.imagecodecs_jpeg_lossless() is None,
    reason="imagecodecs with a libjpeg-turbo lossless (process 14) encoder is not installed",
)

# pydicom warns when a VOI LUT is applied to float values; the reader always does that (reported).


# --------------------------------------------------------------------------------------------
# Independent expectations
# --------------------------------------------------------------------------------------------


def linear_window(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1 'LINEAR' window to 0..255, rounded to nearest."""
    x = np.asarray(x, dtype=np.float64)
    low_edge = center - 0.5 - (width - 1) / 2
    high_edge = center - 0.5 + (width - 1) / 2
    y = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    y = np.where(x <= low_edge, 0.0, np.where(x > high_edge, 255.0, y))
    return np.rint(y).astype(np.int64)


def stretch(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Linear map lo..hi -> 0..255, clipped and rounded (the percentile window's contract)."""
    unit = np.clip((np.asarray(x, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return np.rint(unit * 255.0).astype(np.int64)


def assert_display(image: DisplayImage, expected: np.ndarray, *, tol: int = 1, mean_tol: float | None = None) -> None:
    """uint8 2-D pixels equal to `expected` within `tol` (and optional mean absolute error)."""
    assert image.pixels.dtype == np.uint8
    assert image.pixels.shape == expected.shape
    diff = np.abs(image.pixels.astype(np.int64) - np.asarray(expected, dtype=np.int64))
    assert int(diff.max()) <= tol, (
        f"max |display - expected| = {diff.max()} at {np.unravel_index(diff.argmax(), diff.shape)}"
    )
    if mean_tol is not None:
        assert float(diff.mean()) <= mean_tol


def assert_reader_error(exc: ReaderError, path: Path | str, *fragments: str) -> None:
    """The error names the file, states the problem (all `fragments`, case-insensitive), one line."""
    text = str(exc)
    assert exc.path == str(path)
    assert text.startswith(f"{path}: "), text
    assert "\n" not in text and "\r" not in text, f"not one line: {text!r}"
    for fragment in fragments:
        assert fragment.lower() in exc.problem.lower(), f"{fragment!r} not in {exc.problem!r}"


def shipped_file(name: str) -> str:
    """Path of one of pydicom's shipped test files (never downloaded)."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"pydicom test file {name} is not shipped with this pydicom")
    return str(path)


# --------------------------------------------------------------------------------------------
# Round trips through every transfer syntax
# --------------------------------------------------------------------------------------------

WINDOWS = {12: (2048.0, 1000.0), 16: (30000.0, 20000.0)}


@pytest.mark.parametrize("bits", [12, 16])
@pytest.mark.parametrize("syntax", factory.NATIVE_WRITER_SYNTAXES, ids=lambda s: SYNTAX_IDS[s])
def test_lossless_round_trip_matches_linear_window(tmp_path: Path, syntax: str, bits: int) -> None:
    stored = factory.full_range_ramp(bits)
    center, width = WINDOWS[bits]
    path = factory.write_dx(
        tmp_path / "img.dcm", stored, transfer_syntax=syntax, bits_stored=bits, window=(center, width)
    )
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax

    image = read_image(path)

    assert_display(image, linear_window(stored, center, width), tol=1)
    # Both clipped ends and the ramp between them are present (the window test is not vacuous).
    assert (image.pixels == 0).any() and (image.pixels == 255).any()
    assert len(np.unique(image.pixels)) > 200
    assert image.decode["transfer_syntax"] == UID(syntax).name
    assert image.decode["bits_stored"] == bits
    assert image.decode["window"]["method"] == "window from file"
    assert image.decode["window"]["center"] == center and image.decode["window"]["width"] == width


@needs_jpeg_lossless_encoder
@pytest.mark.parametrize("bits", [12, 16])
@pytest.mark.parametrize(
    ("predictor", "syntax"),
    [(1, factory.JPEG_LOSSLESS_SV1), (7, factory.JPEG_LOSSLESS_P14)],
    ids=["sv1", "process14-p7"],
)
def test_jpeg_lossless_round_trip_matches_linear_window(tmp_path: Path, predictor: int, syntax: str, bits: int) -> None:
    stored = factory.full_range_ramp(bits)
    center, width = WINDOWS[bits]
    path = factory.write_jpeg_lossless(
        tmp_path / "img.dcm", stored, bits_stored=bits, predictor=predictor, window=(center, width)
    )
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax

    image = read_image(path)

    assert_display(image, linear_window(stored, center, width), tol=1)
    assert image.decode["transfer_syntax"] == UID(syntax).name


def test_jpeg_baseline_round_trip_within_lossy_tolerance(tmp_path: Path) -> None:
    stored = factory.smooth_phantom(maximum=255)
    center, width = 110.0, 140.0
    path = factory.write_jpeg_baseline(tmp_path / "img.dcm", stored, window=(center, width))
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"

    image = read_image(path)

    # JPEG at quality 95 moves smooth 8-bit values by ~1; the window (slope 255/139) amplifies it.
    assert_display(image, linear_window(stored, center, width), tol=6, mean_tol=1.5)
    assert image.decode["transfer_syntax"] == "JPEG Baseline (Process 1)"
    assert image.decode["bits_stored"] == 8


def test_eight_bit_dicom_without_window_uses_percentiles_not_identity(tmp_path: Path) -> None:
    stored = (factory.outlier_array(bulk=(60, 180), outliers=(0, 255))).astype(np.uint8)
    image = read_image(factory.write_dx(tmp_path / "img.dcm", stored, bits_stored=8))
    assert_display(image, stretch(stored, 60, 180), tol=1)


# --------------------------------------------------------------------------------------------
# Photometric interpretation, modality LUT, VOI LUT, percentile window
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [(2048.0, 1000.0), None], ids=["window", "percentile"])
@pytest.mark.parametrize("syntax", [factory.EXPLICIT_VR_LE, factory.JPEGLS_LOSSLESS], ids=["explicit-le", "jpeg-ls"])
def test_monochrome1_is_inverted_monochrome2(tmp_path: Path, syntax: str, window: tuple[float, float] | None) -> None:
    stored = factory.full_range_ramp(12)
    mono2 = read_image(factory.write_dx(tmp_path / "m2.dcm", stored, transfer_syntax=syntax, window=window))
    mono1 = read_image(
        factory.write_dx(tmp_path / "m1.dcm", stored, transfer_syntax=syntax, window=window, photometric="MONOCHROME1")
    )

    np.testing.assert_array_equal(mono1.pixels.astype(np.int64), 255 - mono2.pixels.astype(np.int64))
    assert mono1.decode["photometric"] == "MONOCHROME1" and mono1.decode["window"]["inverted"] is True
    assert mono2.decode["window"]["inverted"] is False
    if window is not None:
        assert_display(mono1, 255 - linear_window(stored, *window))
    # Low stored values are bright in MONOCHROME1.
    assert mono1.pixels[0, 0] == 255 and mono1.pixels[-1, -1] == 0


def test_rescale_is_applied_before_window(tmp_path: Path) -> None:
    stored = factory.full_range_ramp(12)
    slope, intercept = 2.0, -1000.0
    center, width = 3000.0, 4000.0  # in rescaled (output) units: stored 1500.25..3499.25
    path = factory.write_dx(tmp_path / "img.dcm", stored, rescale=(slope, intercept), window=(center, width))

    image = read_image(path)

    expected = linear_window(stored * slope + intercept, center, width)
    assert_display(image, expected)
    # The same window on the stored values would look clearly different: the test discriminates.
    assert np.abs(linear_window(stored, center, width) - expected).max() > 100
    assert image.decode["window"]["rescale"] == {"slope": slope, "intercept": intercept}


def test_rescale_without_window_percentiles_are_in_output_units(tmp_path: Path) -> None:
    stored = factory.outlier_array()
    image = read_image(factory.write_dx(tmp_path / "img.dcm", stored, rescale=(2.0, -1000.0)))
    assert image.decode["window"]["low"] == pytest.approx(1000 * 2 - 1000)
    assert image.decode["window"]["high"] == pytest.approx(3000 * 2 - 1000)
    assert_display(image, stretch(stored, 1000, 3000))


def test_negative_rescale_slope_is_not_inverted(tmp_path: Path) -> None:
    stored = factory.full_range_ramp(12)
    path = factory.write_dx(tmp_path / "img.dcm", stored, rescale=(-1.0, 4095.0), window=(2048.0, 1000.0))
    image = read_image(path)
    assert_display(image, linear_window(4095.0 - stored.astype(np.float64), 2048.0, 1000.0))


def test_voi_lut_sequence_is_preferred_over_window(tmp_path: Path) -> None:
    stored = factory.full_range_ramp(12)
    path = factory.write_dx(tmp_path / "img.dcm", stored, window=(2048.0, 1000.0))
    lut = 4095 - np.arange(4096)  # a reversing LUT: nothing a window could produce
    factory.add_voi_lut(path, lut, first_mapped=0, bits_per_entry=12)

    image = read_image(path)

    assert_display(image, np.rint(lut[stored] / 4095.0 * 255.0).astype(np.int64))
    assert image.decode["window"]["method"] == "VOI LUT Sequence from file"
    assert image.pixels[0, 0] == 255 and image.pixels[-1, -1] == 0


@pytest.mark.parametrize("rescale", [None, (1.0, -1024.0)], ids=["no-rescale", "rescale"])
def test_voi_lut_clamps_below_first_mapped_and_after_last_entry(
    tmp_path: Path, rescale: tuple[float, float] | None
) -> None:
    stored = factory.full_range_ramp(12)
    intercept = rescale[1] if rescale else 0.0
    first = int(1000 + intercept)  # in modality (rescaled) units
    lut = np.rint(np.linspace(0, 4095, 1024)).astype(np.int64)
    path = factory.write_dx(tmp_path / "img.dcm", stored, window=(100.0, 50.0), rescale=rescale)
    factory.add_voi_lut(path, lut, first_mapped=first, bits_per_entry=12)

    image = read_image(path)

    index = np.clip(stored.astype(np.int64) + int(intercept) - first, 0, len(lut) - 1)
    assert_display(image, np.rint(lut[index] / 4095.0 * 255.0).astype(np.int64))
    assert (image.pixels[stored < 1000] == 0).all() and (image.pixels[stored > 2023] == 255).all()


def test_voi_lut_with_8_bit_entries_and_4096_entries(tmp_path: Path) -> None:
    stored = factory.full_range_ramp(12)
    path = factory.write_dx(tmp_path / "img.dcm", stored, window=(2048.0, 4096.0))
    lut = np.rint(np.arange(4096) / 4095 * 255).astype(np.int64)
    factory.add_voi_lut(path, lut, first_mapped=0, bits_per_entry=8)
    image = read_image(path)
    assert_display(image, lut[stored])


def test_window_with_multiple_values_uses_the_first(tmp_path: Path) -> None:
    stored = factory.full_range_ramp(12)
    path = factory.write_dx(
        tmp_path / "img.dcm", stored, extra={"WindowCenter": [1000, 3000], "WindowWidth": [400, 2000]}
    )
    assert_display(read_image(path), linear_window(stored, 1000, 400))


@pytest.mark.parametrize("width", [0, None], ids=["zero-width", "center-only"])
def test_unusable_window_falls_back_to_percentiles(tmp_path: Path, width: float | None) -> None:
    stored = factory.outlier_array()
    extra = {"WindowCenter": 2000} | ({"WindowWidth": width} if width is not None else {})
    image = read_image(factory.write_dx(tmp_path / "img.dcm", stored, extra=extra))
    assert image.decode["window"]["method"] == "percentile window"
    assert_display(image, stretch(stored, 1000, 3000))


def test_no_window_uses_robust_percentile_window(tmp_path: Path) -> None:
    stored = factory.outlier_array(bulk=(1000, 3000), outliers=(0, 4095))
    image = read_image(factory.write_dx(tmp_path / "img.dcm", stored))

    window = image.decode["window"]
    assert window["method"] == "percentile window"
    assert window["percentiles"] == [0.5, 99.5]
    assert (window["low"], window["high"]) == (1000.0, 3000.0)
    assert_display(image, stretch(stored, 1000, 3000))
    # Outliers clipped, the bulk spread over the whole display range.
    px, bulk = image.pixels, (stored >= 1000) & (stored <= 3000)
    assert (px[stored == 0] == 0).all() and (px[stored == 4095] == 255).all()
    assert px[bulk].min() == 0 and px[bulk].max() == 255
    assert len(np.unique(px[bulk])) == 256


def test_constant_image_does_not_crash(tmp_path: Path) -> None:
    image = read_image(factory.write_dx(tmp_path / "img.dcm", np.full((16, 16), 700, np.uint16)))
    assert image.pixels.shape == (16, 16) and len(np.unique(image.pixels)) == 1


def test_signed_pixels_with_narrow_range_are_windowed(tmp_path: Path) -> None:
    """Signed (PixelRepresentation 1) CT values, rescaled to HU, through the file's window."""
    ds = pydicom.dcmread(shipped_file("CT_small.dcm"))
    assert ds.PixelRepresentation == 1
    stored = ds.pixel_array.copy()
    stored[:4, :] = -2000  # a typical padding value outside the scan circle
    ds.PixelData = stored.tobytes()
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.save_as(tmp_path / "ct.dcm")

    image = read_image(tmp_path / "ct.dcm")

    assert_display(image, linear_window(stored.astype(np.float64) - 1024.0, 40.0, 400.0))


def test_signed_pixels_with_padding_minus_32768_are_windowed(tmp_path: Path) -> None:
    ds = pydicom.dcmread(shipped_file("CT_small.dcm"))
    stored = ds.pixel_array.copy()
    stored[:4, :] = -32768  # Pixel Padding Value used by many CT scanners
    ds.PixelData = stored.tobytes()
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.save_as(tmp_path / "ct.dcm")

    image = read_image(tmp_path / "ct.dcm")

    assert_display(image, linear_window(stored.astype(np.float64) - 1024.0, 40.0, 400.0))


def test_to_display_uint8_int16_wide_range() -> None:
    from medblink_build.readers.display import to_display_uint8

    stored = np.array([[-32768, -1000, 0, 3000]], dtype=np.int16)
    pixels, info = to_display_uint8(stored, None)
    assert (info["low"], info["high"]) == (-32768.0, 3000.0)
    np.testing.assert_array_equal(pixels.astype(np.int64), stretch(stored, -32768, 3000))


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


def test_geometry_is_read_from_tags(tmp_path: Path) -> None:
    path = factory.write_dx(
        tmp_path / "img.dcm",
        factory.full_range_ramp(),
        patient_orientation=("A", "FR"),
        view_position="LL",
        body_part="PELVIS",
        pixel_spacing_mm=0.25,
        extra={"BurnedInAnnotation": "YES", "ImageLaterality": "R"},
    )
    geometry = read_image(path).geometry
    assert geometry == ImageGeometry(
        patient_orientation=("A", "FR"),
        view_position="LL",
        laterality="R",
        body_part="PELVIS",
        pixel_spacing_mm=(0.25, 0.25),
        burned_in_annotation="YES",
    )


def test_geometry_absent_tags_are_none(tmp_path: Path) -> None:
    path = factory.write_dx(
        tmp_path / "img.dcm", factory.full_range_ramp(), patient_orientation=None, view_position=None, body_part=None
    )
    geometry = read_image(path).geometry
    assert geometry.patient_orientation is None and geometry.view_position is None
    assert geometry.body_part is None and geometry.burned_in_annotation is None and geometry.laterality is None
    assert geometry.pixel_spacing_mm == (0.4, 0.4)  # ImagerPixelSpacing is always written


def test_pixel_spacing_is_preferred_over_imager_pixel_spacing(tmp_path: Path) -> None:
    path = factory.write_dx(
        tmp_path / "img.dcm", factory.full_range_ramp(), pixel_spacing_mm=0.4, extra={"PixelSpacing": [0.1, 0.2]}
    )
    assert read_image(path).geometry.pixel_spacing_mm == (0.1, 0.2)


def test_malformed_patient_orientation_reads_as_none(tmp_path: Path) -> None:
    path = factory.write_dx(tmp_path / "img.dcm", factory.full_range_ramp(), patient_orientation=("X", "Q"))
    image = read_image(path)
    assert image.geometry.patient_orientation is None
    assert image.geometry.view_position == "PA"


def test_geometry_of_normalises_case_and_whitespace() -> None:
    from pydicom.dataset import Dataset

    ds = Dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lower-case CS values are invalid, which is the point
        ds.PatientOrientation = ["r", "h"]
        ds.ViewPosition = "ap "
        ds.BodyPartExamined = "chest"
        ds.BurnedInAnnotation = "no"
    geometry = geometry_of(ds)
    assert geometry.patient_orientation == ("R", "H")
    assert (geometry.view_position, geometry.body_part, geometry.burned_in_annotation) == ("AP", "CHEST", "NO")
    assert geometry.pixel_spacing_mm is None


def test_single_valued_pixel_spacing_does_not_crash(tmp_path: Path) -> None:
    path = factory.write_dx(tmp_path / "img.dcm", factory.full_range_ramp(), extra={"PixelSpacing": 0.5})
    assert read_image(path).geometry.pixel_spacing_mm is None


# --------------------------------------------------------------------------------------------
# pydicom's shipped test files
# --------------------------------------------------------------------------------------------


def test_pydicom_ct_small_rescale_and_percentile_window() -> None:
    path = shipped_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)

    image = read_image(path)

    window = image.decode["window"]
    assert window["method"] == "percentile window" and window["rescale"] == {"slope": 1.0, "intercept": -1024.0}
    # Whatever percentile rule is used, its ends lie between the 'lower' and 'higher' estimates.
    lo_range = np.percentile(hu, 0.5, method="lower"), np.percentile(hu, 0.5, method="higher")
    hi_range = np.percentile(hu, 99.5, method="lower"), np.percentile(hu, 99.5, method="higher")
    assert lo_range[0] <= window["low"] <= lo_range[1]
    assert hi_range[0] <= window["high"] <= hi_range[1]
    assert_display(image, stretch(hu, window["low"], window["high"]))
    assert image.decode["modality"] == "CT"


@pytest.mark.parametrize("name", ["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm"])
def test_pydicom_mr_small_in_lossless_syntaxes_matches_window(name: str) -> None:
    reference = pydicom.dcmread(shipped_file("MR_small.dcm"))
    expected = linear_window(reference.pixel_array, float(reference.WindowCenter), float(reference.WindowWidth))
    image = read_image(shipped_file(name))
    assert_display(image, expected)
    assert image.decode["window"]["method"] == "window from file"


@pytest.mark.parametrize(
    ("name", "syntax_word", "bits"),
    [("JPEG2000.dcm", "JPEG 2000", 16), ("JPGExtended.dcm", "JPEG Extended", 12)],
)
def test_pydicom_compressed_greyscale_decodes(name: str, syntax_word: str, bits: int) -> None:
    image = read_image(shipped_file(name))
    assert image.pixels.shape == (1024, 256) and image.pixels.dtype == np.uint8
    assert syntax_word in image.decode["transfer_syntax"]
    assert image.decode["bits_stored"] == bits
    assert image.pixels.std() > 10  # real content, not a blank


def test_pydicom_rgb_jpeg_decodes_to_rgb_stripes() -> None:
    image = read_image(shipped_file("SC_rgb_jpeg_dcmtk.dcm"))
    assert image.pixels.shape == (100, 100, 3) and image.pixels.dtype == np.uint8
    assert image.decode["photometric"] == "YBR_FULL"
    # Known stripes of pydicom's SC_rgb images: red, green, blue, black, white at these rows.
    expected = {5: (255, 0, 0), 25: (0, 255, 0), 45: (0, 0, 255), 65: (0, 0, 0), 95: (255, 255, 255)}
    for row, rgb in expected.items():
        assert np.abs(image.pixels[row, 50].astype(int) - np.array(rgb)).max() <= 8, row
    lossless = read_image(shipped_file("SC_rgb_rle.dcm"))
    assert np.abs(image.pixels.astype(int) - lossless.pixels.astype(int)).mean() < 2


def test_pydicom_palette_colour_uses_lut_bit_depth() -> None:
    from pydicom.pixels import apply_color_lut

    path = shipped_file("examples_palette.dcm")
    ds = pydicom.dcmread(path)
    bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    expected = np.rint(apply_color_lut(ds.pixel_array, ds).astype(np.float64) * 255.0 / (2**bits - 1))

    image = read_image(path)

    assert image.pixels.shape == (ds.Rows, ds.Columns, 3)
    assert np.abs(image.pixels.astype(np.int64) - expected.astype(np.int64)).max() <= 1
    assert image.decode["window"]["method"] == "palette colour LUT"


def test_dark_palette_image_stays_dark(tmp_path: Path) -> None:
    ds = pydicom.dcmread(shipped_file("examples_palette.dcm"))
    ds.PixelData = np.full((ds.Rows, ds.Columns), 1, np.uint8).tobytes()  # LUT entry 1 = (256, 256, 256)
    ds.save_as(tmp_path / "dark.dcm")
    image = read_image(tmp_path / "dark.dcm")
    assert int(image.pixels.max()) <= 2


def test_pydicom_truncated_file_raises_reader_error() -> None:
    path = shipped_file("MR_truncated.dcm")
    with pytest.raises(ReaderError) as info:
        read_image(path)
    assert_reader_error(info.value, path, "pixel data")


def test_pydicom_rtplan_without_pixels_raises_reader_error() -> None:
    path = shipped_file("rtplan.dcm")
    with pytest.raises(ReaderError) as info:
        read_image(path)
    assert_reader_error(info.value, path, "no pixel data", "RT Plan")


def test_pydicom_undecodable_jpeg_raises_reader_error() -> None:
    # JPEG-lossy.dcm is a known-bad 12-bit JPEG Extended stream no installed plugin decodes.
    path = shipped_file("JPEG-lossy.dcm")
    with pytest.raises(ReaderError) as info:
        read_image(path)
    assert info.value.path == path and str(info.value).startswith(f"{path}: ")
    assert "cannot decode pixel data" in info.value.problem
    assert "\n" not in info.value.problem


def test_pydicom_undecodable_jpeg_message_is_one_line() -> None:
    path = shipped_file("JPEG-lossy.dcm")
    with pytest.raises(ReaderError) as info:
        read_image(path)
    assert_reader_error(info.value, path, "cannot decode pixel data")


def test_pydicom_multiframe_needs_a_frame() -> None:
    path = shipped_file("examples_ybr_color.dcm")
    with pytest.raises(ReaderError) as info:
        read_image(path)
    assert_reader_error(info.value, path, "multi-frame", "frame index")

    first, last = read_image(path, frame=0), read_image(path, frame=29)
    assert first.pixels.shape == (240, 320, 3) and first.pixels.dtype == np.uint8
    assert first.decode["frame"] == 0 and last.decode["frame"] == 29
    assert not np.array_equal(first.pixels, last.pixels)
    for bad in (30, -1):
        with pytest.raises(ReaderError) as info:
            read_image(path, frame=bad)
        assert_reader_error(info.value, path, f"frame {bad} outside 0..29")


def test_single_frame_accepts_frame_zero_only(tmp_path: Path) -> None:
    path = factory.write_dx(tmp_path / "img.dcm", factory.full_range_ramp(), window=(2048.0, 1000.0))
    assert np.array_equal(read_image(path, frame=0).pixels, read_image(path).pixels)
    with pytest.raises(ReaderError) as info:
        read_image(path, frame=1)
    assert_reader_error(info.value, path, "frame 1 outside 0..0")


# --------------------------------------------------------------------------------------------
# Raster images
# --------------------------------------------------------------------------------------------


def test_png_8_bit_greyscale_kept_as_stored(tmp_path: Path) -> None:
    stored = factory.smooth_phantom(maximum=255)
    image = read_image(factory.write_png(tmp_path / "img.png", stored))
    np.testing.assert_array_equal(image.pixels, stored)
    assert image.decode["format"] == "PNG" and image.decode["window"]["method"] == "stored 8-bit values"
    assert image.geometry == ImageGeometry()


def test_jpeg_8_bit_greyscale_read(tmp_path: Path) -> None:
    from PIL import Image

    stored = factory.smooth_phantom(maximum=255)
    Image.fromarray(stored).save(tmp_path / "img.jpg", quality=95)
    image = read_image(tmp_path / "img.jpg")
    assert image.decode["format"] == "JPEG"
    assert_display(image, stored.astype(np.int64), tol=3, mean_tol=1.0)


def test_png_16_bit_uses_percentile_window(tmp_path: Path) -> None:
    stored = factory.outlier_array(bulk=(16000, 48000), outliers=(0, 65535))
    image = read_image(factory.write_png(tmp_path / "img.png", stored))
    assert image.decode["mode"].startswith("I")
    assert image.decode["window"]["method"] == "percentile window"
    assert (image.decode["window"]["low"], image.decode["window"]["high"]) == (16000.0, 48000.0)
    assert_display(image, stretch(stored, 16000, 48000))


@pytest.mark.parametrize("byteorder", ["<", ">"], ids=["little-endian", "big-endian"])
def test_tiff_16_bit_uses_percentile_window(tmp_path: Path, byteorder: str) -> None:
    tifffile = pytest.importorskip("tifffile")
    stored = factory.outlier_array(bulk=(16000, 48000), outliers=(0, 65535))
    tifffile.imwrite(tmp_path / "img.tif", stored, byteorder=byteorder)
    image = read_image(tmp_path / "img.tif")
    assert image.decode["format"] == "TIFF"
    assert_display(image, stretch(stored, 16000, 48000))


def test_tiff_float_uses_percentile_window_and_rejects_nan(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    stored = factory.outlier_array().astype(np.float32) / 4.0
    tifffile.imwrite(tmp_path / "f.tif", stored)
    assert_display(read_image(tmp_path / "f.tif"), stretch(stored, 250, 750))

    stored[3, 3] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", stored)
    with pytest.raises(ReaderError) as info:
        read_image(tmp_path / "nan.tif")
    assert_reader_error(info.value, tmp_path / "nan.tif", "NaN")


def test_multipage_tiff_reads_first_page(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    pages = np.stack([factory.smooth_phantom(), 255 - factory.smooth_phantom()])
    tifffile.imwrite(tmp_path / "pages.tif", pages)
    np.testing.assert_array_equal(read_image(tmp_path / "pages.tif").pixels, pages[0])


def test_png_rgb_kept_rgb(tmp_path: Path) -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    image = read_image(factory.write_png(tmp_path / "rgb.png", rgb))
    assert image.pixels.shape == (32, 48, 3)
    np.testing.assert_array_equal(image.pixels, rgb)


def test_png_grey_stored_as_rgb_becomes_2d(tmp_path: Path) -> None:
    grey = factory.smooth_phantom()
    image = read_image(factory.write_png(tmp_path / "grey_rgb.png", np.stack([grey] * 3, axis=-1)))
    assert image.pixels.ndim == 2
    np.testing.assert_array_equal(image.pixels, grey)
    assert "greyscale" in image.decode["colour"]


def test_png_palette_and_grey_alpha(tmp_path: Path) -> None:
    from PIL import Image

    grey = factory.smooth_phantom()
    Image.fromarray(grey).convert("LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_image(tmp_path / "la.png").pixels, grey)

    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:8] = (200, 10, 10)
    rgb[8:] = (10, 10, 200)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_image(tmp_path / "p.png").pixels, rgb)


# --------------------------------------------------------------------------------------------
# Bad input: every failure is a one-line ReaderError naming the file and the problem
# --------------------------------------------------------------------------------------------


def _good_dicom(tmp_path: Path, syntax: str = factory.EXPLICIT_VR_LE) -> Path:
    return factory.write_dx(
        tmp_path / "good.dcm", factory.full_range_ramp(), transfer_syntax=syntax, window=(2048.0, 1000.0)
    )


def _good_png(tmp_path: Path) -> Path:
    return factory.write_png(tmp_path / "good.png", factory.full_range_ramp(16))


def _text(path: Path) -> Path:
    path.write_text("this is a text file, not an image\n" * 10)
    return path


BAD_INPUTS = {
    "empty-dcm": (lambda t: _empty(t / "empty.dcm"), ["empty", "0 bytes"]),
    "empty-png": (lambda t: _empty(t / "empty.png"), ["empty"]),
    "empty-no-suffix": (lambda t: _empty(t / "IM0001"), ["empty"]),
    "missing-file": (lambda t: t / "missing.dcm", ["cannot read file"]),
    "truncated-explicit-le": (
        lambda t: factory.write_truncated(_good_dicom(t), t / "cut.dcm"),
        ["pixel data", "less than expected"],
    ),
    "truncated-implicit-le": (
        lambda t: factory.write_truncated(_good_dicom(t, factory.IMPLICIT_VR_LE), t / "cut.dcm"),
        ["pixel data", "less than expected"],
    ),
    "truncated-rle": (
        lambda t: factory.write_truncated(_good_dicom(t, factory.RLE_LOSSLESS), t / "cut.dcm"),
        ["pixel data"],
    ),
    "truncated-j2k": (
        lambda t: factory.write_truncated(_good_dicom(t, factory.JPEG2000_LOSSLESS), t / "cut.dcm"),
        ["pixel data"],
    ),
    "truncated-jpeg-ls": (
        lambda t: factory.write_truncated(_good_dicom(t, factory.JPEGLS_LOSSLESS), t / "cut.dcm"),
        ["pixel data"],
    ),
    "dicom-without-pixel-data": (lambda t: factory.write_without_pixel_data(t / "nopix.dcm"), ["no pixel data"]),
    "dicom-zero-rows": (lambda t: factory.edit_dicom(_good_dicom(t), t / "zero.dcm", Rows=0), ["not positive"]),
    "text-as-dcm": (lambda t: _text(t / "notes.dcm"), ["not a DICOM file"]),
    "text-as-png": (lambda t: _text(t / "notes.png"), ["not a readable PNG/JPEG/TIFF"]),
    "text-as-jpg": (lambda t: _text(t / "notes.jpg"), ["not a readable PNG/JPEG/TIFF"]),
    "text-unknown-suffix": (lambda t: _text(t / "notes.xyz"), ["not a supported image"]),
    "text-no-suffix": (lambda t: _text(t / "README"), ["not a supported image"]),
    "png-damaged-zlib": (lambda t: factory.write_damaged_png(_good_png(t), t / "bad.png"), ["cannot decode PNG"]),
    "png-damaged-crc": (
        lambda t: factory.write_damaged_png(_good_png(t), t / "bad.png", fix_crc=False),
        ["cannot decode PNG"],
    ),
    "png-truncated": (
        lambda t: factory.write_truncated_png(_good_png(t), t / "cut.png"),
        ["cannot decode PNG", "truncated"],
    ),
}


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


@pytest.mark.filterwarnings("ignore:End of file reached before delimiter")
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_one_line_reader_error(tmp_path: Path, case: str) -> None:
    build, fragments = BAD_INPUTS[case]
    path = build(tmp_path)
    with pytest.raises(ReaderError) as info:
        read_image(path)
    assert_reader_error(info.value, path, *fragments)


@pytest.mark.filterwarnings("ignore:End of file reached before delimiter")
@pytest.mark.parametrize("syntax", [factory.RLE_LOSSLESS, factory.JPEG2000_LOSSLESS], ids=["rle", "j2k"])
def test_truncated_encapsulated_dicom_is_not_reported_as_missing_pixels(tmp_path: Path, syntax: str) -> None:
    path = factory.write_truncated(_good_dicom(tmp_path, syntax), tmp_path / "cut.dcm")
    with pytest.raises(ReaderError) as info:
        read_image(path)
    assert "no pixel data" not in info.value.problem


def _fails_fast(path: Path) -> ReaderError:
    """Read `path` expecting a ReaderError within 1 s and 20 MB of Python allocations."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ReaderError) as info:
            read_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 20_000_000, f"allocated {peak} bytes before failing"
    return info.value


def test_huge_png_fails_fast(tmp_path: Path) -> None:
    path = factory.write_huge_png(tmp_path / "huge.png")
    assert_reader_error(_fails_fast(path), path, "100000")


def test_huge_png_fails_fast_even_without_pillow_bomb_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # the reader's own limit must hold
    path = factory.write_huge_png(tmp_path / "huge.png")
    assert_reader_error(_fails_fast(path), path, "100000x100000")


def test_dicom_header_declaring_huge_image_fails_fast(tmp_path: Path) -> None:
    # Rows/Columns are US: 65535 is the largest a header can declare (4.3 gigapixels).
    path = factory.write_huge_header_dicom(tmp_path / "huge.dcm")
    assert_reader_error(_fails_fast(path), path, "65535x65535", "limit")


def test_reader_error_str_is_the_path_and_problem() -> None:
    exc = ReaderError("a/b.dcm", "cannot   decode")
    assert (exc.path, exc.problem, str(exc)) == ("a/b.dcm", "cannot decode", "a/b.dcm: cannot decode")


def test_reader_error_str_is_one_line() -> None:
    assert str(ReaderError("a/b.dcm", "first line\n  second line")) == "a/b.dcm: first line second line"


# --------------------------------------------------------------------------------------------
# Format sniffing
# --------------------------------------------------------------------------------------------

DICM_HEAD = b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00"


@pytest.mark.parametrize(
    ("head", "suffix", "expected"),
    [
        (DICM_HEAD, "", "dicom"),
        (DICM_HEAD, ".png", "dicom"),  # content wins over a wrong suffix
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "", "raster"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, ".dcm", "raster"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "", "raster"),
        (b"II*\x00" + b"\x00" * 200, "", "raster"),
        (b"MM\x00*" + b"\x00" * 200, "", "raster"),
        (b"II+\x00" + b"\x00" * 200, "", "raster"),
        (b"MM\x00+" + b"\x00" * 200, "", "raster"),
        (b"\x08\x00\x05\x00CS", ".dcm", "dicom"),  # preamble-less DICOM: the suffix decides
        (b"\x08\x00\x05\x00CS", ".DICOM", "dicom"),
        (b"\x08\x00\x05\x00CS", ".IMA", "dicom"),
        (b"\x08\x00\x05\x00CS", ".dic", "dicom"),
        (b"garbage", ".PNG", "raster"),
        (b"garbage", ".jpeg", "raster"),
        (b"garbage", ".tiff", "raster"),
        (b"garbage", ".tif", "raster"),
        (b"garbage", ".jpg", "raster"),
        (b"garbage", "", None),
        (b"garbage", ".txt", None),
        (b"", "", None),
        (DICM_HEAD[:131], "", None),  # too short to hold the DICM marker
        (b"\x00" * 127 + b"DICM" + b"\x00" * 10, "", None),  # marker at the wrong offset
    ],
)
def test_sniff_format(head: bytes, suffix: str, expected: str | None) -> None:
    assert sniff_format(head, suffix) == expected


def test_extensionless_dicom_is_read(tmp_path: Path) -> None:
    stored = factory.full_range_ramp()
    good = factory.write_dx(tmp_path / "good.dcm", stored, window=(2048.0, 1000.0))
    bare = tmp_path / "IM000001"
    shutil.copyfile(good, bare)
    image = read_image(bare)
    assert image.decode["format"] == "DICOM"
    assert_display(image, linear_window(stored, 2048.0, 1000.0))


def test_dicom_with_image_suffix_is_read_as_dicom(tmp_path: Path) -> None:
    good = factory.write_dx(tmp_path / "good.dcm", factory.full_range_ramp(), window=(2048.0, 1000.0))
    misnamed = tmp_path / "actually_dicom.png"
    shutil.copyfile(good, misnamed)
    assert read_image(misnamed).decode["format"] == "DICOM"


def test_png_with_dicom_suffix_is_read_as_png(tmp_path: Path) -> None:
    stored = factory.smooth_phantom()
    misnamed = tmp_path / "actually_png.dcm"
    shutil.copyfile(factory.write_png(tmp_path / "good.png", stored), misnamed)
    image = read_image(misnamed)
    assert image.decode["format"] == "PNG"
    np.testing.assert_array_equal(image.pixels, stored)


def test_preamble_less_dicom_with_dcm_suffix_is_read(tmp_path: Path) -> None:
    stored = factory.full_range_ramp()
    path = factory.write_raw_dataset(tmp_path / "raw.dcm", stored)
    assert path.read_bytes()[128:132] != b"DICM"
    image = read_image(path)
    assert image.decode["format"] == "DICOM"
    assert image.decode["transfer_syntax"] == "Implicit VR Little Endian"
    assert_display(image, stretch(stored, *np.percentile(stored, [0.5, 99.5], method="inverted_cdf")))


def test_read_image_uses_given_bytes(tmp_path: Path) -> None:
    stored = factory.full_range_ramp()
    data = factory.write_dx(tmp_path / "good.dcm", stored, window=(2048.0, 1000.0)).read_bytes()
    image = read_image(tmp_path / "never_written", data)  # no suffix, nothing on disk
    assert_display(image, linear_window(stored, 2048.0, 1000.0))
