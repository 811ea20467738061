"""TotalSegmentator subjects: only the masks the recipe asks about are read, each NIfTI once."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from medblink_build.build.pipeline import BuildOptions, run_recipe
from medblink_build.readers import volume_nifti
from medblink_build.recipes.relative_position import STRUCTURES
from medblink_build.registry import find_recipe
from medblink_build.samples.phantoms_ct import ORGANS
from medblink_build.sources.resolve import resolve_source
from tests import layout_fixtures as lf

RECIPE = "relative-position"


@pytest.fixture
def subject_root(tmp_path: Path) -> Path:
    lf.write_totalsegmentator(tmp_path)
    return tmp_path / "totalsegmentator"


def _build(root: Path, out: Path) -> dict:
    run_recipe(find_recipe(RECIPE), [resolve_source(f"totalsegmentator={root}")], out, BuildOptions(seed=0, workers=1))
    return json.loads((out / "manifest.json").read_text())


def _account(manifest: dict) -> dict:
    (entry,) = [e for e in manifest["accounting"] if e["source"] == "totalsegmentator"]
    return entry


def _skips(manifest: dict) -> dict[str, tuple[str, str]]:
    return {s["key"]: (s["reason"], s["detail"]) for s in manifest["skipped"]["items"]}


def test_only_the_masks_asked_about_are_read_and_each_file_once(
    subject_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nibabel

    read: list[str] = []
    real = volume_nifti.read_nifti
    monkeypatch.setattr(
        volume_nifti, "read_nifti", lambda path, data=None: read.append(Path(path).name) or real(path, data)
    )

    def no_reopen(*args: object, **kwargs: object) -> None:
        raise AssertionError("nibabel opened a file by its path: the hashed bytes should have been parsed")

    monkeypatch.setattr(nibabel, "load", no_reopen)
    manifest = _build(subject_root, tmp_path / "out")
    assert _account(manifest)["in_rows"] > 0
    asked = {f"{name}.nii.gz" for name in ORGANS.values() if name in STRUCTURES}
    assert len(asked) == 9 and "vertebrae" not in asked  # the fixture's 11 masks less vertebrae and brain
    assert Counter(read) == {name: 2 for name in {"ct.nii.gz", *asked}}  # two subjects, each file once


def test_an_unreadable_mask_the_recipe_does_not_ask_about_is_a_companion(subject_root: Path, tmp_path: Path) -> None:
    before = _build(subject_root, tmp_path / "before")
    for subject in ("s0001", "s0002"):
        (subject_root / subject / "segmentations" / "brain.nii.gz").write_bytes(b"\x1f\x8b not gzip at all")
    after = _build(subject_root, tmp_path / "after")
    assert _skips(after) == {}
    assert _account(after) == _account(before)  # still filtered as the rows' companions, nothing lost
    assert "s0001/segmentations/brain.nii.gz" in _account(after)["filtered_paths"]["companion"]
    assert [c["rows"] for c in after["configs"].values()] == [c["rows"] for c in before["configs"].values()]


def test_a_damaged_mask_the_recipe_needs_is_a_recorded_skip_naming_it(subject_root: Path, tmp_path: Path) -> None:
    liver = subject_root / "s0001" / "segmentations" / "liver.nii.gz"
    liver.write_bytes(gzip.compress(gzip.decompress(liver.read_bytes()))[:-200])  # truncated
    manifest = _build(subject_root, tmp_path / "out")
    reason, detail = _skips(manifest)["totalsegmentator/s0001"]
    assert reason == "unreadable"
    assert "s0001/segmentations/liver.nii.gz" in detail, detail
    assert "totalsegmentator/s0002" not in _skips(manifest)


def test_byte_identical_empty_masks_are_decoded_once_and_give_the_same_rows(
    subject_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for subject in ("s0001", "s0002"):
        segs = subject_root / subject / "segmentations"
        for name in ("heart", "esophagus", "duodenum"):  # asked about, empty in this scan: as nibabel writes them
            (segs / f"{name}.nii.gz").write_bytes((segs / "brain.nii.gz").read_bytes())
    read: list[str] = []
    real = volume_nifti.read_nifti

    def spy(path: Path, data: bytes | None = None) -> object:
        read.append(Path(path).name)
        return real(path, data)

    monkeypatch.setattr(volume_nifti, "read_nifti", spy)
    reused = _build(subject_root, tmp_path / "reused")
    assert sorted(n for n in read if n in {"heart.nii.gz", "esophagus.nii.gz", "duodenum.nii.gz"}) == [
        "duodenum.nii.gz",
        "duodenum.nii.gz",
    ]  # the first in each subject (alphabetical order) is decoded, the other two are not
    monkeypatch.setattr(volume_nifti.EmptyVolumes, "get", lambda self, digest: None)
    decoded = _build(subject_root, tmp_path / "decoded")
    for config in reused["configs"].values():
        for f in config["files"]:
            assert (tmp_path / "reused" / f["path"]).read_bytes() == (tmp_path / "decoded" / f["path"]).read_bytes()
    assert _account(reused) == _account(decoded)
    assert "s0001/segmentations/heart.nii.gz" not in _account(reused)["filtered_paths"].get("companion", [])


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nii"])
def test_read_nifti_from_bytes_equals_reading_the_file(tmp_path: Path, name: str) -> None:
    import numpy as np

    from medblink_build.samples.volume_writer import write_nifti

    hu = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 60
    path = write_nifti(tmp_path / name, hu, (2.0, 0.8, 0.7), (10.0, -5.0, 3.0), axis_codes="RAS")
    from_file, from_bytes = volume_nifti.read_nifti(path), volume_nifti.read_nifti(path, path.read_bytes())
    assert np.array_equal(from_bytes.data, from_file.data) and from_bytes.data.dtype == from_file.data.dtype
    assert from_bytes.data.flags.c_contiguous
    assert (from_bytes.spacing, from_bytes.origin, from_bytes.meta) == (
        from_file.spacing,
        from_file.origin,
        from_file.meta,
    )


def test_read_nifti_from_damaged_bytes_is_a_reader_error_naming_the_file(tmp_path: Path) -> None:
    from medblink_build.errors import ReaderError

    path = tmp_path / "m.nii.gz"
    for data, problem in ((b"", "empty file"), (b"\x1f\x8bnot gzip", "cannot read NIfTI header")):
        with pytest.raises(ReaderError, match=problem) as info:
            volume_nifti.read_nifti(path, data)
        assert "m.nii.gz" in str(info.value)


#: nibabel's own test files (real NIfTI-1 volumes, plain and gzipped).
NIBABEL_FILES = ["anatomical.nii", "standard.nii.gz", "reoriented_anat_moved.nii"]  # >i2, u1 gzipped, >f4


@pytest.mark.parametrize("name", NIBABEL_FILES)
def test_voxels_inflated_from_bytes_equal_nibabels_own_read(name: str, tmp_path: Path) -> None:
    """The bytes path inflates unscaled voxels straight into their array; it must give exactly
    what nibabel's `dataobj` gives (the file path below goes through nibabel), dtype included."""
    import numpy as np
    from nibabel.testing import data_path

    path = Path(data_path) / name
    from_bytes = volume_nifti.read_nifti(path, path.read_bytes())
    through_nibabel = volume_nifti.read_nifti(path)
    assert from_bytes.data.dtype == through_nibabel.data.dtype
    assert np.array_equal(from_bytes.data, through_nibabel.data)
    assert np.array_equal(from_bytes.affine(), through_nibabel.affine())
    # cut inside the voxels: a clear error naming the shortfall, not a short volume
    cut = gzip.compress(gzip.decompress(path.read_bytes())[:-100]) if name.endswith(".gz") else path.read_bytes()[:-100]
    with pytest.raises(volume_nifti.ReaderError, match="truncated"):
        volume_nifti.read_nifti(tmp_path / name, cut)


@pytest.mark.parametrize("signs", [(1, 1, 1), (-1, -1, 1), (-1, 1, -1), (1, -1, -1), (-1, -1, -1)])
@pytest.mark.parametrize("compressed", [False, True])
def test_voxels_written_flipped_while_inflated_equal_the_flip_afterwards(
    signs: tuple[int, int, int], compressed: bool, tmp_path: Path
) -> None:
    """Planes written flipped as they are inflated (a few MB at a time, so across chunk borders:
    planes of odd sizes, more than one chunk) give the volume nibabel's read and the canonical
    flip give, for every flip combination; a file in two gzip members reads the same."""
    import nibabel as nib
    import numpy as np

    rng = np.random.default_rng(abs(sum(signs)) + compressed)
    data = rng.integers(-1000, 1000, size=(123, 77, 300), dtype=np.int16)  # 5.7 MB: chunks of 4 MB
    affine = np.diag([0.7 * signs[0], 0.8 * signs[1], 1.5 * signs[2], 1.0])
    path = tmp_path / ("v.nii.gz" if compressed else "v.nii")
    nib.save(nib.Nifti1Image(data, affine), path)
    from_bytes = volume_nifti.read_nifti(path, path.read_bytes())
    through_nibabel = volume_nifti.read_nifti(path)
    assert np.array_equal(from_bytes.data, through_nibabel.data)
    assert from_bytes.origin == through_nibabel.origin and from_bytes.meta == through_nibabel.meta
    if compressed:
        raw = gzip.decompress(path.read_bytes())
        two = gzip.compress(raw[:1_000_003]) + gzip.compress(raw[1_000_003:])
        assert np.array_equal(volume_nifti.read_nifti(path, two).data, through_nibabel.data)
