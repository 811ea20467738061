"""`medblink_build.load`: a folder's rows, never another folder's (the `datasets` cache collision)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import medblink_build
from medblink_build.errors import OutputError
from tests.conftest import run_cli

pytest.importorskip("datasets")

CONFIG = "imaging_orientation_cxr"


def _build(out: Path, seed: int) -> list[str]:
    code, output = run_cli("recipe", "orientation", "--out", out, "--seed", seed, "--limit", 3, "--quiet")
    assert code == 0, output
    manifest = json.loads((out / "manifest.json").read_text())
    return [example_id for example_id, _ in manifest["configs"][CONFIG]["examples"]]


def test_two_folders_with_one_name_each_give_their_own_rows(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "out", tmp_path / "b" / "out"  # same base name: the collision case
    ids_first, ids_second = _build(first, 1), _build(second, 2)
    answers = {}
    for folder, ids in ((first, ids_first), (second, ids_second)):
        ds = medblink_build.load(folder, CONFIG, split="test")
        assert ds["id"] == ids
        answers[folder] = ds["answer"]
        assert ds[0]["images"][0].size[0] > 0  # decoded as PIL images
    assert ids_first != ids_second or answers[first] != answers[second]
    # The same path rebuilt with other rows loads the new rows, not the cached old ones.
    ids_rebuilt = _build(first, 2)
    assert medblink_build.load(first, CONFIG)["answer"] == answers[second]
    assert medblink_build.load(first, CONFIG)["id"] == ids_rebuilt


def test_unknown_config_or_split_names_the_valid_ones(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _build(out, 0)
    with pytest.raises(OutputError, match=r"no config 'nope' \(configs: imaging_orientation_cxr, imaging_orient"):
        medblink_build.load(out, "nope")
    with pytest.raises(OutputError, match=r"no split 'val' \(splits: test\)"):
        medblink_build.load(out, CONFIG, split="val")


def test_a_file_changed_behind_the_manifest_is_not_served_from_the_cache(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    _build(out, 0)
    first = medblink_build.load(out, CONFIG)["answer"]
    parquet = next((out / "data" / CONFIG).glob("*.parquet"))
    table = pq.read_table(parquet)
    rows = table.to_pylist()
    rows[0]["answer"] = "D" if rows[0]["answer"] != "D" else "A"
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), parquet)
    assert medblink_build.load(out, CONFIG)["answer"] == [rows[0]["answer"], *first[1:]]
