"""The release path: build every recipe into one folder, verify it, explain a row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medblink_build.release.definition import builtin_releases
from medblink_build.release.verify import verify_folder
from tests.conftest import load_config, run_cli


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release") / "medblink"
    code, output = run_cli("build", "--out", out, "--version", "1.0.1")
    assert code == 0, output
    assert "wrote sample release MedBLINK 1.0.1" in output
    assert "files: " in output and " in rows / " in output and " filtered " in output
    return out


def test_multi_recipe_build_accounts_per_source_and_recipe(release: Path) -> None:
    accounting = json.loads((release / "manifest.json").read_text())["accounting"]
    pairs = [(a["source"], a["recipe"]) for a in accounting]
    assert len(pairs) == len(set(pairs)) and len({r for _, r in pairs}) >= 8
    for entry in accounting:
        assert entry["files"] == entry["in_rows"] + entry["skipped"] + entry["filtered"] > 0, entry
        assert "unaccounted" not in entry["filtered_by_reason"], entry


def test_published_counts_are_the_default_release() -> None:
    counts = {t.id: t.count for t in builtin_releases()["medblink-1.0"].tasks}
    assert sum(counts.values()) == 1429
    assert counts["imaging_orientation_cxr"] == 200 and counts["morphology_quantification"] == 88


def test_sample_release_has_every_task_or_says_why_not(release: Path) -> None:
    manifest = json.loads((release / "manifest.json").read_text())
    info = manifest["release"]
    assert info["version"] == "1.0.1" and manifest["sample"] is True
    for task in info["expected_counts"]:
        if task in info["missing_tasks"]:
            assert info["missing_tasks"][task]  # a reason, never a silent drop
        else:
            rows = load_config(release, task)
            assert len(rows) == manifest["configs"][task]["rows"] > 0
    assert "imaging_orientation_cxr" in manifest["configs"] and "relative_position" in manifest["configs"]


def test_missing_sources_are_reported_per_task(tmp_path: Path) -> None:
    root = tmp_path / "sources"
    root.mkdir()
    code, output = run_cli("build", "--sources-root", root, "--out", tmp_path / "out")
    assert code != 0 and "no rows were built" in output  # nothing at all: an error unless asked for
    assert not (tmp_path / "out").exists()
    code, output = run_cli("build", "--sources-root", root, "--out", tmp_path / "out", "--allow-empty")
    assert code == 0, output
    assert "MISSING: sources not found" in output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["release"]["missing_tasks"]["imaging_orientation_cxr"].startswith("sources not found")
    assert manifest["configs"] == {}


def test_verify_passes_then_names_the_changed_example(release: Path, tmp_path: Path) -> None:
    code, output = run_cli("verify", release)
    assert code == 0 and "OK" in output, output
    # Change one byte of one image inside a parquet file, rewriting the file as the writer would.
    manifest = json.loads((release / "manifest.json").read_text())
    config = "imaging_orientation_pelvic"
    target = release / manifest["configs"][config]["files"][0]["path"]
    table = pq.read_table(target)
    rows = table.to_pylist()
    victim = rows[1]["id"]
    image = bytearray(rows[1]["images"][0]["bytes"])
    image[len(image) // 2] ^= 0xFF
    rows[1]["images"][0]["bytes"] = bytes(image)
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), target, compression="zstd")
    report = verify_folder(release)
    assert not report.ok
    assert report.first_difference is not None and report.first_difference.example_id == victim
    code, output = run_cli("verify", release)
    assert code != 0
    assert f"first differing example: {config}/{victim}" in output
    assert "sha256 differs" in output


def test_verify_against_a_published_build_reports_both_provenances(tmp_path: Path) -> None:
    a, b = tmp_path / "local", tmp_path / "published"
    assert run_cli("recipe", "orientation", "--out", a, "--seed", 1, "--limit", 3)[0] == 0
    assert run_cli("recipe", "orientation", "--out", b, "--seed", 1, "--limit", 3)[0] == 0
    code, output = run_cli("verify", a, "--against", b / "manifest.json")
    assert code == 0, output
    c = tmp_path / "other-seed"
    assert run_cli("recipe", "orientation", "--out", c, "--seed", 2, "--limit", 3)[0] == 0
    code, output = run_cli("verify", a, "--against", c)
    assert code != 0
    assert "first differing example" in output
    assert "local provenance: {" in output and "published provenance:" in output


def test_verify_against_a_good_build_still_checks_the_local_files(tmp_path: Path) -> None:
    good = tmp_path / "good"
    assert run_cli("recipe", "orientation", "--out", good, "--limit", 3, "--quiet")[0] == 0
    tampered = tmp_path / "tampered"
    shutil.copytree(good, tampered)
    parquet = next((tampered / "data").rglob("*.parquet"))
    data = bytearray(parquet.read_bytes())
    data[len(data) // 2] ^= 0xFF
    parquet.write_bytes(bytes(data))
    code, output = run_cli("verify", tampered, "--against", good)
    assert code != 0, output
    assert f"problem: local: {parquet.relative_to(tampered).as_posix()}: sha256 differs" in output
    code, output = run_cli("verify", good, "--against", good)
    assert code == 0 and "OK (2 parquet files, 6 examples)" in output, output


def test_explain_prints_files_license_transforms_and_derivation(release: Path) -> None:
    manifest = json.loads((release / "manifest.json").read_text())
    row_id = manifest["configs"]["imaging_orientation_cxr"]["examples"][0][0]
    code, output = run_cli("explain", release, row_id)
    assert code == 0, output
    assert row_id in output
    assert "sha256" in output and "license CC0-1.0" in output
    assert "1. dihedral" in output or "1. resize" in output
    assert "label derivation:" in output
    code, output = run_cli("explain", release, "imaging_orientation_cxr-0000")
    assert code != 0 and "no row with id" in output


def test_config_license_and_task_metadata_come_from_sources_and_recipes(release: Path) -> None:
    manifest = json.loads((release / "manifest.json").read_text())
    info = manifest["configs"]["image_enhancement_detection"]
    assert info["license"] == "CC0-1.0" and info["non_commercial"] is False and info["redistributable"] is True
    assert info["recipe"] == "enhancement" and info["modality"] == "CT"
    assert sum(info["answer_texts"].values()) == info["rows"]


def test_card_lists_the_release_counts_and_missing_tasks(tmp_path: Path) -> None:
    root = tmp_path / "sources"
    root.mkdir()
    code, output = run_cli("build", "--sources-root", root, "--out", tmp_path / "out", "--quiet", "--allow-empty")
    assert code == 0, output
    card = (tmp_path / "out" / "README.md").read_text()
    assert "## Release" in card and "MedBLINK 1.0.0" in card
    assert "| `imaging_orientation_cxr` | 0 (missing: sources not found:" in card and "| 200 |" in card
