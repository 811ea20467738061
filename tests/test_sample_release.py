"""`samples write` puts every built-in sample source on disk; `medblink-sample-1.0` builds from them."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
from PIL import Image

from medblink_build.hashing import sha256_file
from medblink_build.release.definition import builtin_releases
from medblink_build.release.verify import iter_rows, load_manifest
from medblink_build.sources.samples import sample_source_ids
from tests.conftest import run_cli


def test_samples_write_puts_every_sample_source_in_its_real_formats(samples_root: Path) -> None:
    assert sorted(p.name for p in samples_root.iterdir()) == sample_source_ids()
    assert len(sample_source_ids()) == 8
    dicoms = sorted((samples_root / "medblink-sample-xray").rglob("*.dcm"))
    assert dicoms and pydicom.dcmread(dicoms[0]).Modality in {"DX", "CR"}
    pngs = sorted((samples_root / "medblink-sample-endoscopy").rglob("*.png"))
    assert pngs and Image.open(pngs[0]).size[0] > 0


def test_samples_write_refuses_an_existing_source_folder(tmp_path: Path) -> None:
    (tmp_path / "medblink-sample-xray").mkdir()
    code, output = run_cli("samples", "write", tmp_path, "--source", "medblink-sample-xray")
    assert code != 0 and "medblink-sample-xray: already exists" in output
    code, output = run_cli("samples", "write", tmp_path, "--source", "nih-chestxray14")
    assert code != 0 and "not a built-in sample source: 'nih-chestxray14'" in output


def test_sample_release_maps_every_task_to_a_sample_source() -> None:
    definition = builtin_releases()["medblink-sample-1.0"]
    published = builtin_releases()["medblink-1.0"]
    assert [t.id for t in definition.tasks] == [t.id for t in published.tasks]
    assert [t.recipe for t in definition.tasks] == [t.recipe for t in published.tasks]
    assert {s for t in definition.tasks for s in t.sources} == set(sample_source_ids())


def test_sample_release_builds_from_the_files_on_disk(samples_root: Path, sample_release: Path) -> None:
    manifest, _ = load_manifest(sample_release)
    expected = {t.id: t.count for t in builtin_releases()["medblink-sample-1.0"].tasks}
    assert {c: info["rows"] for c, info in manifest["configs"].items()} == expected
    assert manifest["release"]["name"] == "MedBLINK sample" and manifest["release"]["missing_tasks"] == {}
    for info in manifest["configs"].values():
        for row in iter_rows(sample_release, info):
            for entry in json.loads(row["provenance"])["inputs"]:
                assert sha256_file(samples_root / entry["source"] / entry["path"]) == entry["sha256"]
