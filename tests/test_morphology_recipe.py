"""The morphology-count recipe end to end: counts from annotations, the border/size rule, skips."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from medblink_build.readers import read_image
from medblink_build.samples.sample_dental import (
    DENTAL_CASES,
    DISEASE,
    DISEASE_IMAGES,
    ENUMERATION,
    MISSING_IMAGE,
    write_dental_sample,
)
from medblink_build.seeding import rng_for
from medblink_build.sources.resolve import resolve_source
from medblink_build.tasks.counting import N_CHOICES, count_choices
from medblink_build.transforms import replay
from tests.conftest import load_config, run_cli

CONFIG = "morphology_quantification"


@pytest.fixture(scope="module")
def dental_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dental_sample(tmp_path_factory.mktemp("dental") / "src")


@pytest.fixture(scope="module")
def dental_out(dental_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mc") / "out"
    code, output = run_cli(
        "recipe", "morphology-count", "--source", f"medblink-sample-dental={dental_source}", "--out", out, "--quiet"
    )
    assert code == 0, output
    return out


@pytest.fixture(scope="module")
def dental_rows(dental_out: Path) -> list[dict]:
    return list(load_config(dental_out, CONFIG))


def _by_image(rows: list[dict]) -> dict[str, dict]:
    return {json.loads(r["provenance"])["inputs"][0]["path"].rsplit("/", 1)[1]: r for r in rows}


def _skips(out: Path) -> dict[str, dict]:
    return {s["key"]: s for s in json.loads((out / "manifest.json").read_text())["skipped"]["items"]}


def test_counts_match_the_third_molars_planted_in_each_image(dental_rows: list[dict]) -> None:
    rows = _by_image(dental_rows)
    expected = {name: case.expected for name, case in DENTAL_CASES.items() if isinstance(case.expected, int)}
    assert set(rows) == set(expected)
    for name, count in expected.items():
        row = rows[name]
        label = json.loads(row["label"])
        assert label["count"] == count, name
        assert label["structure"] == "third molar" and len(label["counted"]) == count
        assert {c["name"] for c in label["counted"]} <= {"FDI 18", "FDI 28", "FDI 38", "FDI 48"}
        assert row["choices"][ord(row["answer"]) - ord("A")] == str(count)
        values = sorted(int(c) for c in row["choices"])
        assert len(values) == N_CHOICES and values == list(range(values[0], values[0] + N_CHOICES))
        assert 0 <= values[0] and values[-1] <= 4  # at most four third molars
        assert row["question"] == "How many wisdom teeth (third molars) are visible in this panoramic dental X-ray?"
        assert (row["modality"], row["anatomy"], row["source"]) == ("X-ray", "dental", "medblink-sample-dental")


def test_border_rule_counts_a_60_percent_instance_and_ignores_a_10_percent_one(dental_rows: list[dict]) -> None:
    rows = _by_image(dental_rows)
    cut = json.loads(rows["train_6.png"]["label"])
    assert {c["name"]: c["inside_fraction"] for c in cut["counted"]}["FDI 18"] == pytest.approx(0.6, abs=0.01)
    outside = json.loads(rows["train_7.png"]["label"])
    assert [o["name"] for o in outside["outside_not_counted"]] == ["FDI 18"]
    assert outside["outside_not_counted"][0]["inside_fraction"] == pytest.approx(0.1, abs=0.01)
    assert outside["count"] == 1
    assert cut["rule"] == {
        "count_if_inside_fraction_at_least": 0.5,
        "outside_if_inside_fraction_below": 0.2,
        "min_shown_box_area_px": 64,
    }


def test_every_skip_is_recorded_with_its_reason(dental_out: Path) -> None:
    skips = _skips(dental_out)
    prefix = f"medblink-sample-dental/{ENUMERATION}"
    expected = {
        f"{prefix}/xrays/{name}": case.expected for name, case in DENTAL_CASES.items() if isinstance(case.expected, str)
    }
    expected[f"{prefix}/train_quadrant_enumeration.json#{MISSING_IMAGE}"] = "image_missing"
    for name in DISEASE_IMAGES:
        expected[f"medblink-sample-dental/{DISEASE}/xrays/{name}"] = "diagnosis_subset"
    assert {k: s["reason"] for k, s in skips.items()} == expected
    missing = skips[f"{prefix}/train_quadrant_enumeration.json#{MISSING_IMAGE}"]["detail"]
    assert MISSING_IMAGE in missing and "train_quadrant_enumeration.json" in missing
    assert "30%" in skips[f"{prefix}/xrays/train_8.png"]["detail"]
    assert "FDI 38" in skips[f"{prefix}/xrays/train_10.png"]["detail"]
    assert "/tmp" not in json.dumps(skips)  # details name source-relative paths


def test_pixels_replay_from_the_input_and_letters_are_balanced(dental_rows: list[dict], dental_source: Path) -> None:
    for row in dental_rows:
        prov = json.loads(row["provenance"])
        image_input, annotation_input = prov["inputs"]
        assert annotation_input["path"].endswith(".json")
        source = read_image(dental_source / image_input["path"]).pixels
        np.testing.assert_array_equal(np.asarray(row["images"][0]), replay(prov["transforms"], source))
    letters = Counter(r["answer"] for r in dental_rows)
    assert set(letters) == set("ABCD") and max(letters.values()) - min(letters.values()) <= 1


@given(st.integers(0, 60), st.integers(0, 2**32 - 1), st.sampled_from([None, 4]))
def test_count_choices_are_consecutive_and_contain_the_truth(truth: int, seed: int, cap: int | None) -> None:
    if cap is not None:
        truth = truth % (cap + 1)
    values, correct = count_choices(truth, rng_for(seed, "t"), cap)
    assert values[correct] == truth and len(values) == N_CHOICES
    assert list(values) == list(range(values[0], values[0] + N_CHOICES)) and values[0] >= 0
    if cap is not None:
        assert values[-1] <= cap


def test_truth_position_in_the_window_is_spread() -> None:
    positions = Counter(count_choices(5, rng_for(0, "t", str(i)))[1] for i in range(400))
    assert set(positions) == {0, 1, 2, 3} and min(positions.values()) > 60


def test_dentex_manifest_reads_only_the_enumeration_subset(dental_source: Path) -> None:
    source = resolve_source(f"dentex={dental_source}")
    items = list(source.items())
    assert items and all(f"{ENUMERATION}/xrays/" in item.files[0] for item in items)
    assert all(item.files[1:] == (f"{ENUMERATION}/train_quadrant_enumeration.json",) for item in items)


def _tufts(root: Path) -> Path:
    (root / "Radiographs").mkdir(parents=True)
    (root / "Segmentation").mkdir()
    rows = []
    for stem, titles in (("1", ["1", "16", "17", "32", "8", "A"]), ("2", ["16", "3"]), ("3", ["1", "1"])):
        ramp = (np.indices((120, 300)).sum(axis=0) % 200 + 20).astype(np.uint8)  # not constant: a real image
        Image.fromarray(ramp).save(root / "Radiographs" / f"{stem}.JPG")
        objects = [{"title": t, "bounding box": [20 + 15 * i, 30, 32 + 15 * i, 70]} for i, t in enumerate(titles)]
        rows.append({"External ID": f"{stem}.jpg", "Label": {"objects": objects}})
    (root / "Segmentation" / "teeth_bbox.json").write_text(json.dumps(rows), encoding="utf-8")
    return root


def test_tufts_universal_titles_give_third_molar_counts(tmp_path: Path) -> None:
    root = _tufts(tmp_path / "tufts")
    code, output = run_cli("recipe", "morphology-count", "--source", f"tufts-dental={root}", "--out", tmp_path / "o")
    assert code == 0, output
    rows = _by_image(list(load_config(tmp_path / "o", CONFIG)))
    assert {n: json.loads(r["label"])["count"] for n, r in rows.items()} == {"1.JPG": 4, "2.JPG": 1}
    assert json.loads(rows["1.JPG"]["label"])["scheme"].startswith("tooth titles in Universal numbering")
    (skip,) = _skips(tmp_path / "o").values()
    assert skip["reason"] == "duplicate_label" and "Universal 1" in skip["detail"]


def _cells(root: Path, data: bytes | None = None) -> Path:
    """A generic COCO cell set: one 1200x600 tile (resized to 1024 px on output) with three cells."""
    root.mkdir(parents=True)
    Image.fromarray((np.indices((600, 1200)).sum(axis=0) % 200 + 20).astype(np.uint8)).save(root / "tile.png")
    doc = {
        "images": [{"id": 1, "file_name": "tile.png", "width": 1200, "height": 600}],
        "annotations": [
            {"id": 1, "image_id": 1, "bbox": [100, 100, 10, 10], "category_id": 1},  # 100 px -> 72.8 px shown
            {"id": 2, "image_id": 1, "bbox": [300, 100, 12, 12], "category_id": 1},
            {"id": 3, "image_id": 1, "bbox": [500, 100, 30, 30], "category_id": 2},  # a gland: not counted
        ],
        "categories": [{"id": 1, "name": "cell"}, {"id": 2, "name": "gland"}],
    }
    (root / "annotations.json").write_bytes(data if data is not None else json.dumps(doc).encode())
    (root / "source.toml").write_text(
        'id = "cells"\n'
        'public_paths = true\nname = "cells"\nlicense = "CC0-1.0"\naccess = "open"\nhomepage = "x"\ncitation = "x"\n'
        'how_to_obtain = "made by a test"\nmodality = "histology"\nanatomy = "skin"\n'
        '[layout]\ninclude = ["*.png"]\ncompanions = ["*.json"]\n'
        '[defaults]\ncount_category = "cell"\ncount_noun = "cells"\nmodality = "histology"\nanatomy = "skin"\n',
        encoding="utf-8",
    )
    return root


def test_a_named_category_is_counted_in_any_coco_set(tmp_path: Path) -> None:
    root = _cells(tmp_path / "cells")
    code, output = run_cli("recipe", "morphology-count", "--source", root, "--out", tmp_path / "o")
    assert code == 0, output
    (row,) = load_config(tmp_path / "o", CONFIG)
    label = json.loads(row["label"])
    assert label["count"] == 2 and label["structure"] == "cell"
    assert row["question"] == "How many cells are visible in this image?"
    assert (row["modality"], row["anatomy"]) == ("histology", "skin")
    assert np.asarray(row["images"][0]).shape == (512, 1024)


def test_malformed_annotation_file_is_a_recorded_skip_or_a_strict_failure(tmp_path: Path) -> None:
    root = _cells(tmp_path / "cells", data=b'{"images": [], "annotations": [{"image_id": 5, "bbox": [0, 0, 1, 1]}]}')
    code, output = run_cli("recipe", "morphology-count", "--source", root, "--out", tmp_path / "o", "--allow-empty")
    assert code == 0, output
    (skip,) = _skips(tmp_path / "o").values()
    assert skip["reason"] == "unreadable" and "annotations.json" in skip["detail"]
    assert "refers to image id 5" in skip["detail"]
    code, output = run_cli("recipe", "morphology-count", "--source", root, "--out", tmp_path / "o2", "--strict")
    assert code != 0 and "annotations.json" in output and "refers to image id 5" in output
