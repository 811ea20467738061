"""The CT recipes end to end: enhancement (evidence, skips) and relative position (geometry)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from pydicom.data import get_testdata_file

from medblink_build.readers import read_volume
from medblink_build.samples.phantoms_ct import ORGANS, abdomen
from medblink_build.samples.sample_ct import write_ct_seg_sample, write_ct_series_sample
from medblink_build.samples.volume_writer import write_ct_series, write_nifti
from medblink_build.transforms import replay
from tests.conftest import load_config, run_cli


def _rows(out: Path, config: str) -> list[dict]:
    return list(load_config(out, config))


@pytest.fixture(scope="module")
def series_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ct_series_sample(tmp_path_factory.mktemp("ct") / "series")


@pytest.fixture(scope="module")
def seg_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ct_seg_sample(tmp_path_factory.mktemp("ct") / "seg")


@pytest.fixture(scope="module")
def enhancement_out(series_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("enh") / "out"
    code, output = run_cli(
        "recipe", "enhancement", "--source", f"medblink-sample-ct-series={series_source}", "--out", out, "--quiet"
    )
    assert code == 0, output
    return out


@pytest.fixture(scope="module")
def position_out(seg_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pos") / "out"
    code, output = run_cli(
        "recipe",
        "relative-position",
        "--source",
        f"medblink-sample-ct-seg={seg_source}",
        "--out",
        out,
        "--quiet",
        "--seed",
        3,
    )
    assert code == 0, output
    return out


def test_enhancement_label_follows_the_evidence_written_into_each_series(enhancement_out: Path) -> None:
    from medblink_build.samples.sample_ct import SERIES_CASES

    rows = _rows(enhancement_out, "image_enhancement_detection")
    by_input = {json.loads(r["provenance"])["inputs"][0]["path"].split("/")[1]: r for r in rows}
    for i, (contrast, agent, _desc, _syntax, _names) in enumerate(SERIES_CASES):
        name = f"case_{i:03d}"
        if agent == "":
            assert name not in by_input  # present-but-empty tag, neutral description: no evidence
            continue
        label = json.loads(by_input[name]["label"])
        assert label["contrast"] is contrast, name
        answer = by_input[name]["choices"]["AB".index(by_input[name]["answer"])]
        assert answer.startswith("Yes" if contrast else "No")
    header_texts = {t for _c, agent, desc, _s, _n in SERIES_CASES for t in (agent, desc) if t and t != "ABDOMEN"}
    for r in rows:  # SeriesDescription / ContrastBolusAgent text is evidence only, never output
        assert not [t for t in header_texts if t in r["provenance"] + r["label"]], r["label"]
    table_rows = [r for r in rows if "single/" in r["provenance"]]
    assert len(table_rows) == 2
    for r in table_rows:
        assert json.loads(r["label"])["evidence"] == "labels table contrast column"
        assert ("CONTRAST_1" in r["provenance"]) == json.loads(r["label"])["contrast"]


def test_empty_contrast_tag_is_skipped_not_labelled(enhancement_out: Path) -> None:
    manifest = json.loads((enhancement_out / "manifest.json").read_text())
    skipped = {s["key"]: s["reason"] for s in manifest["skipped"]["items"]}
    assert skipped == {"medblink-sample-ct-series/series/case_006": "no_contrast_evidence"}


def test_enhancement_image_is_the_windowed_slice_of_the_series(enhancement_out: Path, series_source: Path) -> None:
    for row in _rows(enhancement_out, "image_enhancement_detection"):
        prov, label = json.loads(row["provenance"]), json.loads(row["label"])
        volume = read_volume([series_source / i["path"] for i in prov["inputs"]])
        expected = replay(prov["transforms"], volume.data[label["slice_index"]])
        np.testing.assert_array_equal(np.asarray(row["images"][0]), expected)
        assert prov["transforms"][0]["params"] == {"preset": "soft_tissue", "center": 40.0, "width": 400.0}


def test_shipped_pydicom_ct_is_labelled_from_its_contrast_agent(tmp_path: Path) -> None:
    src = tmp_path / "pydicom_ct"
    src.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "CT_small.dcm")
    (src / "source.toml").write_text(
        'id = "pydicom-ct"\n'
        'public_paths = true\nname = "pydicom CT_small"\nlicense = "MIT"\naccess = "open"\nhomepage = "x"\n'
        'citation = "pydicom"\nhow_to_obtain = "ships with pydicom"\nmodality = "CT"\nanatomy = "unknown"\n'
        '[layout]\nitem = "series"\n'
    )
    code, output = run_cli("recipe", "enhancement", "--source", src, "--out", tmp_path / "out")
    assert code == 0, output
    (row,) = _rows(tmp_path / "out", "image_enhancement_detection")
    label = json.loads(row["label"])
    assert label["contrast"] is True
    assert label["evidence"] == (
        'ContrastBolusAgent names the known agent "iopamidol"; ContrastBolusRoute names the route "intravenous"'
    )
    assert "ISOVUE" not in row["provenance"] + row["label"]  # header text is evidence, never output


def test_series_with_a_missing_slice_is_a_recorded_skip(tmp_path: Path) -> None:
    phantom = abdomen(1, shape=(12, 64, 64), spacing=(5.0, 3.0, 3.0), contrast=True)
    src = tmp_path / "gappy"
    write_ct_series(
        src / "case",
        phantom.hu,
        phantom.spacing,
        phantom.origin,
        uid_seed="gap",
        contrast_agent="OMNIPAQUE",
        skip_slices={5},
    )
    (src / "source.toml").write_text(
        'id = "gappy"\nname = "gappy"\nlicense = "CC0-1.0"\naccess = "open"\nhomepage = "x"\ncitation = "x"\n'
        'how_to_obtain = "made by a test"\nmodality = "CT"\nanatomy = "abdomen"\n[layout]\nitem = "series"\n'
    )
    code, output = run_cli("recipe", "enhancement", "--source", src, "--out", tmp_path / "out", "--allow-empty")
    assert code == 0, output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    (skip,) = manifest["skipped"]["items"]
    assert skip["reason"] == "unreadable" and "missing slice" in skip["detail"]
    code, output = run_cli("recipe", "enhancement", "--source", src, "--out", tmp_path / "out2", "--strict")
    assert code != 0 and "missing slice" in output


def _lps_centroid_with_nibabel(path: Path) -> np.ndarray:
    """The mask centroid in LPS mm, computed with nibabel only (independent of our readers)."""
    img = nib.load(str(path))
    ijk = np.argwhere(np.asanyarray(img.dataobj) > 0).mean(axis=0)
    ras = img.affine[:3, :3] @ ijk + img.affine[:3, 3]
    return np.array([-ras[0], -ras[1], ras[2]])


def test_relative_position_answer_matches_patient_geometry_and_view(position_out: Path, seg_source: Path) -> None:
    """Patient's left must be image right (radiological), anterior up, then each view transform moves it."""
    rows = _rows(position_out, "relative_position")
    assert len(rows) >= 4
    views = set()
    for row in rows:
        label = json.loads(row["label"])
        a, b = label["structure_a"], label["structure_b"]
        ca = _lps_centroid_with_nibabel(seg_source / label["mask_files"][a])
        cb = _lps_centroid_with_nibabel(seg_source / label["mask_files"][b])
        view = label["view_transform"]
        views.add(view)
        if label["axis"] == "horizontal":
            a_right = ca[0] > cb[0]  # more to the patient's left = further right in radiological display
            if view in ("flip_h", "rot180"):
                a_right = not a_right
            expected = "right" if a_right else "left"
        else:
            a_top = ca[1] < cb[1]  # more anterior = higher in the image
            if view in ("flip_v", "rot180"):
                a_top = not a_top
            expected = "above" if a_top else "below"
        assert label["relation"] == expected, (a, b, view)
        answer = row["choices"]["AB".index(row["answer"])]
        assert expected in answer.lower() or (expected == "above" and "above" in answer.lower())
    assert len(views) >= 2


def test_relative_position_pixels_replay_from_the_ct(position_out: Path, seg_source: Path) -> None:
    for row in _rows(position_out, "relative_position"):
        prov, label = json.loads(row["provenance"]), json.loads(row["label"])
        ct = read_volume([seg_source / prov["inputs"][0]["path"]])
        np.testing.assert_array_equal(
            np.asarray(row["images"][0]), replay(prov["transforms"], ct.data[label["slice_index"]])
        )


def test_flipped_storage_and_mismatched_mask_are_handled(position_out: Path) -> None:
    manifest = json.loads((position_out / "manifest.json").read_text())
    skipped = {s["key"]: s for s in manifest["skipped"]["items"]}
    assert skipped["medblink-sample-ct-seg/s0003"]["reason"] == "mask_mismatch"
    assert "liver.nii.gz" in skipped["medblink-sample-ct-seg/s0003"]["detail"]
    assert "medblink-sample-ct-seg/s0002" not in skipped  # stored flipped, canonicalised, used


def test_organ_on_patient_left_is_on_image_right(tmp_path: Path) -> None:
    """A minimal volume: one blob on the patient's left, one on the right; the answer must say so."""
    shape, spacing, origin = (6, 64, 64), (5.0, 2.0, 2.0), (-64.0, -64.0, 0.0)
    ct = np.full(shape, 40, np.int16)
    left = np.zeros(shape, np.uint8)
    right = np.zeros(shape, np.uint8)
    left[:, 20:40, 44:58] = 1  # high x index = patient's left
    right[:, 20:40, 6:20] = 1
    subject = tmp_path / "src" / "s0001"
    write_nifti(subject / "ct.nii.gz", ct, spacing, origin, axis_codes="RAS")
    write_nifti(subject / "segmentations" / "spleen.nii.gz", left, spacing, origin, axis_codes="PIR")
    write_nifti(subject / "segmentations" / "liver.nii.gz", right, spacing, origin, axis_codes="PIR")
    (tmp_path / "src" / "meta.csv").write_text("image_id;age;gender\n")
    code, output = run_cli(
        "recipe",
        "relative-position",
        "--source",
        f"medblink-sample-ct-seg={tmp_path / 'src'}",
        "--out",
        tmp_path / "out",
    )
    assert code == 0, output
    (row,) = _rows(tmp_path / "out", "relative_position")
    label = json.loads(row["label"])
    spleen_x = label["centroids_px"]["spleen"][0]
    liver_x = label["centroids_px"]["liver"][0]
    if label["view_transform"] in ("identity", "flip_v"):
        assert spleen_x > liver_x  # patient's left is image right
    else:
        assert spleen_x < liver_x


def test_empty_masks_give_no_pair_skip(tmp_path: Path) -> None:
    subject = tmp_path / "src" / "s0001"
    shape, spacing, origin = (4, 32, 32), (5.0, 2.0, 2.0), (0.0, 0.0, 0.0)
    write_nifti(subject / "ct.nii.gz", np.zeros(shape, np.int16), spacing, origin)
    for organ in ("liver", "spleen"):
        write_nifti(subject / "segmentations" / f"{organ}.nii.gz", np.zeros(shape, np.uint8), spacing, origin)
    (tmp_path / "src" / "meta.csv").write_text("image_id;age;gender\n")
    code, output = run_cli(
        "recipe",
        "relative-position",
        "--source",
        f"medblink-sample-ct-seg={tmp_path / 'src'}",
        "--out",
        tmp_path / "out",
        "--allow-empty",
    )
    assert code == 0, output
    assert "no_clear_pair 1" in output


def test_relative_position_is_byte_identical_across_worker_counts(seg_source: Path, tmp_path: Path) -> None:
    digests = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        code, output = run_cli(
            "recipe",
            "relative-position",
            "--source",
            f"medblink-sample-ct-seg={seg_source}",
            "--out",
            out,
            "--workers",
            workers,
            "--quiet",
        )
        assert code == 0, output
        digests.append({p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()})
    assert digests[0] == digests[1]


def test_label_map_masks_as_amos_ships_them(tmp_path: Path) -> None:
    """AMOS layout: imagesTr/amos_NNNN.nii.gz + labelsTr/amos_NNNN.nii.gz with values named by the manifest."""
    phantom = abdomen(5, shape=(24, 96, 96), spacing=(6.0, 3.0, 3.0))
    amos_ids = {"spleen": 1, "kidney_right": 2, "kidney_left": 3, "liver": 6, "aorta": 8}
    labels = np.zeros_like(phantom.labels)
    for organ_id, name in ORGANS.items():
        if name in amos_ids:
            labels[phantom.labels == organ_id] = amos_ids[name]
    root = tmp_path / "amos"
    write_nifti(root / "imagesTr" / "amos_0007.nii.gz", phantom.hu, phantom.spacing, phantom.origin)
    write_nifti(root / "labelsTr" / "amos_0007.nii.gz", labels, phantom.spacing, phantom.origin)
    write_nifti(root / "imagesTr" / "amos_0507.nii.gz", phantom.hu, phantom.spacing, phantom.origin)  # MR id: not read
    code, output = run_cli("recipe", "relative-position", "--source", f"amos-2022={root}", "--out", tmp_path / "out")
    assert code == 0, output
    (row,) = load_config(tmp_path / "out", "relative_position")
    label = json.loads(row["label"])
    names = {label["structure_a"], label["structure_b"]}
    assert names <= set(amos_ids)
    for name in names:
        assert label["mask_files"][name] == f"labelsTr/amos_0007.nii.gz#label={amos_ids[name]}"
    assert row["license"] == "CC-BY-SA-4.0"


def test_phase_labelled_sources_are_asked_the_phase_of_every_series(series_source: Path, tmp_path: Path) -> None:
    src = tmp_path / "phases"
    shutil.copytree(series_source / "series", src / "series")
    (src / "source.toml").write_text(
        'id = "phased"\n'
        'public_paths = true\nname = "phased"\nlicense = "CC0-1.0"\naccess = "open"\nhomepage = "x"\ncitation = "x"\n'
        'how_to_obtain = "test"\nmodality = "CT"\nanatomy = "abdomen"\n[layout]\nitem = "series"\n'
        '[defaults]\nphase_labels = "yes"\n'
    )
    out = tmp_path / "out"
    code, output = run_cli("recipe", "enhancement", "--source", src, "--out", out)
    assert code == 0, output
    rows = load_config(out, "image_enhancement_detection")
    answers = {}
    for row in rows:
        label = json.loads(row["label"])
        assert label["question"] == "phase" and len(row["choices"]) == 4
        answers[json.loads(row["provenance"])["inputs"][0]["path"].split("/")[1]] = row["choices"][
            "ABCD".index(row["answer"])
        ]
    assert answers["case_000"] == "Portal venous phase"  # ABD PORTAL VENOUS
    assert answers["case_004"] == "Arterial phase"  # ARTERIAL PHASE
    assert answers["case_001"].startswith("Non-contrast")  # W/O CONTRAST: asked the same question
    skipped = json.loads((out / "manifest.json").read_text())["skipped"]["by_reason"]
    assert skipped.get("phase_unknown") == 1  # IOPAMIDOL agent, description names no phase
