"""Hostile inputs found by the adversarial runs of issue 14: header floats, unbounded images, memory
budgets, special files, truncated codestreams, stale resume keys and non-deterministic messages.
Real files (pydicom's test files) wherever a reader is involved."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from medblink_build.errors import ReaderError
from medblink_build.readers.dicom_image import read_dicom_header
from tests.conftest import run_cli


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def _ct_copy(folder: Path, name: str = "ct.dcm", **changes: object) -> Path:
    """pydicom's real CT_small.dcm, with some header values changed, labelled as a chest film."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(folder / name)
    with open(folder / "labels.csv", "a", encoding="utf-8") as f:
        if f.tell() == 0:
            f.write("path,anatomy,view\n")
        f.write(f"{name},chest,PA\n")
    return folder / name


# --- 4: header floats ----------------------------------------------------------------------------


@pytest.mark.parametrize("keyword", ["RescaleSlope", "RescaleIntercept", "WindowWidth"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_header_float_skips_the_item(tmp_path: Path, keyword: str, value: float) -> None:
    root = tmp_path / "src"
    _ct_copy(root, **{keyword: value})
    code, output = run_cli("recipe", "orientation", "--source", root, "--out", tmp_path / "out", "--quiet")
    assert code == 0, output
    [skip] = _manifest(tmp_path / "out")["skipped"]["items"]
    assert skip["reason"] == "unreadable" and keyword in skip["detail"] and "finite" in skip["detail"]


def test_nan_in_a_nested_sequence_and_an_empty_voi_lut_are_reader_errors(tmp_path: Path) -> None:
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    region = Dataset()
    region.PhysicalDeltaX, region.PhysicalDeltaY = float("nan"), 0.1
    ds.SequenceOfUltrasoundRegions = [region]
    ds.save_as(tmp_path / "us.dcm")
    with pytest.raises(ReaderError, match="PhysicalDeltaX = nan"):
        read_dicom_header(tmp_path / "us.dcm")

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    voi = Dataset()
    voi.LUTDescriptor = [0, 0, 16]
    voi.LUTData = []
    ds.VOILUTSequence = [voi]
    ds.save_as(tmp_path / "voi.dcm")
    with pytest.raises(ReaderError, match="VOI LUT"):
        read_dicom_header(tmp_path / "voi.dcm")


def test_a_nan_that_passes_the_readers_skips_the_item_not_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's last check: a non-finite value in provenance is an item skip, never a crash."""
    import medblink_build.readers.dicom_image as dicom_image

    monkeypatch.setattr(dicom_image, "check_dicom_floats", lambda ds, path: None)
    root = tmp_path / "src"
    _ct_copy(root, RescaleSlope=float("nan"))
    code, output = run_cli("recipe", "orientation", "--source", root, "--out", tmp_path / "out", "--quiet")
    assert code == 0, output
    [skip] = _manifest(tmp_path / "out")["skipped"]["items"]
    assert skip["reason"] == "non_finite_value"
