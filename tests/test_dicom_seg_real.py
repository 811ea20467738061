"""DICOM SEG reading on real files: highdicom's own test SEGs over the pydicom CT series they were made from.

The masks are checked against highdicom's frame-to-source mapping (`get_pixels_by_source_frame`),
an independent path from the geometric placement the reader uses.
"""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from medblink_build.errors import ReaderError
from medblink_build.readers import read_volume
from medblink_build.readers.dicom_seg import read_dicom_seg

DATA = Path(__file__).parent / "data" / "highdicom"
CT2 = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests" / "77654033" / "CT2"


@pytest.fixture(scope="module")
def ct() -> tuple[list[Path], object]:
    """The three contiguous slices of CT2 (its first file lies 202 mm away: the whole series is refused)."""
    files = sorted(CT2.iterdir())[1:]
    return files, read_volume(files)


def _by_source_frame(seg_path: Path, files: list[Path], volume: object) -> np.ndarray:
    """highdicom's pixels per referenced CT instance, stacked in the reference's slice order (z up)."""
    seg = hd.seg.segread(seg_path)
    by_z = sorted(files, key=lambda f: float(pydicom.dcmread(f).ImagePositionPatient[2]))
    uids = [pydicom.dcmread(f).SOPInstanceUID for f in by_z]
    pixels = seg.get_pixels_by_source_instance(uids, segment_numbers=[1], rescale_fractional=False)
    return pixels[..., 0]


def test_binary_seg_lands_on_the_slices_it_references(ct: tuple) -> None:
    files, volume = ct
    masks = read_dicom_seg(DATA / "seg_image_ct_binary.dcm", volume, reference_files=files)
    assert list(masks) == ["first_segment"] and masks.numbers == {"first_segment": 1}
    expected = _by_source_frame(DATA / "seg_image_ct_binary.dcm", files, volume) != 0
    assert masks["first_segment"].shape == volume.shape and masks["first_segment"].any()
    np.testing.assert_array_equal(masks["first_segment"], expected.astype(np.uint8))


def test_fractional_seg_is_thresholded_at_half_of_its_maximum(ct: tuple) -> None:
    files, volume = ct
    masks = read_dicom_seg(DATA / "seg_image_ct_true_fractional.dcm", volume, reference_files=files)
    stored = _by_source_frame(DATA / "seg_image_ct_true_fractional.dcm", files, volume)
    assert set(np.unique(stored)) == {0, 64, 128}  # 64/255 is under half, 128/255 over
    np.testing.assert_array_equal(masks["first_segment"], (stored.astype(int) * 2 >= 255).astype(np.uint8))
    assert 0 < masks["first_segment"].sum() < (stored > 0).sum()


def test_seg_reaching_beyond_the_reference_is_refused_not_cropped(ct: tuple) -> None:
    files, volume = ct
    with pytest.raises(ReaderError, match=r"seg_image_ct_binary_overlap\.dcm: the segmentation lies outside"):
        read_dicom_seg(DATA / "seg_image_ct_binary_overlap.dcm", volume, reference_files=files)
