"""Export views (MedBLINK and BLINK layouts) loaded back with `datasets`, checked against the release rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medblink_build.errors import MedblinkError, OutputError
from medblink_build.questions import PROMPT_SUFFIX
from medblink_build.release.export_formats import export
from tests.conftest import load_config, run_cli
from tests.release_helpers import build_orientation, give_row_images, rows_of


def orientation_choices() -> tuple[str, ...]:
    from recipes.orientation import ROTATIONS

    return tuple(ROTATIONS.values())


def _undecoded(ds, columns):  # type: ignore[no-untyped-def]
    """The dataset with its image columns as stored ({bytes, path}), to compare bytes exactly."""
    import datasets

    for column in columns:
        ds = ds.cast_column(column, datasets.Image(decode=False))
    return ds


@pytest.fixture(scope="module")
def release(xray_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = build_orientation(xray_source, tmp_path_factory.mktemp("export") / "orient-release", "--limit", 4)
    give_row_images(out, "imaging_orientation_pelvic", 1, 3)  # one multi-image row
    return out


def _load_val(out: Path):  # type: ignore[no-untyped-def]
    """The medblink export as a user loads the published MedBLINK: no config name, split val."""
    import tempfile

    import datasets

    return datasets.load_dataset(str(out), split="val", cache_dir=tempfile.mkdtemp(prefix="hf-"))


def test_medblink_export_is_the_published_shape_with_answer_text(release: Path, tmp_path: Path) -> None:
    out = tmp_path / "as-medblink"
    code, output = run_cli("export", release, "--format", "medblink", "--to", out)
    assert code == 0, output
    source = rows_of(release)
    ds = _load_val(out)  # one default config, split val, every task's rows
    assert ds.column_names == ["task", "question_id", "question", "answer", "image", "images"]
    assert type(ds.features["image"]).__name__ == "Image"
    rows = [row for config_rows in source.values() for row in config_rows]
    assert len(ds) == len(rows) and {r["task"] for r in ds} == set(source)
    assert ds[0]["image"].size[0] > 0  # decodes to a PIL image
    import datasets

    raw = _undecoded(ds, ["image"]).cast_column("images", datasets.List(datasets.Image(decode=False)))
    for got, row in zip(raw, rows, strict=True):
        assert got["task"] == row["task"]
        assert got["question_id"] == row["id"]
        assert got["answer"] == row["choices"]["ABCD".index(row["answer"])]  # the text, not the letter
        assert got["answer"] not in ("A", "B", "C", "D")
        assert got["question"] == row["prompt"].removesuffix("\n" + PROMPT_SUFFIX)
        assert got["image"]["bytes"] == row["images"][0]["bytes"]
        if len(row["images"]) > 1:  # the one multi-image row keeps all its images in `images`
            assert [img["bytes"] for img in got["images"]] == [img["bytes"] for img in row["images"]]
        else:
            assert got["images"] == []
    card = (out / "README.md").read_text()
    assert "config_name: default" in card and "split: val" in card and "path: data/val-*.parquet" in card
    assert "license: cc0-1.0" in card and "`images` holds all of a multi-image row's images" in card
    assert sorted(p.name for p in (out / "data").iterdir()) == ["val-00000-of-00001.parquet"]
    marker = json.loads((out / "export.json").read_text())
    assert marker["export_format"] == "medblink" and marker["split"] == "val"
    assert marker["configs"]["default"]["tasks"] == {c: len(r) for c, r in source.items()}


def test_medblink_export_without_multi_image_rows_has_exactly_five_columns(xray_source: Path, tmp_path: Path) -> None:
    single = build_orientation(xray_source, tmp_path / "single-images", "--limit", 2)
    export(single, "medblink", tmp_path / "five")
    ds = _load_val(tmp_path / "five")
    assert ds.column_names == ["task", "question_id", "question", "answer", "image"]
    assert set(ds["answer"]) <= set(orientation_choices())


def test_blink_export_has_its_columns_images_and_parenthesised_answers(release: Path, tmp_path: Path) -> None:
    out = tmp_path / "as-blink"
    summary = export(release, "blink", out)
    source = rows_of(release)
    image_columns = [f"image_{k}" for k in range(1, 5)]
    for config, rows in source.items():
        ds = load_config(out, config)
        assert ds.column_names == ["idx", "question", "sub_task", *image_columns, "choices", "answer", "prompt"]
        assert len(ds) == summary.counts[config] == len(rows)
        for got, row in zip(_undecoded(ds, image_columns), rows, strict=True):
            assert got["idx"] == row["id"] and got["sub_task"] == config
            assert got["question"] == row["question"] and got["prompt"] == row["prompt"]
            assert got["choices"] == row["choices"]
            assert got["answer"] == f"({row['answer']})"
            stored = [got[c]["bytes"] if got[c] is not None else None for c in image_columns]
            expected = [img["bytes"] for img in row["images"]]
            assert stored == expected + [None] * (4 - len(expected))
    multi = load_config(out, "imaging_orientation_pelvic")[1]
    assert multi["image_3"] is not None and multi["image_3"].size[0] > 0 and multi["image_4"] is None


def test_exports_are_byte_identical_when_repeated(release: Path, tmp_path: Path) -> None:
    export(release, "blink", tmp_path / "one")
    export(release, "blink", tmp_path / "two")
    one = json.loads((tmp_path / "one" / "export.json").read_text())
    two = json.loads((tmp_path / "two" / "export.json").read_text())
    assert one == two
    export(release, "blink", tmp_path / "one")  # re-export over a previous export replaces it
    assert json.loads((tmp_path / "one" / "export.json").read_text()) == one


def test_export_refuses_bad_formats_foreign_folders_and_the_release_itself(release: Path, tmp_path: Path) -> None:
    with pytest.raises(
        MedblinkError, match="unknown export format 'vqa'; valid: medblink, blink, vlmevalkit, lmms-eval"
    ):
        export(release, "vqa", tmp_path / "x")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="refusing to replace a non-empty folder"):
        export(release, "medblink", foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(OutputError, match="inside the release folder"):
        export(release, "medblink", release / "exports")
    code, output = run_cli("export", release, "--format", "vqa", "--to", tmp_path / "y")
    assert code != 0 and "vqa" in output


def test_blink_export_names_a_row_with_more_than_four_images(release: Path, tmp_path: Path) -> None:
    copy = tmp_path / "five-images"
    shutil.copytree(release, copy)
    row_id = give_row_images(copy, "imaging_orientation_cxr", 0, 5)
    code, output = run_cli("export", copy, "--format", "blink", "--to", tmp_path / "out")
    assert code != 0
    assert f"{row_id}: 5 images; the blink format holds at most 4" in output
    assert len(output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
