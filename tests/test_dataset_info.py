"""The card's `dataset_info` (features, split sizes) and the `answer_text` column, checked by `datasets` itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from medblink_build.questions import LETTERS
from medblink_build.release.verify import verify_folder
from tests.conftest import load_config
from tests.release_helpers import build_orientation, rows_of


@pytest.fixture(scope="module")
def release(xray_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_orientation(xray_source, tmp_path_factory.mktemp("info") / "info-release", "--limit", 4)


def _card_yaml(folder: Path) -> dict:
    text = (folder / "README.md").read_text(encoding="utf-8")
    return yaml.safe_load(text.split("---\n")[1])


def test_every_row_names_the_text_of_its_correct_choice(release: Path) -> None:
    for config, rows in rows_of(release).items():
        for row in rows:
            assert row["answer_text"] == row["choices"][LETTERS.index(row["answer"])]
        ds = load_config(release, config)
        assert ds.features["answer_text"].dtype == "string"
        assert [r["answer_text"] for r in rows] == ds["answer_text"]
    manifest = json.loads((release / "manifest.json").read_text())
    for info in manifest["configs"].values():  # the label distribution counts the same texts
        assert sum(info["answer_texts"].values()) == info["rows"]
    assert verify_folder(release).ok  # the example digests cover the new column


def test_dataset_info_matches_what_datasets_records(release: Path) -> None:
    import datasets

    header = _card_yaml(release)
    manifest = json.loads((release / "manifest.json").read_text())
    infos = {entry["config_name"]: entry for entry in header["dataset_info"]}
    assert sorted(infos) == sorted(manifest["configs"]) == sorted(c["config_name"] for c in header["configs"])
    for config, entry in infos.items():
        files = [release / f["path"] for f in manifest["configs"][config]["files"]]
        schema = pq.read_schema(files[0])
        assert entry["features"] == datasets.Features.from_arrow_schema(schema)._to_yaml_list()
        (split,) = entry["splits"]
        assert split["name"] == "test" and split["num_examples"] == manifest["configs"][config]["rows"]
        assert split["num_bytes"] == sum(pq.read_table(p).nbytes for p in files) == entry["dataset_size"]
        assert entry["download_size"] == sum(p.stat().st_size for p in files)
        ds = load_config(release, config)
        assert len(ds) == split["num_examples"]
        recorded = ds.info.splits["test"]
        assert (recorded.num_examples, recorded.num_bytes) == (split["num_examples"], split["num_bytes"])


def test_datasets_refuses_a_card_whose_counts_do_not_match_the_rows(release: Path, tmp_path: Path) -> None:
    import datasets

    copy = tmp_path / "miscounted"
    shutil.copytree(release, copy)
    card = (copy / "README.md").read_text(encoding="utf-8")
    header = _card_yaml(copy)
    config = header["dataset_info"][0]["config_name"]
    n = header["dataset_info"][0]["splits"][0]["num_examples"]
    head, body = card.split("---\n")[1], card.split("---\n", 2)[2]
    head = head.replace(f"num_examples: {n}\n", f"num_examples: {n + 1}\n", 1)
    (copy / "README.md").write_text("---\n" + head + "---\n" + body, encoding="utf-8")
    with pytest.raises(datasets.exceptions.NonMatchingSplitsSizesError):
        load_config(copy, config)


def test_num_bytes_over_several_row_groups_and_shards_is_what_datasets_records(tmp_path: Path) -> None:
    import datasets

    from medblink_build.output.schema import COLUMN_ORDER
    from medblink_build.output.shards import ShardWriter

    writer = ShardWriter(tmp_path / "data", max_shard_bytes=3000, rows_per_group=8)
    for i in range(45):  # 5-6 row groups per shard, several shards
        row = {name: f"{name}-{i}" * (1 + i % 3) for name in COLUMN_ORDER}
        row.update(choices=["a", "bb", "ccc"][: 2 + i % 2], images=[{"bytes": bytes(100 + i), "path": f"{i}.png"}])
        writer.add(row, payload_bytes=100 + i)
    paths = writer.close()
    assert len(paths) > 1
    ds = datasets.load_dataset(
        "parquet", data_files={"test": [str(p) for p in paths]}, split="test", cache_dir=str(tmp_path / "hf")
    )
    assert (writer.rows, writer.nbytes) == (len(ds), ds.info.splits["test"].num_bytes)
