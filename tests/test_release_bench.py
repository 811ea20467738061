"""The real-size release corpus (benchmarks/harness/release_corpus.py), written at toy sizes: each
source is laid out as its manifest reads it, one item per written item (every CT copy a series of
its own), and the harness's release definition names those sources with the scaled counts."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from medblink_build.manifests import builtin_manifests
from medblink_build.sources.folder import FolderSource
from medblink_build.sources.resolve import resolve_source

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from harness import release_corpus as rc

COUNTS = rc.scaled_counts(0.02)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    root = tmp_path_factory.mktemp("release-corpus")
    return root, rc.write_corpus(root, COUNTS, rc.TINY)


def test_each_source_gives_one_item_per_written_item(corpus: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    root, report = corpus
    assert set(report) == {t[3] for t in rc.TASKS}
    for source, info in report.items():
        manifest = builtin_manifests()[source]
        if manifest.detect:  # bound by its detect rules, as `--source PATH` would
            assert resolve_source(str(root / source)).id == source
        items = list(FolderSource(root / source, manifest).items())
        assert len(items) == info["items"] == rc.source_items(COUNTS)[source], source


def test_cached_corpus_is_not_rewritten(corpus: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    root, report = corpus
    again = rc.write_corpus(root, COUNTS, rc.TINY)
    assert not any(info["generated"] for info in again.values())
    assert all(info["generated"] for info in report.values())
    assert {s: i["items"] for s, i in again.items()} == {s: i["items"] for s, i in report.items()}


def test_release_definition_has_the_scaled_counts(tmp_path: Path) -> None:
    counts = rc.scaled_counts(1.0)
    assert sum(counts.values()) == 1429
    doc = tomllib.loads(rc.release_toml(counts, tmp_path / "r.toml").read_text())
    assert {t["id"]: t["count"] for t in doc["task"]} == counts
    assert {t["id"]: t["sources"] for t in doc["task"]}["histology_structure"] == ["medblink-sample-histology"]


def test_ct_copies_are_distinct_instances(corpus: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    import pydicom

    root, _ = corpus
    files = sorted((root / "hcc-tace-seg").rglob("*.dcm"))
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    assert len({str(h.SOPInstanceUID) for h in headers}) == len(files)
    assert all(h.SOPInstanceUID == h.file_meta.MediaStorageSOPInstanceUID for h in headers)
    assert len({f.stat().st_ino for f in files}) == len(files)  # copies, not hard links
