"""Tests of the 3-D volume readers (NIfTI, NRRD/MHA, DICOM series, enhanced CT) and the one LPS+ convention.

Expectations are computed here, independently of `medblink_build.readers.volume_canonical`:

* a bright cube is placed at a known LPS millimetre position (patient left, anterior, superior) in
  a canonical [z, y, x] phantom; every reader must put it back at the same millimetres, at a high x
  index, and in the image right / top half of its axial slice (radiological display);
* the files the writers make are checked with the third-party libraries' own geometry (nibabel's
  RAS affine and axis codes, SimpleITK's index-to-physical transform, the DICOM PS3.3 C.7.6.2.1.1
  pixel-to-patient formula written out by hand), so a writer bug cannot hide behind a matching
  reader bug;
* DICOM checks (sorting by position, rescale, gaps, duplicates, tilt, uneven spacing, mixed
  series) use series made for each case. Nothing touches the network.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut
from pydicom.uid import generate_uid

from medblink_build.errors import ReaderError
from medblink_build.readers import volume_canonical
from medblink_build.readers.volume_canonical import canonicalise
from medblink_build.readers.volume_dicom import group_series, read_dicom_series
from medblink_build.readers.volume_itk import read_itk
from medblink_build.readers.volume_nifti import read_nifti
from medblink_build.samples.volume_writer import (
    write_ct_series,
    write_enhanced_ct,
    write_itk,
    write_nifti,
)
from medblink_build.volume import Volume

# ---------------------------------------------------------------- the phantom (canonical LPS, [z, y, x])

NZ, NY, NX = 8, 36, 32  # JPEG 2000 (openjpeg, 6 resolutions) needs >= 32 pixels a side
SPACING = (3.0, 0.9, 0.75)  # (sz, sy, sx): all different, so a swapped axis shows
ORIGIN = (-12.0, -16.2, 30.0)  # LPS (x, y, z) of voxel [0, 0, 0]
CUBE_HU = 1000
CUBE = (slice(5, 7), slice(4, 8), slice(22, 26))  # k, j, i: superior, anterior (low y), patient left (high x)

EXPLICIT_LE = "1.2.840.10008.1.2.1"
RLE = "1.2.840.10008.1.2.5"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"


def _phantom() -> np.ndarray:
    k, j, i = np.meshgrid(np.arange(NZ), np.arange(NY), np.arange(NX), indexing="ij")
    hu = ((k * 37 + j * 11 + i * 3) % 200 - 100).astype(np.int16)  # no symmetry: any flip/permutation shows
    hu[0, 0, :] = -1024  # air: stored value 0 with the -1024 intercept
    hu[1, 0, 0] = -2000  # stored negative: needs PixelRepresentation 1
    hu[CUBE] = CUBE_HU
    return hu


HU = _phantom()


def _cube_mm() -> np.ndarray:
    """The cube centre in LPS mm, from the canonical layout: x = ox + i*sx, y = oy + j*sy, z = oz + k*sz."""
    ks, js, is_ = (np.arange(s.start, s.stop).mean() for s in CUBE)
    sz, sy, sx = SPACING
    return np.array([ORIGIN[0] + is_ * sx, ORIGIN[1] + js * sy, ORIGIN[2] + ks * sz])


CUBE_MM = _cube_mm()


def test_phantom_cube_is_left_anterior_superior() -> None:
    """Pins the test's own premise: +x is Left, so the cube (high i) is left of the volume centre, etc."""
    centre = np.array(ORIGIN) + (np.array([NX, NY, NZ]) - 1) / 2 * np.array(SPACING[::-1])
    assert CUBE_MM[0] > centre[0]  # L
    assert CUBE_MM[1] < centre[1]  # anterior = smaller y (P is +y)
    assert CUBE_MM[2] > centre[2]  # S


def _assert_cube(vol: Volume) -> None:
    """The cube is at the same millimetres and displays radiologically (left on image right, anterior up)."""
    found = np.argwhere(vol.data == CUBE_HU)  # rows of (k, j, i)
    assert len(found) == np.prod([s.stop - s.start for s in CUBE])
    ijk = found[:, ::-1].mean(axis=0)
    np.testing.assert_allclose(vol.index_to_lps(ijk), CUBE_MM, atol=1e-3)
    assert ijk[0] > vol.shape[2] / 2  # patient left = higher x index
    k = round(ijk[2])
    axial = vol.data[k]  # shown with row 0 at the top
    rows, cols = np.nonzero(axial == CUBE_HU)
    assert cols.min() > axial.shape[1] / 2  # image right half: the patient's left
    assert rows.max() < axial.shape[0] / 2  # top half: anterior


def _assert_same_volume(vol: Volume, *, warnings: bool = False) -> None:
    assert vol.data.shape == HU.shape
    assert vol.data.dtype.kind in "iu", vol.data.dtype  # lossless integer in, integer out
    np.testing.assert_array_equal(vol.data, HU)
    np.testing.assert_allclose(vol.spacing, SPACING, atol=1e-4)
    np.testing.assert_allclose(vol.origin, ORIGIN, atol=1e-4)
    np.testing.assert_array_equal(vol.direction, np.eye(3))
    if not warnings:
        assert vol.warnings == []
    _assert_cube(vol)


# ---------------------------------------------------------------- canonicalise, by hand


def test_canonicalise_permutes_and_flips_to_lps() -> None:
    """i -> Anterior 2 mm, j -> Superior 3 mm, k -> Right 1.5 mm: every voxel must land at its own mm position."""
    nk, nj, ni = 2, 3, 4
    data = np.arange(nk * nj * ni, dtype=np.int32).reshape(nk, nj, ni)
    affine = np.eye(4)
    affine[:3, :3] = [[0, 0, -1.5], [-2.0, 0, 0], [0, 3.0, 0]]  # columns: i, j, k in LPS
    affine[:3, 3] = (10.0, 20.0, 30.0)
    vol = canonicalise(data, affine, {"x": 1}, ["earlier"])

    assert vol.shape == (nj, ni, nk)  # z from j, y from i, x from k
    assert vol.spacing == (3.0, 2.0, 1.5)
    np.testing.assert_allclose(vol.origin, (10.0 - 1.5 * (nk - 1), 20.0 - 2.0 * (ni - 1), 30.0))
    np.testing.assert_array_equal(vol.direction, np.eye(3))
    for k in range(nk):
        for j in range(nj):
            for i in range(ni):
                mm = affine[:3, :3] @ (i, j, k) + affine[:3, 3]
                idx = np.rint((mm - np.array(vol.origin)) / np.array(vol.spacing[::-1])).astype(int)
                assert vol.data[idx[2], idx[1], idx[0]] == data[k, j, i]
    assert vol.meta["x"] == 1 and vol.meta["stored_orientation"] == "ASR"  # where i, j, k pointed
    assert vol.warnings == ["earlier"]
    assert vol.data.flags.c_contiguous


def _rotation_z(degrees: float) -> np.ndarray:
    t = np.radians(degrees)
    return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1.0]])


def test_canonicalise_keeps_residual_obliquity_in_direction() -> None:
    data = np.zeros((2, 3, 4), dtype=np.int16)
    affine = np.eye(4)
    affine[:3, :3] = _rotation_z(5.0) @ np.diag([0.5, 0.6, 2.0])
    vol = canonicalise(data, affine, {}, [])
    np.testing.assert_allclose(vol.direction, _rotation_z(5.0), atol=1e-12)
    np.testing.assert_allclose(vol.spacing, (2.0, 0.6, 0.5))
    assert vol.meta["obliquity_degrees"] == pytest.approx(5.0)
    assert len(vol.warnings) == 1 and "obliquity 5.00 degrees" in vol.warnings[0]
    np.testing.assert_allclose(vol.affine(), affine, atol=1e-12)  # geometry unchanged, only described

    small = canonicalise(data, _affine_rot(0.5), {}, [])
    assert small.warnings == [] and not np.allclose(small.direction, np.eye(3), atol=1e-6)
    noise = canonicalise(data, _affine_rot(1e-5), {}, [])
    assert noise.warnings == [] and np.array_equal(noise.direction, np.eye(3))

    # 80 degrees: closer to a 90-degree permutation, so i becomes y and a 10-degree residue is left
    steep = canonicalise(data, _affine_rot(80.0), {}, [])
    assert steep.shape == (2, 4, 3) and steep.meta["obliquity_degrees"] == pytest.approx(10.0)


def _affine_rot(degrees: float) -> np.ndarray:
    affine = np.eye(4)
    affine[:3, :3] = _rotation_z(degrees)
    return affine


def test_canonicalise_rejects_bad_input() -> None:
    with pytest.raises(ReaderError, match="degenerate"):
        canonicalise(np.zeros((2, 2, 2)), np.diag([1.0, 1.0, 0.0, 1.0]), {}, [], path="p.nii")
    with pytest.raises(ReaderError, match="3-D"):
        canonicalise(np.zeros((2, 2)), np.eye(4), {}, [])


# ---------------------------------------------------------------- writers -> readers, all formats


def _nifti(codes: str) -> Callable[[Path], Volume]:
    return lambda tmp: read_nifti(write_nifti(tmp / f"v_{codes}.nii.gz", HU, SPACING, ORIGIN, axis_codes=codes))


def _itk(suffix: str, codes: str = "LPS") -> Callable[[Path], Volume]:
    return lambda tmp: read_itk(write_itk(tmp / f"v_{codes}{suffix}", HU, SPACING, ORIGIN, axis_codes=codes))


def _dicom(
    syntax: str, names: str = "instance", iop: tuple[float, ...] = (1, 0, 0, 0, 1, 0)
) -> Callable[[Path], Volume]:
    def make(tmp: Path) -> Volume:
        files = write_ct_series(
            tmp / "series",
            HU,
            SPACING,
            ORIGIN,
            uid_seed=f"rt-{syntax}-{names}",
            transfer_syntax=syntax,
            file_names=names,
            iop=iop,
        )
        return read_dicom_series(files)

    return make


ROUND_TRIPS = {
    "nifti-RAS": _nifti("RAS"),
    "nifti-LPI": _nifti("LPI"),
    "nifti-PIR": _nifti("PIR"),
    "nifti-ASL": _nifti("ASL"),
    "nifti-RAS-flip-z-x": lambda tmp: read_nifti(write_nifti(tmp / "f.nii.gz", HU, SPACING, ORIGIN, flip_axes=(0, 2))),
    "nrrd": _itk(".nrrd"),
    "mha": _itk(".mha"),
    "nrrd-PIR": _itk(".nrrd", "PIR"),
    "mha-RAI": _itk(".mha", "RAI"),
    "dicom-explicit-le": _dicom(EXPLICIT_LE),
    "dicom-explicit-le-shuffled": _dicom(EXPLICIT_LE, "shuffled"),
    "dicom-rle": _dicom(RLE),
    "dicom-rle-shuffled": _dicom(RLE, "shuffled"),
    "dicom-j2k-lossless": _dicom(J2K_LOSSLESS),
    "dicom-jpeg-ls-lossless-shuffled": _dicom(JPEG_LS_LOSSLESS, "shuffled"),
    "dicom-sagittal": _dicom(EXPLICIT_LE, iop=(0, 1, 0, 0, 0, -1)),
    "dicom-coronal": _dicom(EXPLICIT_LE, iop=(1, 0, 0, 0, 0, -1)),
    "dicom-axial-flipped": _dicom(RLE, "shuffled", iop=(-1, 0, 0, 0, -1, 0)),
    "dicom-enhanced": lambda tmp: read_dicom_series(
        write_enhanced_ct(tmp / "e.dcm", HU, SPACING, ORIGIN, uid_seed="rt-enh")
    ),
}


@pytest.mark.parametrize("make", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_every_format_reads_back_the_same_volume(tmp_path: Path, make: Callable[[Path], Volume]) -> None:
    _assert_same_volume(make(tmp_path))


@pytest.mark.parametrize(
    "codes,flips,stored", [("RAS", (), "RAS"), ("LPI", (), "LPI"), ("PIR", (), "PIR"), ("RAS", (0, 2), "LAI")]
)
def test_nifti_files_place_the_cube_by_nibabel(tmp_path: Path, codes: str, flips: tuple[int, ...], stored: str) -> None:
    """The written NIfTI itself, through nibabel's RAS affine: the cube at (-x, -y, z) and the stored axis codes."""
    img = nib.load(write_nifti(tmp_path / "v.nii.gz", HU, SPACING, ORIGIN, axis_codes=codes, flip_axes=flips))
    assert "".join(nib.aff2axcodes(img.affine)) == stored
    assert int(img.header["sform_code"]) > 0 and int(img.header["qform_code"]) > 0
    voxels = np.asanyarray(img.dataobj)
    assert voxels.dtype == np.int16
    centroid = np.argwhere(voxels == CUBE_HU).mean(axis=0)  # stored (i, j, k)
    ras = img.affine[:3, :3] @ centroid + img.affine[:3, 3]
    np.testing.assert_allclose(ras, CUBE_MM * (-1, -1, 1), atol=1e-3)


@pytest.mark.parametrize("suffix,codes", [(".nrrd", "LPS"), (".mha", "PIR"), (".nrrd", "RAI")])
def test_itk_files_place_the_cube_by_simpleitk(tmp_path: Path, suffix: str, codes: str) -> None:
    img = sitk.ReadImage(str(write_itk(tmp_path / f"v{suffix}", HU, SPACING, ORIGIN, axis_codes=codes)))
    arr = sitk.GetArrayFromImage(img)
    centroid_ijk = np.argwhere(arr == CUBE_HU).mean(axis=0)[::-1]
    mm = img.TransformContinuousIndexToPhysicalPoint([float(v) for v in centroid_ijk])
    np.testing.assert_allclose(mm, CUBE_MM, atol=1e-3)
    assert (np.asarray(img.GetDirection()).reshape(3, 3) == np.eye(3)).all() == (codes == "LPS")


@pytest.mark.parametrize(
    "iop", [(1, 0, 0, 0, 1, 0), (0, 1, 0, 0, 0, -1), (-1, 0, 0, 0, -1, 0)], ids=["axial", "sagittal", "axial-flipped"]
)
def test_dicom_files_place_the_cube_by_the_standard_formula(tmp_path: Path, iop: tuple[int, ...]) -> None:
    """PS3.3 C.7.6.2.1.1 by hand: P = IPP + column * dc * row_cosine + row * dr * column_cosine, HU = stored - 1024."""
    files = write_ct_series(tmp_path, HU, SPACING, ORIGIN, uid_seed="formula", iop=iop)
    points = []
    for f in files:
        ds = pydicom.dcmread(f)
        assert ds.Modality == "CT" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
        assert float(ds.RescaleIntercept) == -1024 and float(ds.RescaleSlope) == 1
        hu = ds.pixel_array.astype(np.int32) - 1024
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
        r, c = (
            np.array([float(v) for v in ds.ImageOrientationPatient[:3]]),
            np.array([float(v) for v in ds.ImageOrientationPatient[3:]]),
        )
        dr, dc = (float(v) for v in ds.PixelSpacing)
        for row, col in np.argwhere(hu == CUBE_HU):
            points.append(ipp + col * dc * r + row * dr * c)
    np.testing.assert_allclose(np.mean(points, axis=0), CUBE_MM, atol=1e-3)


# ---------------------------------------------------------------- DICOM series specifics


def test_dicom_sorted_by_position_not_name_or_instance_number(tmp_path: Path) -> None:
    files = write_ct_series(tmp_path, HU, SPACING, ORIGIN, uid_seed="shuffle", file_names="shuffled")
    z = [float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]) for f in files]
    assert z == sorted(z)  # returned in position order ...
    by_name = sorted(files)
    assert by_name != files  # ... but names are not
    instance = [int(pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber) for f in files]
    assert instance != sorted(instance)  # ... nor InstanceNumber
    vol = read_dicom_series(list(reversed(by_name)))
    _assert_same_volume(vol)


def test_dicom_rescale_gives_exact_hu_as_int16(tmp_path: Path) -> None:
    files = write_ct_series(tmp_path, HU, SPACING, ORIGIN, uid_seed="rescale", transfer_syntax=RLE)
    raw = pydicom.dcmread(files[1]).pixel_array
    assert raw.dtype == np.int16 and not np.array_equal(raw, HU[1])  # stored values are not HU
    np.testing.assert_array_equal(raw.astype(np.int32) - 1024, HU[1])
    vol = read_dicom_series(tmp_path)  # a folder stands for its files
    assert vol.data.dtype == np.int16 and vol.data.min() == -2000
    np.testing.assert_array_equal(vol.data, HU)
    assert vol.meta["transfer_syntax"] == "RLE Lossless" and vol.meta["n_slices"] == NZ


def test_dicom_non_unit_slope_gives_float32(tmp_path: Path) -> None:
    files = write_ct_series(tmp_path, HU, SPACING, ORIGIN, uid_seed="slope", extra={"RescaleSlope": "0.5"})
    vol = read_dicom_series(files)
    assert vol.data.dtype == np.float32
    np.testing.assert_array_equal(vol.data, (HU.astype(np.float64) + 1024) * 0.5 - 1024)


def test_mixed_series_are_grouped_or_refused(tmp_path: Path) -> None:
    a = write_ct_series(tmp_path, HU, SPACING, ORIGIN, uid_seed="series-a", file_names="shuffled")
    b = write_ct_series(tmp_path / "sub", HU[:5], SPACING, ORIGIN, uid_seed="series-b")
    note = tmp_path / "README.txt"
    note.write_text("not an image\n")
    groups, problems = group_series([tmp_path])
    assert sorted(len(v) for v in groups.values()) == [5, NZ]
    assert {frozenset(v) for v in groups.values()} == {frozenset(a), frozenset(b)}
    assert len(problems) == 1 and "README.txt" in problems[0] and "\n" not in problems[0]
    with pytest.raises(ReaderError, match="mixed series") as info:
        read_dicom_series(a + b)
    assert "group_series" in str(info.value)
    for files in groups.values():
        assert read_dicom_series(files).shape[0] in (5, NZ)


def test_missing_slice_is_refused(tmp_path: Path) -> None:
    files = write_ct_series(tmp_path, HU, SPACING, ORIGIN, uid_seed="gap", skip_slices={3}, file_names="shuffled")
    assert len(files) == NZ - 1
    with pytest.raises(ReaderError, match=r"missing slice\(s\) between z=36\.000 and z=42\.000") as info:
        read_dicom_series(files)
    assert str(tmp_path) in str(info.value)


def test_duplicate_position_is_refused(tmp_path: Path) -> None:
    files = write_ct_series(tmp_path, HU, SPACING, ORIGIN, uid_seed="dup")
    ds = pydicom.dcmread(files[2])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["dup-copy"])
    ds.InstanceNumber = 99
    copy = tmp_path / "copy.dcm"
    ds.save_as(copy)
    with pytest.raises(ReaderError, match="duplicate slice position"):
        read_dicom_series([*files, copy])


def test_gantry_tilt_gives_a_sheared_grid_and_a_warning(tmp_path: Path) -> None:
    files = write_ct_series(tmp_path, HU, SPACING, ORIGIN, uid_seed="tilt", tilt_degrees=12.0)
    vol = read_dicom_series(files)
    assert any("gantry tilt 12.00 degrees (sheared grid, not resampled)" in w for w in vol.warnings)
    assert vol.meta["gantry_tilt_degrees"] == pytest.approx(12.0)
    np.testing.assert_array_equal(vol.data, HU)  # not resampled
    sz = SPACING[0]
    np.testing.assert_allclose(vol.affine()[:3, 2], (0.0, sz * np.tan(np.radians(12.0)), sz), atol=1e-6)
    np.testing.assert_allclose(vol.affine()[:3, 0], (SPACING[2], 0, 0), atol=1e-9)  # in-plane axes untouched
    for k, f in enumerate(files):  # every slice's first voxel is where its file says
        ipp = [float(v) for v in pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient]
        np.testing.assert_allclose(vol.index_to_lps(np.array([0, 0, k])), ipp, atol=1e-4)


def test_non_uniform_spacing_is_kept_with_a_warning(tmp_path: Path) -> None:
    offsets = [0.0, 3.0, 6.0, 9.1, 12.0, 15.0, 18.0, 20.95]
    files = write_ct_series(tmp_path, HU, SPACING, ORIGIN, uid_seed="uneven", slice_offsets=offsets)
    vol = read_dicom_series(files)
    assert any("non-uniform slice spacing" in w and "2.9" in w and "3.1" in w for w in vol.warnings)
    assert vol.spacing[0] == pytest.approx(3.0)  # the median step
    np.testing.assert_array_equal(vol.data, HU)


def test_crowded_slices_are_refused(tmp_path: Path) -> None:
    offsets = [0.0, 3.0, 6.0, 7.0, 12.0, 15.0, 18.0, 21.0]  # 7.0: a slice from another stack
    files = write_ct_series(tmp_path, HU, SPACING, ORIGIN, uid_seed="crowd", slice_offsets=offsets)
    with pytest.raises(ReaderError, match="overlapping or interleaved"):
        read_dicom_series(files)


@pytest.mark.parametrize("agent,expected", [(None, None), ("", ""), ("Iohexol 350", "Iohexol 350")])
def test_contrast_tags_absent_empty_or_set(tmp_path: Path, agent: str | None, expected: str | None) -> None:
    extra = {"ContrastBolusRoute": ""} if agent == "" else {}
    files = write_ct_series(tmp_path, HU, SPACING, ORIGIN, uid_seed="contrast", contrast_agent=agent, extra=extra)
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert ("ContrastBolusAgent" in ds) == (agent is not None)
    meta = read_dicom_series(files).meta
    assert meta["ContrastBolusAgent"] == expected
    assert meta["ContrastBolusRoute"] == ("" if agent == "" else None)
    assert meta["ContrastBolusStartTime"] is None


def test_meta_holds_no_identifying_values(tmp_path: Path) -> None:
    files = write_ct_series(
        tmp_path,
        HU,
        SPACING,
        ORIGIN,
        uid_seed="private",
        series_description="AX 3mm",
        extra={"ConvolutionKernel": "B30f", "StudyDate": "20240101", "PatientBirthDate": "19700101"},
    )
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    meta = read_dicom_series(files).meta
    assert meta["Modality"] == "CT" and meta["SeriesDescription"] == "AX 3mm" and meta["ConvolutionKernel"] == "B30f"
    assert meta["SliceThickness"] == pytest.approx(3.0) and meta["Manufacturer"] == "medblink-build"
    text = repr(meta)
    for secret in (
        ds.PatientName,
        ds.PatientID,
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        ds.SOPInstanceUID,
        "20240101",
        "19700101",
    ):
        assert str(secret) not in text


def test_enhanced_ct_matches_the_single_frame_series(tmp_path: Path) -> None:
    series = read_dicom_series(write_ct_series(tmp_path / "s", HU, SPACING, ORIGIN, uid_seed="same"))
    path = write_enhanced_ct(
        tmp_path / "enhanced.dcm",
        HU,
        SPACING,
        ORIGIN,
        uid_seed="enh",
        transfer_syntax=RLE,
        frame_order="shuffled",
        rescale_per_frame=True,
        contrast_agent="",
    )
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2.1" and int(ds.NumberOfFrames) == NZ
    frame_z = [float(f.PlanePositionSequence[0].ImagePositionPatient[2]) for f in ds.PerFrameFunctionalGroupsSequence]
    assert frame_z != sorted(frame_z)  # stored out of order: the reader must sort
    intercepts = {
        float(f.PixelValueTransformationSequence[0].RescaleIntercept) for f in ds.PerFrameFunctionalGroupsSequence
    }
    assert len(intercepts) > 1  # the reader must rescale per frame
    vol = read_dicom_series(path)
    np.testing.assert_array_equal(vol.data, series.data)
    np.testing.assert_allclose(vol.affine(), series.affine(), atol=1e-6)
    assert vol.meta["format"] == "DICOM enhanced multi-frame" and vol.meta["n_slices"] == NZ
    assert vol.meta["ContrastBolusAgent"] == "" and vol.meta["SliceThickness"] == pytest.approx(3.0)
    _assert_same_volume(vol)


def test_single_frame_enhanced_ct_takes_its_thickness_from_the_functional_groups(tmp_path: Path) -> None:
    vol = read_dicom_series(write_enhanced_ct(tmp_path / "one.dcm", HU[:1], SPACING, ORIGIN, uid_seed="one"))
    assert vol.shape == (1, NY, NX) and vol.spacing == pytest.approx(SPACING)
    assert vol.meta["slice_step_source"] == "SliceThickness"
    np.testing.assert_array_equal(vol.data, HU[:1])


def test_pydicom_ct_small_reads_as_one_slice() -> None:
    path = get_testdata_file("CT_small.dcm")  # shipped inside pydicom: no download
    ds = pydicom.dcmread(path)
    expected = apply_modality_lut(ds.pixel_array, ds)
    vol = read_dicom_series([path])
    assert vol.shape == (1, int(ds.Rows), int(ds.Columns))
    np.testing.assert_array_equal(vol.data[0], expected)
    assert vol.data.dtype == np.int16
    np.testing.assert_allclose(vol.origin, [float(v) for v in ds.ImagePositionPatient], atol=1e-6)
    ps = [float(v) for v in ds.PixelSpacing]
    np.testing.assert_allclose(vol.spacing, (float(ds.SliceThickness), ps[0], ps[1]))
    assert vol.meta["ContrastBolusAgent"] == "ISOVUE300/100" and vol.meta["slice_step_source"] == "SpacingBetweenSlices"
    assert vol.meta["Modality"] == "CT" and vol.meta["n_slices"] == 1


# ---------------------------------------------------------------- NIfTI values


def test_nifti_integer_mask_stays_integer_and_scaled_data_is_float(tmp_path: Path) -> None:
    mask = (HU == CUBE_HU).astype(np.uint8)
    vol = read_nifti(write_nifti(tmp_path / "mask.nii.gz", mask, SPACING, ORIGIN, axis_codes="LPI"))
    assert vol.data.dtype == np.uint8
    np.testing.assert_array_equal(vol.data, mask)

    stored, affine = np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.diag([-1.0, -1.0, 1.0, 1.0])
    img = nib.Nifti1Image(stored, affine)  # stored [i, j, k] with LPS axes: no reorientation
    img.header.set_slope_inter(0.5, 10.0)
    nib.save(img, tmp_path / "scaled.nii")
    vol = read_nifti(tmp_path / "scaled.nii")
    assert vol.data.dtype.kind == "f" and vol.meta["scaling"] == {"slope": 0.5, "inter": 10.0}
    np.testing.assert_allclose(vol.data, stored.transpose(2, 1, 0) * 0.5 + 10.0)


def test_nifti_without_orientation_is_reported(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.zeros((4, 3, 2), dtype=np.int16), np.eye(4))
    img.set_sform(None, code=0)
    img.set_qform(None, code=0)
    nib.save(img, tmp_path / "bare.nii")
    vol = read_nifti(tmp_path / "bare.nii")
    assert vol.meta["affine_source"] == "pixdim only" and "neither sform nor qform" in vol.warnings[0]


# ---------------------------------------------------------------- bad input: one-line ReaderError naming the file


def _raises(reader: Callable[[Path], object], path: Path, match: str) -> None:
    with pytest.raises(ReaderError, match=match) as info:
        reader(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_nifti_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = np.zeros((4, 5, 6), dtype=np.float32)
    data[1, 2, 3] = np.nan
    data[2, 2, 2] = np.inf
    _raises(
        read_nifti, write_nifti(tmp_path / "nan.nii.gz", data, SPACING, ORIGIN), r"2 voxel\(s\) are NaN or infinite"
    )

    empty = tmp_path / "empty.nii.gz"
    empty.write_bytes(b"")
    _raises(read_nifti, empty, "empty file")

    good = write_nifti(tmp_path / "good.nii.gz", HU, SPACING, ORIGIN)
    blob = good.read_bytes()
    cut = tmp_path / "truncated.nii.gz"
    cut.write_bytes(blob[: len(blob) * 2 // 3])
    _raises(read_nifti, cut, "truncated or corrupt")
    tiny = tmp_path / "tiny.nii.gz"
    tiny.write_bytes(gzip.compress(b"\x5c\x01\x00\x00" + b"\x00" * 100))
    _raises(read_nifti, tiny, "inside the 348-byte NIfTI header")

    text = tmp_path / "notes.nii"
    text.write_text("this is not a volume\n" * 30)
    _raises(read_nifti, text, "not a NIfTI file")
    dicom = tmp_path / "ct.nii"
    shutil.copy(get_testdata_file("CT_small.dcm"), dicom)
    _raises(read_nifti, dicom, "not a NIfTI file")

    four_d = tmp_path / "4d.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6, 2), dtype=np.int16), np.eye(4)), four_d)
    _raises(read_nifti, four_d, "2 volumes")
    one_of_4d = tmp_path / "4d1.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6, 1), dtype=np.int16), np.eye(4)), one_of_4d)
    assert read_nifti(one_of_4d).shape == (6, 5, 4)

    monkeypatch.setattr(volume_canonical, "MAX_VOLUME_VOXELS", 100)
    _raises(read_nifti, good, "above the limit of 100")


def test_itk_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = tmp_path / "notes.nrrd"
    text.write_text("this is not a volume\n")
    _raises(read_itk, text, "not a readable ITK image")
    empty = tmp_path / "empty.mha"
    empty.write_bytes(b"")
    _raises(read_itk, empty, "empty file")

    good = write_itk(tmp_path / "good.mha", HU, SPACING, ORIGIN, compress=False)
    blob = good.read_bytes()
    cut = tmp_path / "truncated.mha"
    cut.write_bytes(blob[: len(blob) - 500])
    _raises(read_itk, cut, "cannot read voxel data")

    nan = HU.astype(np.float32)
    nan[0, 0, 0] = np.nan
    _raises(read_itk, write_itk(tmp_path / "nan.nrrd", nan, SPACING, ORIGIN), r"1 voxel\(s\) are NaN")

    flat = tmp_path / "flat.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((5, 6), dtype=np.int16)), str(flat))
    _raises(read_itk, flat, "not a volume")

    monkeypatch.setattr(volume_canonical, "MAX_VOLUME_VOXELS", 100)
    _raises(read_itk, good, "above the limit of 100")


def test_dicom_bad_input(tmp_path: Path) -> None:
    text = tmp_path / "notes.dcm"
    text.write_text("this is not DICOM\n")
    _raises(read_dicom_series, text, "not a DICOM file")

    files = write_ct_series(tmp_path / "s", HU, SPACING, ORIGIN, uid_seed="bad")
    ds = pydicom.dcmread(files[0])
    del ds.ImagePositionPatient
    ds.save_as(files[0])
    _raises(lambda p: read_dicom_series([p, *files[1:]]), files[0], "no ImagePositionPatient")

    ds = pydicom.dcmread(files[1])
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0.9998, 0.02]
    ds.save_as(files[1])
    _raises(lambda p: read_dicom_series(files[1:]), files[2], "ImageOrientationPatient")
