"""The DICOM series reader streams: each file read once, memory about one volume, same result.

Issue 18: a series used to be held twice (every file's bytes and parsed dataset alive until the
volume was stacked) and its headers were parsed again by the privacy gate. These tests pin the
streaming contract: one read per file through the caller's `read` (so the hashed bytes are the
decoded ones), planes sorted in place, headers handed back without pixel data, the gate reusing
them, and the fast paths (integer Modality LUT, in-place flips, float check) equal to the slow ones.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medblink_build.errors import ReaderError
from medblink_build.readers.volume_canonical import canonicalise
from medblink_build.readers.volume_dicom import _decode_into, _permute_planes, _Slice, read_dicom_series
from medblink_build.samples.volume_writer import write_ct_series

SHAPE = (24, 64, 48)


def _hu(shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(-1024, 1800, size=shape).astype(np.int16)


@pytest.fixture
def series(tmp_path: Path) -> tuple[list[Path], np.ndarray]:
    hu = _hu()
    files = write_ct_series(
        tmp_path / "s",
        hu,
        (2.0, 0.8, 0.7),
        uid_seed="stream",
        file_names="shuffled",
        extra={"PatientName": "Doe^Jane", "PatientID": "MRN4711"},
    )
    return sorted(files), hu


def test_each_file_is_read_once_through_the_callers_read(series: tuple[list[Path], np.ndarray]) -> None:
    files, hu = series
    reads: list[Path] = []

    def read(path: Path) -> bytes:
        reads.append(path)
        return path.read_bytes()

    headers: dict[Path, object] = {}
    volume = read_dicom_series(files, read, headers)
    assert sorted(reads) == files and len(reads) == len(files)  # once each, no second pass
    assert reads == files  # in the caller's order, so recorded inputs keep their order
    np.testing.assert_array_equal(volume.data, hu)  # shuffled names, sorted by position in place
    assert set(headers) == set(files)
    assert all("PixelData" not in ds and "PatientName" in ds for ds in headers.values())


def test_a_recipe_reading_a_series_holds_about_one_volume(tmp_path: Path) -> None:
    """Through `ItemContext.read_volume`, the path a recipe takes: digests recorded for every file,
    and peak memory about the volume (every file's bytes held at once would be over 2x)."""
    from medblink_build.model import SourceItem
    from medblink_build.recipe import ItemContext

    hu = _hu((40, 256, 256))
    files = write_ct_series(tmp_path / "big", hu, uid_seed="stream-big", file_names="shuffled")
    rel = tuple(sorted(f.relative_to(tmp_path).as_posix() for f in files))
    ctx = ItemContext(SourceItem("k", "src", tmp_path, rel), 0, {})
    tracemalloc.start()
    try:
        volume = ctx.read_volume()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(volume.data, hu)
    assert [i.path for i in ctx.inputs] == list(rel)  # one digest per file, in the item's order
    assert set(ctx.headers) == {tmp_path / r for r in rel}
    assert peak < 1.35 * hu.nbytes, f"peak {peak / 1e6:.1f} MB for a {hu.nbytes / 1e6:.1f} MB volume"


def test_a_mixed_series_names_the_odd_file(tmp_path: Path) -> None:
    a = write_ct_series(tmp_path / "a", _hu((4, 16, 16)), uid_seed="a")
    b = write_ct_series(tmp_path / "b", _hu((4, 16, 16)), uid_seed="b")
    with pytest.raises(ReaderError, match="mixed series") as info:
        read_dicom_series([*a, b[0]])
    assert Path(info.value.path) == b[0]


@pytest.mark.parametrize("seed", range(5))
def test_permute_planes_in_place_matches_fancy_indexing(seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 100, size=(9, 3, 2))
    order = list(rng.permutation(9))
    expected = data[order].copy()
    _permute_planes(data, order)
    np.testing.assert_array_equal(data, expected)


@pytest.mark.parametrize(
    "cols",
    [
        np.diag([0.7, 0.8, 2.0]),  # LPS already
        np.diag([-0.7, 0.8, 2.0]),  # i points right
        np.diag([0.7, -0.8, -2.0]),  # j anterior, k inferior
        np.diag([-0.7, -0.8, -2.0]),  # RAI
    ],
)
def test_owned_in_place_flips_equal_the_copying_path(cols: np.ndarray) -> None:
    data = _hu((5, 6, 7))
    affine = np.eye(4)
    affine[:3, :3] = cols
    copied = canonicalise(data.copy(), affine, {}, [])
    mine = data.copy()
    owned = canonicalise(mine, affine, {}, [], owned=True)
    np.testing.assert_array_equal(owned.data, copied.data)
    assert owned.origin == copied.origin and owned.spacing == copied.spacing
    assert owned.data is mine  # no second volume


@pytest.mark.parametrize(
    ("dtype", "slope", "intercept"),
    [
        ("uint16", "1", "-1024"),
        ("int16", "1.0", "-1024.0"),
        ("uint16", "1", "0"),
        ("int16", "2", "-1024"),
        ("uint16", "1", "-1024.5"),
    ],
)
def test_integer_modality_fast_path_equals_pydicom(dtype: str, slope: str, intercept: str) -> None:
    """Decoding straight into an int16 volume gives pydicom's Modality LUT values, widening the
    volume when they do not fit (uint16 - 1024 does not fit int16)."""
    from pydicom.pixels import apply_modality_lut
    from pydicom.uid import ExplicitVRLittleEndian

    info = np.iinfo(dtype)
    arr = np.array([[info.min, 0, 1], [1000, 4095, info.max]], dtype=dtype)
    ds = pydicom.Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 2, 3, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, int(info.min < 0)
    ds.PixelData = arr.tobytes()
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    s = _Slice(Path("x.dcm"), None, np.zeros(3), np.zeros(6), (1.0, 1.0), 2, 3, ds)
    volume = np.zeros((2, 2, 3), dtype=np.int16)
    volume = _decode_into(volume, 1, ds, s)
    theirs = apply_modality_lut(arr, ds)
    np.testing.assert_array_equal(volume[1], theirs)
    np.testing.assert_array_equal(volume[0], 0)


def test_privacy_gate_reuses_the_readers_headers(
    monkeypatch: pytest.MonkeyPatch, series: tuple[list[Path], np.ndarray]
) -> None:
    from medblink_build import privacy

    files, _ = series
    headers: dict[Path, object] = {}
    read_dicom_series(files, None, headers)

    def no_reread(*args: object, **kwargs: object) -> None:
        raise AssertionError("the gate parsed a file the reader had parsed")

    monkeypatch.setattr(pydicom, "dcmread", no_reread)
    found = privacy.identifiers_of_files(files, [f.name for f in files], headers)
    assert privacy.first_hit(["patient Jane Doe"], found).attribute == "PatientName"
    assert privacy.first_hit(["id MRN4711"], found).attribute == "PatientID"
    # a value repeated in every file (the study UID) is collected once, not once per file
    study = [i for i in found if i.attribute == "StudyInstanceUID"]
    assert len({i.origin for i in study}) == 1


def test_a_single_dicom_image_is_parsed_once_for_the_gate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A 2-D DICOM (pydicom's real CT_small.dcm) read by a recipe: the header parsed to check its
    modality is the one the privacy gate searches; the gate opens no file again."""
    import shutil

    from pydicom.data import get_testdata_file

    from medblink_build import privacy
    from medblink_build.model import SourceItem
    from medblink_build.recipe import ItemContext
    from medblink_build.subject import Accepts

    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "ct.dcm")
    item = SourceItem("k", "src", tmp_path, ("ct.dcm",))
    ctx = ItemContext(item, 0, {}, Accepts({"ct"}))
    ctx.read_image()
    assert set(ctx.headers) == {tmp_path / "ct.dcm"}

    def no_reread(*args: object, **kwargs: object) -> None:
        raise AssertionError("the gate parsed a file the reader had parsed")

    monkeypatch.setattr(pydicom, "dcmread", no_reread)
    found = privacy.item_identifiers(item, ctx.headers)
    assert privacy.first_hit(["CompressedSamples^CT1"], found).attribute == "PatientName"


def test_burned_in_screen_reads_the_parsed_headers(
    monkeypatch: pytest.MonkeyPatch, series: tuple[list[Path], np.ndarray]
) -> None:
    """Whether a CT row's image must be OCR'd is decided from the headers the reader parsed
    (every file's BurnedInAnnotation), with the same answer as reading the files, and no re-parse."""
    from medblink_build import ocr
    from medblink_build.model import SourceItem

    files, _ = series
    root = files[0].parent
    item = SourceItem("k", "src", root, tuple(f.name for f in files))
    expected = ocr.may_carry_text(item, "CT")
    headers: dict[Path, object] = {}
    read_dicom_series(files, None, headers)

    def no_reread(*args: object, **kwargs: object) -> None:
        raise AssertionError("the OCR screen parsed a file the reader had parsed")

    monkeypatch.setattr(pydicom, "dcmread", no_reread)
    assert ocr.may_carry_text(item, "CT", headers) == expected
    for ds in headers.values():
        ds.BurnedInAnnotation = "NO"  # every input vouches: no OCR needed
    assert ocr.may_carry_text(item, "CT", headers) is False


#: pydicom's own single-frame monochrome test images (bundled, no download): native 16- and 32-bit,
#: signed and unsigned, explicit, implicit and big endian, RLE and JPEG 2000.
REAL_PLANES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_padded.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "JPEG2000.dcm",
    "rtdose_1frame.dcm",
]


@pytest.mark.parametrize("bits_stored", [None, 12])
@pytest.mark.parametrize("name", REAL_PLANES)
def test_decoding_into_the_volume_equals_pydicom_on_real_files(name: str, bits_stored: int | None) -> None:
    """A plane decoded into the volume (a view of the parsed bytes where pydicom can give one,
    a copy where it must correct unused bits) holds exactly pydicom's pixel_array through its
    Modality LUT."""
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_modality_lut, pixel_array

    ds = pydicom.dcmread(get_testdata_file(name, download=False))
    if bits_stored is not None:
        if ds.file_meta.TransferSyntaxUID.is_compressed or ds.BitsAllocated != 16:
            pytest.skip("unused bits are varied on native 16-bit planes")
        ds.BitsStored, ds.HighBit = bits_stored, bits_stored - 1
    theirs = np.asarray(apply_modality_lut(pixel_array(ds), ds))
    s = _Slice(Path(name), None, np.zeros(3), np.zeros(6), (1.0, 1.0), int(ds.Rows), int(ds.Columns), ds)
    volume = np.zeros((1, int(ds.Rows), int(ds.Columns)), dtype=np.int16)
    volume = _decode_into(volume, 0, ds, s)
    np.testing.assert_array_equal(volume[0], theirs)
