"""The real-size release corpus (benchmarks/harness/release_corpus.py), written at toy sizes: each
source is laid out as its manifest reads it, one item per written item (every CT series folder an
item of its own), and the harness's release definition names those sources with the scaled counts."""

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


def test_ct_series_items_are_folders_of_links_to_the_written_series(corpus: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    """hcc-tace-seg lists one series per folder, so its items can share the written series'
    inodes (the disk holds 2 series whatever the count) and still be an item each."""
    root, report = corpus
    folders = {f.parent for f in (root / "hcc-tace-seg").rglob("*.dcm")}
    assert len(folders) == report["hcc-tace-seg"]["items"] > 2
    assert report["hcc-tace-seg"]["distinct_files"] < report["hcc-tace-seg"]["files"]
