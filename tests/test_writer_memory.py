"""The writer streams: memory stays bounded however many rows go through it."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from medblink_build.encode import png_bytes
from medblink_build.manifests import get_manifest
from medblink_build.model import Example, InputFile
from medblink_build.output.dataset import DatasetWriter
from medblink_build.questions import Question
from medblink_build.recipe import TaskInfo


def _example(i: int, image: bytes) -> Example:
    return Example(
        task="t",
        key=f"s/{i:05d}",
        images=[image],
        question=Question("q", ("a", "b"), i % 2),
        label={"i": i},
        inputs=[InputFile("s", f"{i:05d}.png", "0" * 64)],
        transforms=[],
        derivation="d",
    )


def test_writer_memory_does_not_grow_with_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = png_bytes(rng.integers(0, 255, (128, 128), dtype=np.uint8))  # incompressible, ~16 KB
    manifest = get_manifest("medblink-sample-xray")
    writer = DatasetWriter(tmp_path, seed=0, sample=True, max_shard_bytes=4 * 1024 * 1024)
    writer.declare("synthetic", "1.0.0", "memory test", (TaskInfo("t", "X-ray", "chest", "d", "q"),))

    def add(i: int) -> None:
        writer.add(_example(i, image), manifest, "synthetic")

    for i in range(200):  # warm up: lazy imports of pyarrow/pandas happen on the first flushes
        add(i)
    tracemalloc.start()
    for i in range(200, 2000):
        add(i)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    payload = 1800 * len(image)
    assert payload > 25 * 1024 * 1024
    assert peak < 4 * 1024 * 1024  # about one row group of images, not the 25 MB that went through
    assert current < 1024 * 1024  # what stays per row is its id and digest (~100 bytes)
    manifest_out = writer.finish()
    assert manifest_out["configs"]["t"]["rows"] == 2000
    assert len(manifest_out["configs"]["t"]["files"]) > 5  # streamed into several shards


def test_row_groups_are_bounded_by_bytes_for_large_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Big images (panoramic radiographs, slide regions) flush before 64 rows: the writer holds
    about ROW_GROUP_BYTES of rows, not 64 images three times over."""
    from medblink_build.output import shards

    monkeypatch.setattr(shards, "ROW_GROUP_BYTES", 2 * 1024 * 1024)
    rng = np.random.default_rng(1)
    image = png_bytes(rng.integers(0, 255, (512, 1024), dtype=np.uint8))  # incompressible, ~0.5 MB
    manifest = get_manifest("medblink-sample-xray")
    writer = DatasetWriter(tmp_path, seed=0, sample=True)
    writer.declare("synthetic", "1.0.0", "memory test", (TaskInfo("t", "X-ray", "chest", "d", "q"),))
    tracemalloc.start()
    for i in range(40):  # 20 MB in all, fewer rows than one row-count group
        writer.add(_example(i, image), manifest, "synthetic")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert 40 * len(image) > 18 * 1024 * 1024
    assert peak < 10 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    out = writer.finish()
    assert out["configs"]["t"]["rows"] == 40
