"""Harness exports: VLMEvalKit's MCQ TSV and an lmms-eval task folder, checked against each harness's contract.

Neither harness is installed (both are heavy); the tests read the TSV the way VLMEvalKit does
(`pandas.read_csv(sep="\\t")`, `toliststr` = a Python list literal for several images) and load the
lmms-eval task the way lmms-eval does (YAML with `!function` tags resolved from the task folder's
`utils.py`, `include:` merged under the task's own keys, `datasets.load_dataset(dataset_path,
**dataset_kwargs)`).
"""

from __future__ import annotations

import ast
import base64
import csv
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from medblink_build.errors import OutputError
from medblink_build.release.export_formats import export
from medblink_build.release.export_vlmevalkit import TSV_NAME
from medblink_build.release.verify import load_manifest
from tests.conftest import run_cli
from tests.release_helpers import build_orientation, give_row_images, rows_of


def _edit_row(folder: Path, config: str, index: int, **values: Any) -> str:
    """Set columns of one row in place (manifest digests go stale; exports read rows, they do not verify)."""
    manifest, _ = load_manifest(folder)
    path = folder / manifest["configs"][config]["files"][0]["path"]
    table = pq.read_table(path)
    rows = table.to_pylist()
    rows[index].update(values)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path, compression="zstd")
    return rows[index]["id"]


@pytest.fixture(scope="module")
def release(xray_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = build_orientation(xray_source, tmp_path_factory.mktemp("harness") / "harness-release", "--limit", 4)
    give_row_images(out, "imaging_orientation_pelvic", 1, 3)  # a multi-image row
    row = rows_of(out)["imaging_orientation_cxr"][0]
    _edit_row(out, "imaging_orientation_cxr", 0, choices=[row["answer_text"], "tilted", "mirrored"], answer="A")
    return out


def test_vlmevalkit_tsv_reads_back_with_pandas_and_csv(release: Path, tmp_path: Path) -> None:
    import pandas as pd

    out = tmp_path / "vlmevalkit"
    code, output = run_cli("export", release, "--format", "vlmevalkit", "--to", out)
    assert code == 0, output
    tsv = out / TSV_NAME
    expected = [(config, row) for config, rows in rows_of(release).items() for row in rows]
    data = pd.read_csv(tsv, sep="\t")  # what VLMEvalKit's `load` does
    assert list(data.columns) == ["index", "image", "question", "A", "B", "C", "D", "answer", "category", "id"]
    assert list(data["index"]) == list(range(len(expected)))
    with tsv.open(encoding="utf-8", newline="") as f:
        plain = list(csv.DictReader(f, delimiter="\t"))
    assert len(plain) == len(data) == len(expected)
    for (config, row), line, record in zip(expected, plain, data.to_dict("records"), strict=True):
        assert record["id"] == row["id"] and record["category"] == config and record["answer"] == row["answer"]
        assert record["question"] == row["question"]
        for k, letter in enumerate("ABCD"):
            if k < len(row["choices"]):
                assert str(record[letter]) == row["choices"][k]
            else:
                assert pd.isna(record[letter])  # VLMEvalKit drops NaN options from its prompt
        image = line["image"]
        encoded = ast.literal_eval(image) if image.startswith("[") else [image]  # VLMEvalKit's toliststr
        assert [base64.b64decode(e, validate=True) for e in encoded] == [img["bytes"] for img in row["images"]]
    assert sum(len(ast.literal_eval(x)) == 3 for x in data["image"] if x.startswith("[")) == 1
    marker = json.loads((out / "export.json").read_text())
    assert marker["export_format"] == "vlmevalkit" and marker["configs"]["imaging_orientation_cxr"]["rows"] == 4


def test_a_vlmevalkit_prediction_file_scores_by_id(release: Path, tmp_path: Path) -> None:
    import pandas as pd

    out = tmp_path / "vk"
    export(release, "vlmevalkit", out)
    data = pd.read_csv(out / TSV_NAME, sep="\t")
    data.pop("image")  # VLMEvalKit's inference drops the images and adds `prediction`
    data["prediction"] = [f"{a}. something" if i % 2 == 0 else "Z" for i, a in enumerate(data["answer"])]
    pred = tmp_path / "MODEL_MedBLINK.tsv"
    data.to_csv(pred, sep="\t", index=False)
    code, output = run_cli("score", release, pred, "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["overall"]["correct"] == (len(data) + 1) // 2
    assert len(report["unparsed"]) == len(data) // 2 and report["missing"] == [] and report["unknown_ids"] == []


def test_vlmevalkit_export_refuses_a_choice_pandas_would_drop(release: Path, tmp_path: Path) -> None:
    copy = tmp_path / "none-choice"
    shutil.copytree(release, copy)
    row = rows_of(copy)["imaging_orientation_pelvic"][2]
    row_id = _edit_row(copy, "imaging_orientation_pelvic", 2, choices=[*row["choices"][:3], "None"])
    code, output = run_cli("export", copy, "--format", "vlmevalkit", "--to", tmp_path / "x")
    assert code != 0 and f"{row_id}: 'None' would be read by VLMEvalKit (pandas) as missing" in output
    assert not (tmp_path / "x").exists()


class _TaskLoader(yaml.SafeLoader):
    """lmms-eval's YAML: `!function module.name` imports `name` from `module.py` beside the YAML."""


def _load_task_yaml(path: Path) -> dict[str, Any]:
    def function(loader: yaml.Loader, node: yaml.Node) -> Any:
        module_name, name = loader.construct_scalar(node).rsplit(".", 1)  # type: ignore[arg-type]
        spec = importlib.util.spec_from_file_location(f"task_{module_name}", path.parent / f"{module_name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, name)

    loader = type("Loader", (_TaskLoader,), {})
    loader.add_constructor("!function", function)
    config = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    if "include" in config:  # lmms-eval: the included file first, the task's own keys over it
        config = {**_load_task_yaml(path.parent / config.pop("include")), **config}
    return config


def test_lmms_eval_task_folder_loads_offline_and_scores_like_blink(release: Path, tmp_path: Path) -> None:
    import datasets

    out = tmp_path / "lmms"
    code, output = run_cli("export", release, "--format", "lmms-eval", "--to", out)
    assert code == 0, output
    source = rows_of(release)
    group = yaml.safe_load((out / "medblink.yaml").read_text())
    assert group["group"] == "medblink" and group["aggregate_metric_list"] == [{"metric": "medblink_acc"}]
    assert group["task"] == [f"medblink_{c}" for c in source]
    logged: list[dict[str, Any]] = []
    for config, rows in source.items():
        task = _load_task_yaml(out / f"medblink_{config}.yaml")
        assert task["task"] == f"medblink_{config}" and task["output_type"] == "generate_until"
        assert task["dataset_path"] == "parquet" and task["test_split"] == "test"
        ds = datasets.load_dataset(
            task["dataset_path"], **task["dataset_kwargs"], cache_dir=tempfile.mkdtemp(prefix="hf-")
        )[task["test_split"]]
        assert [d["idx"] for d in ds] == [r["id"] for r in rows]
        kwargs = task["lmms_eval_specific_kwargs"]["default"]
        (metric,) = task["metric_list"]
        assert metric["metric"] == "medblink_acc" and metric["higher_is_better"] is True
        results = []
        for doc, row in zip(ds, rows, strict=True):
            assert task["doc_to_target"] == "answer" and doc["answer"] == f"({row['answer']})"
            images = task["doc_to_visual"](doc)
            assert len(images) == len(row["images"]) and all(im.mode == "RGB" for im in images)
            text = task["doc_to_text"](doc, kwargs)
            letters = ", ".join("ABCD"[: len(row["choices"])])
            pre = f"Note: You only need to respond with {letters} without providing any additional information.\n"
            assert text == pre + row["prompt"]
            messages = task["doc_to_messages"](doc, kwargs)
            assert [c["type"] for c in messages[0]["content"]] == ["image"] * len(images) + ["text"]
            wrong = next(ch for ch in "ABCD" if ch != row["answer"])
            right = task["process_results"](doc, [f"({row['answer']}) {row['answer_text']}"])["medblink_acc"]
            miss = task["process_results"](doc, [f"{wrong}."])["medblink_acc"]
            assert right["is_correct"] is True and right["id"] == row["id"] and right["sub_task"] == config
            assert miss["is_correct"] is False and miss["pred_parsed"] == wrong
            results += [right, miss]
            reply = f"({row['answer']})" if len(logged) % 3 else "The answer is " + row["answer"]
            saved = {k: v for k, v in doc.items() if not k.startswith("image_")}  # --log_samples drops images
            scored = task["process_results"](doc, [reply])
            logged.append(
                {"doc_id": len(logged), "doc": saved, "resps": [[reply]], "filtered_resps": [reply], **scored}
            )
        assert metric["aggregation"](results) == 0.5
    samples = tmp_path / "samples.jsonl"  # lmms-eval's per-task sample logs, concatenated
    samples.write_text("".join(json.dumps(r) + "\n" for r in logged), encoding="utf-8")
    code, output = run_cli("score", release, samples, "--json", "--parser", "lmms-eval")
    assert code == 0, output
    micro = json.loads(output)["overall"]
    assert micro["n"] == len(logged) and micro["correct"] == sum(r["medblink_acc"]["is_correct"] for r in logged)
    assert 0 < micro["correct"] < len(logged)  # "The answer is B" reads as T in lmms-eval's BLINK rule
    marker = json.loads((out / "export.json").read_text())
    assert marker["export_format"] == "lmms-eval"
    assert (out / "blink" / "export.json").exists()  # the data folder is a complete `blink` export


def test_lmms_eval_export_refuses_a_non_release_and_keeps_foreign_folders(release: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="refusing to replace a non-empty folder"):
        export(release, "lmms-eval", foreign)
    with pytest.raises(OutputError, match="refusing to replace a non-empty folder"):
        export(release, "vlmevalkit", foreign)
    assert (foreign / "notes.txt").read_text() == "keep"
    export(release, "lmms-eval", tmp_path / "again")
    first = (tmp_path / "again" / "export.json").read_text()
    export(release, "lmms-eval", tmp_path / "again")  # a previous export is replaced
    assert (tmp_path / "again" / "export.json").read_text() == first
