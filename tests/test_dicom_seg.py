"""DICOM SEG: writer and reader round trip on a CT series, geometry checks, and relative-position end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import pack_bits

from medblink_build.errors import ReaderError
from medblink_build.readers import read_volume
from medblink_build.readers.dicom_seg import SEG_SOP_CLASS, is_dicom_seg, read_dicom_seg
from medblink_build.samples.phantoms_ct import ORGANS, abdomen
from medblink_build.samples.seg_writer import write_dicom_seg
from medblink_build.samples.volume_writer import write_ct_series
from tests.conftest import load_config, run_cli

SHAPE, SPACING = (16, 64, 64), (5.0, 3.0, 3.0)
ORGAN_ID = {name: i for i, name in ORGANS.items()}
#: SegmentLabel as written -> normalised key the reader returns.
SEGMENTS = {"Liver": "liver", "Aorta": "aorta", "Spleen": "spleen", "Inferior Vena Cava": "inferior_vena_cava"}


def _masks(labels: np.ndarray) -> dict[str, np.ndarray]:
    return {written: labels == ORGAN_ID[key] for written, key in SEGMENTS.items()}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("seg")
    phantom = abdomen(2, shape=SHAPE, spacing=SPACING)
    files = write_ct_series(root / "ct", phantom.hu, phantom.spacing, phantom.origin, uid_seed="seg-ct")
    seg = write_dicom_seg(
        root / "seg" / "seg.dcm", _masks(phantom.labels), files, phantom.spacing, phantom.origin, uid_seed="seg-ct"
    )
    return {"root": root, "phantom": phantom, "files": files, "seg": seg, "ct": read_volume(files)}


def _write(case: dict, name: str, **kw) -> Path:  # type: ignore[no-untyped-def]
    p = case["phantom"]
    masks = kw.pop("masks", None) or _masks(p.labels)
    return write_dicom_seg(
        case["root"] / "seg" / name, masks, case["files"], p.spacing, p.origin, uid_seed=f"seg-{name}", **kw
    )


def _assert_phantom(masks: dict, labels: np.ndarray) -> None:
    assert set(masks) == set(SEGMENTS.values())
    for key in SEGMENTS.values():
        assert masks[key].dtype == np.uint8 and masks[key].shape == labels.shape
        np.testing.assert_array_equal(masks[key], (labels == ORGAN_ID[key]).astype(np.uint8), err_msg=key)


def test_binary_seg_is_a_real_segmentation_object(case: dict) -> None:
    ds = pydicom.dcmread(case["seg"])
    assert ds.SOPClassUID == SEG_SOP_CLASS and ds.Modality == "SEG"
    assert (ds.SegmentationType, ds.BitsAllocated) == ("BINARY", 1)
    ct = pydicom.dcmread(case["files"][0], stop_before_pixels=True)
    assert ds.FrameOfReferenceUID == ct.FrameOfReferenceUID and ds.StudyInstanceUID == ct.StudyInstanceUID
    assert ds.SeriesInstanceUID != ct.SeriesInstanceUID
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == ct.SeriesInstanceUID
    labels = case["phantom"].labels
    present = sum(int((labels == ORGAN_ID[k]).any(axis=(1, 2)).sum()) for k in SEGMENTS.values())
    assert int(ds.NumberOfFrames) == present < len(SEGMENTS) * SHAPE[0]  # only non-empty frames
    assert [s.SegmentLabel for s in ds.SegmentSequence] == list(SEGMENTS)
    assert ds.pixel_array.shape == (present, *SHAPE[1:])
    assert is_dicom_seg(case["seg"]) and not is_dicom_seg(case["files"][0])


def test_binary_seg_reads_back_as_the_phantom_labels(case: dict) -> None:
    masks = read_dicom_seg(case["seg"], case["ct"], reference_files=case["files"])
    _assert_phantom(masks, case["phantom"].labels)
    assert masks.numbers == {"liver": 1, "aorta": 2, "spleen": 3, "inferior_vena_cava": 4}
    assert masks.warnings == []


def test_without_reference_files_the_frame_of_reference_check_is_skipped_and_said(case: dict) -> None:
    masks = read_dicom_seg(case["seg"], case["ct"])
    _assert_phantom(masks, case["phantom"].labels)
    assert masks.warnings == ["FrameOfReferenceUID not checked: the reference Volume does not carry it"]


def test_fractional_seg_is_thresholded_at_half_the_maximum(case: dict) -> None:
    seg = _write(case, "fractional.dcm", fractional=True)
    assert pydicom.dcmread(seg).SegmentationType == "FRACTIONAL"
    _assert_phantom(read_dicom_seg(seg, case["ct"], reference_files=case["files"]), case["phantom"].labels)

    labels = case["phantom"].labels
    soft = np.where(labels == ORGAN_ID["liver"], 0.6, np.where(labels == ORGAN_ID["spleen"], 0.4, 0.0))
    seg = _write(case, "soft.dcm", fractional=True, masks={"Probability": soft})
    masks = read_dicom_seg(seg, case["ct"], reference_files=case["files"])
    np.testing.assert_array_equal(masks["probability"], (labels == ORGAN_ID["liver"]).astype(np.uint8))


def test_frames_stored_flipped_in_plane_land_on_the_same_voxels(case: dict) -> None:
    """A SEG whose frames run right-to-left and bottom-to-top (IOP -1,0,0,0,-1,0) maps to the same masks."""
    ds = pydicom.dcmread(case["seg"])
    rows, cols = int(ds.Rows), int(ds.Columns)
    sy, sx = SPACING[1], SPACING[2]
    ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient = [-1, 0, 0, 0, -1, 0]
    for item in ds.PerFrameFunctionalGroupsSequence:
        x, y, z = (float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient)
        item.PlanePositionSequence[0].ImagePositionPatient = [x + (cols - 1) * sx, y + (rows - 1) * sy, z]
    ds.PixelData = pack_bits(np.ascontiguousarray(ds.pixel_array[:, ::-1, ::-1]))
    path = case["root"] / "seg" / "flipped.dcm"
    ds.save_as(path)
    _assert_phantom(read_dicom_seg(path, case["ct"], reference_files=case["files"]), case["phantom"].labels)


def test_frames_between_slices_or_outside_or_on_another_frame_of_reference_are_errors(case: dict) -> None:
    half = _write(case, "half.dcm", z_shift_mm=SPACING[0] / 2)
    with pytest.raises(ReaderError, match=r"half\.dcm: the segmentation lies between reference slices"):
        read_dicom_seg(half, case["ct"], reference_files=case["files"])
    outside = _write(case, "outside.dcm", z_shift_mm=-SHAPE[0] * SPACING[0])
    with pytest.raises(ReaderError, match=r"outside\.dcm: the segmentation lies outside the reference"):
        read_dicom_seg(outside, case["ct"], reference_files=case["files"])
    other = _write(case, "other_for.dcm", frame_of_reference_uid="1.2.3.4")
    with pytest.raises(ReaderError, match=r"other_for\.dcm: FrameOfReferenceUID differs"):
        read_dicom_seg(other, case["ct"], reference_files=case["files"])
    with pytest.raises(ReaderError, match="not a DICOM Segmentation"):
        read_dicom_seg(case["files"][0], case["ct"])


def test_pixel_spacing_other_than_the_reference_is_an_error(case: dict) -> None:
    ds = pydicom.dcmread(case["seg"])
    ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing = [3.0, 2.5]
    path = case["root"] / "seg" / "spacing.dcm"
    ds.save_as(path)
    with pytest.raises(ReaderError, match=r"column step .* different orientation or pixel spacing"):
        read_dicom_seg(path, case["ct"])


# --------------------------------------------------------------------------- relative position end to end

SOURCE_TOML = """id = "hcc-tace-seg-rp"
public_paths = true
name = "HCC-TACE-Seg, one item per DICOM-SEG"
license = "unknown"
access = "open"
homepage = "https://doi.org/10.7937/TCIA.5FNA-0924"
citation = "x"
how_to_obtain = "made by a test in the NBIA descriptive layout"
modality = "CT"
anatomy = "liver"
[layout]
item = "folder"
include = ["*Segmentation*/*.dcm"]
companions = ["../*/*.dcm"]
"""


@pytest.fixture(scope="module")
def tcia(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Three patients as NBIA lays them out; each study has two CT phases and one SEG of one of them."""
    root = tmp_path_factory.mktemp("tcia") / "HCC-TACE-Seg"
    phantoms = {}
    for n in (1, 2, 3):
        study = root / f"HCC_00{n}" / "01-01-2000-NA-CT ABDOMEN-1000"
        phantom = abdomen(n, shape=SHAPE, spacing=SPACING, contrast=True)
        plain = abdomen(n, shape=SHAPE, spacing=SPACING)
        art = write_ct_series(study / "4.000000-ARTERIAL-2000", phantom.hu, SPACING, phantom.origin, uid_seed=f"a{n}")
        write_ct_series(study / "2.000000-PRE-3000", plain.hu, SPACING, phantom.origin, uid_seed=f"p{n}")
        write_dicom_seg(
            study / "300.000000-Segmentation-4000" / "1-1.dcm",
            _masks(phantom.labels),
            art,
            SPACING,
            phantom.origin,
            uid_seed=f"s{n}",
        )
        phantoms[f"HCC_00{n}"] = phantom
    shutil.rmtree(root / "HCC_003" / "01-01-2000-NA-CT ABDOMEN-1000" / "4.000000-ARTERIAL-2000")
    (root / "source.toml").write_text(SOURCE_TOML)
    return {"root": root, "phantoms": phantoms}


def test_relative_position_from_dicom_seg_matches_the_phantom_geometry(tcia: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = run_cli("recipe", "relative-position", "--source", tcia["root"], "--out", out, "--seed", 5)
    assert code == 0, output
    manifest = json.loads((out / "manifest.json").read_text())
    (skip,) = manifest["skipped"]["items"]  # HCC_003: its referenced (arterial) series is missing
    assert skip["reason"] == "seg_reference_missing" and "HCC_003" in skip["key"]

    rows = list(load_config(out, "relative_position"))
    assert len(rows) == 2
    for row in rows:
        label, prov = json.loads(row["label"]), json.loads(row["provenance"])
        patient = prov["example_key"].split("/")[1]
        phantom = tcia["phantoms"][patient]
        paths = [i["path"] for i in prov["inputs"]]
        assert all("ARTERIAL" in p for p in paths[:-1]) and paths[-1].endswith("Segmentation-4000/1-1.dcm")
        assert len(paths) == SHAPE[0] + 1  # the referenced CT phase only, then the SEG
        a, b, k, view = label["structure_a"], label["structure_b"], label["slice_index"], label["view_transform"]
        for name in (a, b):
            assert label["mask_files"][name].endswith(f"1-1.dcm#segment={list(SEGMENTS.values()).index(name) + 1}")
        # centroids on slice k in LPS mm, from the phantom labels only (x = origin + i * sx)
        ca, cb = (
            np.argwhere(phantom.labels[k] == ORGAN_ID[n]).mean(axis=0)[::-1] * SPACING[:0:-1] + phantom.origin[:2]
            for n in (a, b)
        )
        if label["axis"] == "horizontal":
            a_right = ca[0] > cb[0]  # patient's left is the image right (radiological)
            expected = "right" if a_right != (view in ("flip_h", "rot180")) else "left"
        else:
            a_top = ca[1] < cb[1]  # anterior is up
            expected = "above" if a_top != (view in ("flip_v", "rot180")) else "below"
        assert label["relation"] == expected, (patient, a, b, view)
        ct = read_volume([tcia["root"] / p for p in paths[:-1]])
        np.testing.assert_array_equal(ct.data, phantom.hu)

    # nothing identifying from the DICOM files reaches the output
    seg = pydicom.dcmread(next(tcia["root"].rglob("1-1.dcm")), stop_before_pixels=True)
    secrets = [seg.FrameOfReferenceUID, seg.SeriesInstanceUID, seg.StudyInstanceUID, seg.SOPInstanceUID]
    secrets += [seg.ReferencedSeriesSequence[0].SeriesInstanceUID]
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s.encode() in data for s in secrets), path
