"""The age recipe end to end: groups from every kind of recorded age, skips, and no age in the output."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from medblink_build.readers import read_image
from medblink_build.recipes.age import BINS, age_group
from medblink_build.samples.sample_age import AGE_CASES, write_age_sample
from medblink_build.transforms import replay
from tests.conftest import load_config, run_cli

CONFIG = "age_estimation"
GROUPS = {b[0] for b in BINS}
TEXTS = {b[0]: b[1] for b in BINS}


@pytest.fixture(scope="module")
def age_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_age_sample(tmp_path_factory.mktemp("age") / "src", size=128)


@pytest.fixture(scope="module")
def age_out(age_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("age") / "out"
    code, output = run_cli("recipe", "age", "--source", f"medblink-sample-age={age_source}", "--out", out, "--quiet")
    assert code == 0, output
    return out


@pytest.fixture(scope="module")
def age_rows(age_out: Path) -> list[dict]:
    return list(load_config(age_out, CONFIG))


def _by_input(rows: list[dict]) -> dict[str, dict]:
    return {json.loads(r["provenance"])["inputs"][0]["path"]: r for r in rows}


def test_groups_follow_the_recorded_age_in_every_format(age_rows: list[dict]) -> None:
    rows = _by_input(age_rows)
    expected = {rel: case.expected for rel, case in AGE_CASES.items() if case.expected in GROUPS}
    assert set(rows) == set(expected)
    for rel, group in expected.items():
        row, label = rows[rel], json.loads(rows[rel]["label"])
        assert label["age_group"] == group, rel
        assert row["choices"][ord(row["answer"]) - ord("A")] == TEXTS[group]
        assert sorted(row["choices"]) == sorted(TEXTS.values())
        tags = AGE_CASES[rel].tags
        if AGE_CASES[rel].table_age is not None:
            assert label["evidence"] == "metadata column age"
        elif "PatientAge" in tags and "StudyDate" in tags:
            assert label["evidence"] == "DICOM PatientAge (consistent with PatientBirthDate and StudyDate)"
        elif "PatientAge" in tags:
            assert label["evidence"] == "DICOM PatientAge"
        else:
            assert label["evidence"] == "DICOM PatientBirthDate and StudyDate"


def test_skips_are_recorded_by_reason_without_values(age_out: Path) -> None:
    manifest = json.loads((age_out / "manifest.json").read_text())
    skipped = {s["key"].split("/", 1)[1]: s for s in manifest["skipped"]["items"]}
    expected = {rel: case.expected for rel, case in AGE_CASES.items() if case.expected not in GROUPS}
    assert {k: s["reason"] for k, s in skipped.items()} == expected
    assert "PatientAge is not a DICOM Age String" in skipped["dicom/dx_009.dcm"]["detail"]
    assert "PatientBirthDate is not a valid calendar date" in skipped["dicom/dx_010.dcm"]["detail"]
    assert "metadata column age is not a number" in skipped["png/img_005.png"]["detail"]
    assert "Modality CT" in skipped["dicom/dx_014.dcm"]["detail"]


def _planted() -> set[str]:
    values = {
        v for c in AGE_CASES.values() for k, v in c.tags.items() if k in ("PatientAge", "PatientBirthDate", "StudyDate")
    }
    values |= {case.table_age for case in AGE_CASES.values() if case.table_age and not case.table_age.isdigit()}
    return values


def test_no_recorded_age_or_date_reaches_the_output(age_out: Path, age_rows: list[dict]) -> None:
    planted = _planted()
    assert {"045Y", "018M", "006W", "010D", "19480312", "20200615", "4.5Y", "19531397"} <= planted
    texts: list[tuple[str, str]] = []
    for path in sorted(p for p in age_out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".parquet":  # compressed: check the decoded text columns as well
            for row in pq.read_table(path).to_pylist():
                texts += [(f"{path.name}:{k}", v) for k, v in row.items() if isinstance(v, str)]
                texts += [(f"{path.name}:choices", c) for c in row["choices"]]
        for value in planted:
            if len(value) >= 8 or path.suffix != ".parquet":  # short values could occur in PNG bytes by chance
                assert value.encode() not in data, (value, path)
        if path.suffix != ".parquet":
            texts.append((path.name, data.decode("utf-8")))
    for where, text in texts:
        for value in planted:
            assert value not in text, (value, where)
    for row in age_rows:  # table ages (plain numbers) cannot be scanned for: the label holds only the group
        label = json.loads(row["label"])
        assert set(label) == {"age_group", "answer_text", "age_kind", "evidence", "bins_years", "boundary_margin_years"}
        assert "age" not in json.loads(row["provenance"])["read"]


def test_pixels_replay_and_letters_are_balanced(age_rows: list[dict], age_source: Path) -> None:
    for row in age_rows:
        prov = json.loads(row["provenance"])
        source = read_image(age_source / prov["inputs"][0]["path"]).pixels
        np.testing.assert_array_equal(np.asarray(row["images"][0]), replay(prov["transforms"], source))
    letters = Counter(r["answer"] for r in age_rows)
    assert set(letters) == set("ABCD") and max(letters.values()) - min(letters.values()) <= 1


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (11.0, 12.0, "child"),
        (12.0, 13.0, "age_near_boundary"),
        (13.0, 14.0, "age_near_boundary"),
        (14.0, 15.0, "adolescent"),
        (16.0, 17.0, "adolescent"),
        (17.0, 18.0, "age_near_boundary"),
        (19.0, 20.0, "adult"),
        (63.0, 64.0, "adult"),
        (64.0, 65.0, "age_near_boundary"),
        (66.0, 67.0, "older_adult"),
        (120.0, 121.0, "older_adult"),
        (121.0, 122.0, "age_implausible"),
        (-1.0, 0.0, "age_implausible"),
        (0.0, 1 / 365.2425, "child"),
        (13.99, 13.99, "age_near_boundary"),
        (14.01, 14.01, "adolescent"),
    ],
)
def test_bins_and_the_boundary_margin(low: float, high: float, expected: str) -> None:
    from medblink_build.errors import SkipItem
    from medblink_build.tasks.age import AgeValue

    try:
        assert age_group(AgeValue(low, high, "years")) == expected
    except SkipItem as skip:
        assert skip.reason == expected


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.indices((64, 64)).sum(axis=0) * 2).astype(np.uint8)).save(path)  # not constant


def test_rsna_bone_age_and_nih_tables(tmp_path: Path) -> None:
    rsna = tmp_path / "rsna"
    for image_id in ("1377", "1378", "1379", "1380"):
        _png(rsna / "boneage-training-dataset" / f"{image_id}.png")
    (rsna / "boneage-training-dataset.csv").write_text(
        "id,boneage,male\n1377,60,False\n1378,180,True\n1379,150,True\n1380,old,False\n", encoding="utf-8"
    )
    nih = tmp_path / "nih"
    for name in ("00000001_000.png", "00000002_000.png"):
        _png(nih / "images" / name)
    (nih / "Data_Entry_2017.csv").write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n"
        "00000001_000.png,No Finding,0,1,58,M,PA,2682,2749,0.143,0.143\n"
        "00000002_000.png,No Finding,0,2,411,F,AP,2500,2048,0.168,0.168\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    code, output = run_cli("recipe", "age", "--source", str(rsna), "--source", str(nih), "--out", out, "--quiet")
    assert code == 0, output
    rows = {json.loads(r["provenance"])["inputs"][0]["path"]: json.loads(r["label"]) for r in load_config(out, CONFIG)}
    assert {k: v["age_group"] for k, v in rows.items()} == {
        "boneage-training-dataset/1377.png": "child",
        "boneage-training-dataset/1378.png": "adolescent",
        "images/00000001_000.png": "adult",
    }
    assert rows["boneage-training-dataset/1377.png"]["age_kind"].startswith("bone age")
    assert rows["images/00000001_000.png"]["evidence"] == "metadata column age"
    skipped = {s["key"]: s["reason"] for s in json.loads((out / "manifest.json").read_text())["skipped"]["items"]}
    assert skipped == {
        "rsna-bone-age/boneage-training-dataset/1379.png": "age_near_boundary",  # 12.5 years
        "rsna-bone-age/boneage-training-dataset/1380.png": "age_malformed",
        "nih-chestxray14/images/00000002_000.png": "age_implausible",
    }
