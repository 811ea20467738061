"""The DICOM series reader streams: each file read once, memory about one volume, same result.

Issue 18: a series used to be held twice (every file's bytes and parsed dataset alive until the
volume was stacked) and its headers were parsed again by the privacy gate. These tests pin the
streaming contract: one read per file through the caller's `read` (so the hashed bytes are the
decoded ones), planes sorted in place, headers handed back without pixel data, the gate reusing
them, and the fast paths (integer Modality LUT, in-place flips, float check) equal to the slow ones.
"""

from __future__ import annotations

import hashlib
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medblink_build.errors import ReaderError
from medblink_build.readers.dicom_image import read_dicom_header
from medblink_build.readers.volume_canonical import canonicalise
from medblink_build.readers.volume_dicom import (
    _decode_into,
    _extremes,
    _native_view,
    _permute_planes,
    _Slice,
    read_dicom_series,
)
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
    assert all(ds.buffer.closed for ds in headers.values())  # a kept header does not hold the file


def test_a_large_header_value_is_read_and_checked_not_left_deferred(tmp_path: Path) -> None:
    """Values over DEFER_BYTES other than the pixel data (a long float array, a private blob) are
    read before the file's bytes are let go, and their floats are still checked."""
    from pydicom.uid import ImplicitVRLittleEndian

    from medblink_build.readers.dicom_image import DEFER_BYTES

    files = write_ct_series(tmp_path / "s", _hu((3, 16, 16)), uid_seed="big-values")
    blob = bytes(range(256)) * (DEFER_BYTES // 256 + 1)
    for f in files:
        ds = pydicom.dcmread(f)
        block = ds.private_block(0x0011, "MEDBLINK TEST", create=True)
        block.add_new(0x01, "OB", blob)
        ds.save_as(f, enforce_file_format=True)
    headers: dict[Path, object] = {}
    read_dicom_series(files, None, headers)
    for ds in headers.values():
        assert ds.buffer.closed
        assert ds[0x00111001].value == blob
    ds = pydicom.dcmread(files[0])
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian  # 32-bit lengths: an FD over 64 KiB
    ds.add_new(0x00189089, "FD", [1.0] * (DEFER_BYTES // 8) + [float("nan")])  # DiffusionGradientOrientation
    ds.save_as(files[0], enforce_file_format=True)
    with pytest.raises(ReaderError, match="not a finite number"):
        read_dicom_series(files)


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
    assert [i.sha256 for i in ctx.inputs] == [hashlib.sha256((tmp_path / r).read_bytes()).hexdigest() for r in rel]
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


#: The real planes that are viewed in place when parsed with deferred pixel data: native little
#: endian, every allocated bit stored, the pixel data exactly one plane long.
VIEWED_IN_PLACE = {"CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "rtdose_1frame.dcm"}


@pytest.mark.parametrize("bits_stored", [None, 12])
@pytest.mark.parametrize("name", REAL_PLANES)
def test_deferred_pixel_data_decodes_as_pydicom_on_real_files(
    monkeypatch: pytest.MonkeyPatch, name: str, bits_stored: int | None
) -> None:
    """The series reader's path: the header parsed from the file's bytes with the pixel data left
    in them; a plane viewed in place where that is exactly pydicom's array, pydicom's deferred
    read and decode otherwise (big endian, padding, RLE, JPEG 2000, unused bits). pydicom's planes
    are small, so values are deferred from 256 bytes on, as a 512 x 512 CT plane is at 64 KiB."""
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_modality_lut, pixel_array

    from medblink_build.readers import dicom_image

    monkeypatch.setattr(dicom_image, "DEFER_BYTES", 256)

    path = Path(get_testdata_file(name, download=False))
    data = path.read_bytes()
    ds = read_dicom_header(path, data, defer=True)
    reference = pydicom.dcmread(path)
    if bits_stored is not None:
        if reference.file_meta.TransferSyntaxUID.is_compressed or reference.BitsAllocated != 16:
            pytest.skip("unused bits are varied on native 16-bit planes")
        for d in (ds, reference):
            d.BitsStored, d.HighBit = bits_stored, bits_stored - 1
    theirs = np.asarray(apply_modality_lut(pixel_array(reference), reference))
    s = _Slice(path, None, np.zeros(3), np.zeros(6), (1.0, 1.0), int(ds.Rows), int(ds.Columns), ds)
    viewed = _native_view(ds, ds.file_meta.TransferSyntaxUID, s, data) is not None
    assert viewed == (name in VIEWED_IN_PLACE and bits_stored is None)
    volume = np.zeros((1, int(ds.Rows), int(ds.Columns)), dtype=np.int16)
    volume = _decode_into(volume, 0, ds, s, data)
    np.testing.assert_array_equal(volume[0], theirs)


def _exact(arr: np.ndarray, shift: int, out: np.dtype) -> tuple[int, int]:
    return (int(arr.min()), int(arr.max())) if arr.size else (0, 0)


@pytest.mark.parametrize("stored", ["uint8", "int8", "uint16", "int16", "int32"])
@pytest.mark.parametrize("out", ["int16", "int32", "float32"])
def test_one_sided_extremes_place_planes_as_the_exact_ones(
    monkeypatch: pytest.MonkeyPatch, stored: str, out: str
) -> None:
    """`_extremes` skips a pass where a bound cannot matter; the volume (values and dtype, widening
    included) is the one the real minimum and maximum give, for shifts of both signs and sizes."""
    from medblink_build.readers import volume_dicom

    info = np.iinfo(stored)
    rng = np.random.default_rng(3)
    for shift in (0, 1, -1, -1024, 1024, -40000, 40000, 2**31 - 2**18):
        for lo, hi in ((info.min, info.max), (0, min(info.max, 4095)), (max(info.min, -2000), min(info.max, 100))):
            arr = rng.integers(lo, hi, size=(4, 5), endpoint=True).astype(stored)
            ds = pydicom.Dataset()
            ds.RescaleSlope, ds.RescaleIntercept = "1", str(shift)
            s = _Slice(Path("x.dcm"), None, np.zeros(3), np.zeros(6), (1.0, 1.0), 4, 5, ds)
            results = []
            for bounds in (volume_dicom._extremes, _exact):
                monkeypatch.setattr(volume_dicom, "_extremes", bounds)
                monkeypatch.setattr(volume_dicom, "decode_or_raise", lambda path, what, fn, a=arr: a)
                monkeypatch.setattr(volume_dicom, "_native_view", lambda *args: None)
                monkeypatch.setattr(volume_dicom, "check_codestream", lambda *args: None)
                ds.file_meta = pydicom.dataset.FileMetaDataset()
                results.append(volume_dicom._decode_into(np.zeros((1, 4, 5), dtype=out), 0, ds, s))
            monkeypatch.setattr(volume_dicom, "_extremes", _extremes)
            assert results[0].dtype == results[1].dtype, (shift, lo, hi)
            np.testing.assert_array_equal(results[0], results[1])
            if results[1].dtype.kind == "i":  # a float32 volume rounds large sums, both ways alike
                np.testing.assert_array_equal(results[1][0], arr.astype(np.int64) + shift)


def test_background_digests_keep_order_and_hold_a_few_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Digests come back in the order the bytes were added, and while hashing is held up the
    caller stops after `window` + 1 files (memory stays at a few files, whatever the disk's pace)."""
    import time

    from medblink_build import hashing

    gate = threading.Event()
    real = hashing.sha256_bytes
    monkeypatch.setattr(hashing, "sha256_bytes", lambda data: gate.wait() and real(data))
    blobs = [bytes([i]) * (i + 1) for i in range(12)]
    added: list[bytes] = []
    got: list[str] = []

    def produce() -> None:
        with hashing.background_digests(window=2) as digests:
            for blob in blobs:
                digests.add(blob)
                added.append(blob)
            got.extend(digests.digests())

    producer = threading.Thread(target=produce)
    producer.start()
    deadline = time.monotonic() + 10
    while len(added) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    held = len(added)
    gate.set()  # before asserting: the producer must never be left waiting
    producer.join(10)
    assert held == 3  # the fourth waited for the first digest
    assert got == [real(b) for b in blobs]


def test_background_digests_report_an_error_and_stop_their_thread() -> None:
    from medblink_build import hashing

    with pytest.raises(TypeError):
        with hashing.background_digests() as digests:
            digests.add("not bytes")  # type: ignore[arg-type]
            digests.digests()
    assert not [t for t in threading.enumerate() if t.name.startswith("medblink-sha256")]
