"""End to end: the orientation recipe over real-format files to a Hub folder, loaded back."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medblink_build.readers import read_image
from medblink_build.recipes.orientation import ROTATIONS, TASK_BY_ANATOMY
from medblink_build.transforms import replay
from tests.conftest import load_config

CONFIGS = sorted(set(TASK_BY_ANATOMY.values()))
COLUMNS = {
    "id",
    "task",
    "question",
    "choices",
    "answer",
    "answer_text",
    "images",
    "prompt",
    "modality",
    "anatomy",
    "source",
    "license",
    "label",
    "provenance",
}


def _tree_digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def built(xray_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("e2e") / "out"
    code, output = run_cli(
        "recipe", "orientation", "--source", f"medblink-sample-xray={xray_source}", "--out", out, "--seed", 7, "--quiet"
    )
    assert code == 0, output
    return out


def _load(out: Path, config: str):  # type: ignore[no-untyped-def]
    return load_config(out, config)


def test_loads_with_datasets_and_has_contract_columns(built: Path) -> None:
    for config in CONFIGS:
        ds = _load(built, config)
        assert set(ds.column_names) == COLUMNS
        assert len(ds) > 0
        for row in ds:
            assert row["task"] == config
            assert row["answer"] in "ABCD"[: len(row["choices"])]
            assert isinstance(row["images"][0], Image.Image)
            for letter, choice in zip("ABCD", row["choices"], strict=False):
                assert f"({letter}) {choice}" in row["prompt"]
            assert row["license"] == "CC0-1.0"
            assert row["source"] == "medblink-sample-xray"
            assert row["modality"] == "X-ray"


def test_answer_is_derived_from_the_applied_transform(built: Path, xray_source: Path) -> None:
    """Re-read each source file, replay the recorded transforms, compare pixels and the answer."""
    checked = 0
    for config in CONFIGS:
        ds = _load(built, config)
        for row in ds:
            label, prov = json.loads(row["label"]), json.loads(row["provenance"])
            (inp,) = prov["inputs"]
            source_file = xray_source / inp["path"]
            assert hashlib.sha256(source_file.read_bytes()).hexdigest() == inp["sha256"]
            expected = replay(prov["transforms"], read_image(source_file).pixels)
            actual = np.asarray(row["images"][0])
            np.testing.assert_array_equal(actual, expected)
            # The last transform is the question's rotation, and the answer names it.
            assert prov["transforms"][-1] == {"name": "dihedral", "params": {"element": label["rotation"]}}
            answer_text = row["choices"]["ABCD".index(row["answer"])]
            assert answer_text == ROTATIONS[label["rotation"]] == row["answer_text"]
            checked += 1
    assert checked >= 10


def test_mirrored_dicom_is_canonicalised_not_mislabelled(built: Path, xray_source: Path) -> None:
    """chest_003 is stored mirrored with PatientOrientation R\\F; the build must flip it back."""
    ds = _load(built, "imaging_orientation_cxr")
    rows = [r for r in ds if json.loads(r["provenance"])["inputs"][0]["path"] == "chest/chest_003.dcm"]
    assert len(rows) == 1
    prov, label = json.loads(rows[0]["provenance"]), json.loads(rows[0]["label"])
    assert label["stored_orientation"] == ["R", "F"]
    assert label["canonicalised_by"] == "flip_h"
    assert prov["transforms"][0] == {"name": "dihedral", "params": {"element": "flip_h"}}
    # After the canonical flip the image equals an upright phantom: heart shadow on the image right.
    upright = replay(prov["transforms"][:1], read_image(xray_source / "chest/chest_003.dcm").pixels)
    h, w = upright.shape
    band = upright[h // 2 : 3 * h // 4].astype(float)
    assert band[:, w // 2 :].mean() > band[:, : w // 2].mean()


def test_lateral_view_is_skipped_with_reason(built: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    skipped = {s["key"]: s for s in manifest["skipped"]["items"]}
    assert skipped["medblink-sample-xray/chest/chest_001.dcm"]["reason"] == "not_frontal_view"
    assert manifest["skipped"]["by_reason"] == {"not_frontal_view": 1}
    # README.txt is not an image and is not an item at all.
    assert not any("README" in key for key in skipped)


def test_answer_letters_are_balanced(built: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    for config in CONFIGS:
        letters = manifest["configs"][config]["answer_letters"]
        counts = [letters.get(letter, 0) for letter in "ABCD"]
        assert max(counts) - min(counts) <= 1, letters


def test_manifest_records_inputs_digests_and_versions(built: Path, xray_source: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["format"] == "medblink-build-output"
    assert manifest["recipes"] == {"orientation": "1.1.0"}
    assert manifest["seed"] == 7
    for entry in manifest["inputs"]:
        digest = hashlib.sha256((xray_source / entry["path"]).read_bytes()).hexdigest()
        assert entry["sha256"] == digest
    for config in CONFIGS:
        info = manifest["configs"][config]
        for f in info["files"]:
            assert hashlib.sha256((built / f["path"]).read_bytes()).hexdigest() == f["sha256"]
        assert len(info["examples"]) == info["rows"] == len(_load(built, config))


def test_card_has_configs_license_and_sources(built: Path) -> None:
    card = (built / "README.md").read_text()
    import yaml

    header = yaml.safe_load(card.split("---")[1])
    assert header["license"] == "cc0-1.0"
    assert {c["config_name"] for c in header["configs"]} == set(CONFIGS)
    assert "medblink-build synthetic radiograph phantoms" in card
    assert "How the labels were derived" in card


def test_same_seed_same_bytes_across_worker_counts(xray_source: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    digests = []
    for i, workers in enumerate((1, 2, 1)):
        out = tmp_path / f"out{i}"
        code, output = cli(
            "recipe",
            "orientation",
            "--source",
            f"medblink-sample-xray={xray_source}",
            "--out",
            out,
            "--workers",
            workers,
            "--quiet",
        )
        assert code == 0, output
        digests.append(_tree_digests(out))
    assert digests[0] == digests[1] == digests[2]
    assert any(k.endswith(".parquet") for k in digests[0])


def test_other_seed_changes_the_draw(xray_source: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    labels = []
    for seed in (1, 2):
        out = tmp_path / f"s{seed}"
        code, output = cli(
            "recipe",
            "orientation",
            "--source",
            f"medblink-sample-xray={xray_source}",
            "--out",
            out,
            "--seed",
            seed,
            "--quiet",
        )
        assert code == 0, output
        ds = _load(out, "imaging_orientation_pelvic")
        labels.append(sorted((r["id"], json.loads(r["label"])["rotation"]) for r in ds))
    assert labels[0] != labels[1]


def test_limit_caps_each_config(xray_source: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "limited"
    code, output = cli(
        "recipe", "orientation", "--source", f"medblink-sample-xray={xray_source}", "--out", out, "--limit", 3
    )
    assert code == 0, output
    assert "imaging_orientation_cxr 3" in output and "imaging_orientation_pelvic 3" in output
    for config in CONFIGS:
        assert len(_load(out, config)) == 3


def test_default_run_uses_the_built_in_sample(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "sample"
    code, output = cli("recipe", "orientation", "--out", out, "--limit", 2)
    assert code == 0, output
    assert "sample build" in output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sample"] is True
    assert "Sample build" in (out / "README.md").read_text()
    image = _load(out, "imaging_orientation_cxr")[0]["images"][0]
    assert image.size == (512, 512)  # the sample is 512 px, below the 1024 px cap


def test_built_in_samples_are_written_byte_identically(tmp_path: Path) -> None:
    """Sample sources are regenerated per run: their bytes (UIDs included) must not change."""
    from medblink_build.manifests import builtin_manifests
    from medblink_build.sources.samples import materialize_sample

    generated = [m.id for m in builtin_manifests().values() if m.generator]
    assert "medblink-sample-xray" in generated
    for source_id in generated:
        first = materialize_sample(source_id, tmp_path / "a").root
        second = materialize_sample(source_id, tmp_path / "b").root
        assert _tree_digests(first) == _tree_digests(second), source_id
