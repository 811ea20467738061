"""croissant.json: Croissant 1.0 + RAI metadata written by every build, valid for mlcroissant."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from medblink_build.output.card import MEDBLINK_CITATION
from medblink_build.output.croissant import CONFORMS_TO, croissant_text
from medblink_build.release.verify import iter_rows
from tests.conftest import run_cli
from tests.licensed_sources import CITATION, write_xray_source

mlc = pytest.importorskip("mlcroissant")

RAI_FIELDS = (
    "rai:dataCollection",
    "rai:dataPreprocessingProtocol",
    "rai:dataAnnotationProtocol",
    "rai:personalSensitiveInformation",
    "rai:dataLimitations",
)
#: The only issue mlcroissant may report: no publication date (a timestamp would break byte-identical builds).
ALLOWED_WARNING = "datePublished"


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("croissant") / "sample-release"
    code, output = run_cli("build", "--out", out, "--quiet")
    assert code == 0, output
    return out


@pytest.fixture(scope="module")
def licensed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nc")
    src = write_xray_source(root / "src")
    out = root / "nc-out"
    code, output = run_cli("recipe", "orientation", "--source", src, "--out", out, "--quiet")
    assert code == 0, output
    return out


def _load(folder: Path) -> tuple[dict, dict]:
    return (
        json.loads((folder / "croissant.json").read_text(encoding="utf-8")),
        json.loads((folder / "manifest.json").read_text(encoding="utf-8")),
    )


def _validate(folder: Path):  # type: ignore[no-untyped-def]
    ds = mlc.Dataset(jsonld=folder / "croissant.json")  # raises mlc.ValidationError on any error
    issues = ds.metadata.ctx.issues
    assert not issues.errors
    assert all(ALLOWED_WARNING in w for w in issues.warnings), issues.warnings
    return ds


@pytest.mark.parametrize("which", ["release", "licensed"])
def test_croissant_validates_with_mlcroissant(which: str, request: pytest.FixtureRequest) -> None:
    folder = request.getfixturevalue(which)
    croissant, manifest = _load(folder)
    assert croissant["conformsTo"] == CONFORMS_TO
    ds = _validate(folder)
    assert sorted(rs.uuid for rs in ds.metadata.record_sets) == sorted(manifest["configs"])
    # The RAI vocabulary is understood (right IRIs), not merely present as unknown keys.
    meta = ds.metadata
    for value in (
        meta.data_collection,
        meta.data_preprocessing_protocol,
        meta.data_annotation_protocol,
        meta.personal_sensitive_information,
        meta.data_limitations,
    ):
        assert value and all(str(v).strip() for v in (value if isinstance(value, list) else [value]))


def test_records_read_by_mlcroissant_equal_the_parquet_rows(release: Path) -> None:
    _, manifest = _load(release)
    config = "imaging_orientation_cxr"
    ds = _validate(release)
    rows = {row["id"]: row for row in iter_rows(release, manifest["configs"][config])}
    seen = 0
    for record in ds.records(config):
        value = {k.split("/", 1)[1]: v for k, v in record.items()}
        row = rows[value["id"].decode()]
        for column in ("task", "question", "answer", "prompt", "modality", "anatomy", "source", "license"):
            assert value[column].decode() == row[column], column
        assert json.loads(value["label"]) == json.loads(row["label"])
        assert json.loads(value["provenance"]) == json.loads(row["provenance"])
        assert [c.decode() for c in value["choices"]] == row["choices"]
        assert len(value["images"]) == len(row["images"])
        for pil, stored in zip(value["images"], row["images"], strict=True):
            assert np.array_equal(np.asarray(pil), np.asarray(Image.open(io.BytesIO(stored["bytes"]))))
        seen += 1
        if seen == 3:
            break
    assert seen == min(3, len(rows))


def test_fields_follow_the_parquet_columns(release: Path) -> None:
    croissant, manifest = _load(release)
    for record_set in croissant["recordSet"]:
        config = record_set["@id"]
        fields = {f["name"]: f for f in record_set["field"]}
        path = release / manifest["configs"][config]["files"][0]["path"]
        assert list(fields) == pq.read_schema(path).names
        assert fields["choices"]["repeated"] is True and fields["choices"]["dataType"] == "sc:Text"
        assert fields["images"]["repeated"] is True and fields["images"]["dataType"] == "sc:ImageObject"
        assert fields["images"]["source"]["transform"] == {"jsonPath": "bytes"}
        assert record_set["key"] == {"@id": f"{config}/id"}
        assert all(f["source"]["fileSet"] == {"@id": f"parquet-files-{config}"} for f in fields.values())


def test_rai_fields_are_present_and_say_what_the_manifest_says(release: Path) -> None:
    croissant, manifest = _load(release)
    for key in RAI_FIELDS:
        value = croissant[key]
        assert value and all(v.strip() for v in (value if isinstance(value, list) else [value])), key
    assert croissant["@context"]["rai"] == "http://mlcommons.org/croissant/RAI/"
    limitations = " ".join(croissant["rai:dataLimitations"])
    assert "Sample build" in limitations and "synthetic" in limitations
    for reason in manifest["skipped"]["by_reason"]:
        assert reason in limitations
    for task in manifest["release"]["missing_tasks"]:
        assert f"Task {task} is missing" in limitations
    preprocessing = " ".join(croissant["rai:dataPreprocessingProtocol"])
    for recipe, description in manifest["recipe_descriptions"].items():
        assert f"Recipe {recipe} " in preprocessing and " ".join(description.split())[:60] in preprocessing
    annotation = " ".join(croissant["rai:dataAnnotationProtocol"])
    assert all(config in annotation for config in manifest["configs"])
    assert "synthetic phantom" in " ".join(croissant["rai:personalSensitiveInformation"])
    collection = croissant["rai:dataCollection"]
    assert all(s["id"] in collection for s in manifest["sources"])


def test_licenses_per_config_equal_the_manifest(licensed: Path, release: Path) -> None:
    for folder in (release, licensed):
        croissant, manifest = _load(folder)
        filesets = {d["@id"]: d for d in croissant["distribution"] if d["@type"] == "cr:FileSet"}
        for config, info in manifest["configs"].items():
            fileset = filesets[f"parquet-files-{config}"]
            assert " AND ".join(w["name"] for w in fileset["license"]) == info["license"]
            assert fileset["includes"] == f"data/{config}/*.parquet"
        dataset_licenses = {w["name"] for w in croissant["license"]}
        assert dataset_licenses == {s["license"] for s in manifest["sources"]}
    croissant, manifest = _load(licensed)
    assert {w["name"] for w in croissant["license"]} == {"CC-BY-NC-SA-4.0"}
    assert croissant["license"][0]["url"] == "https://spdx.org/licenses/CC-BY-NC-SA-4.0.html"
    for config in manifest["configs"]:
        assert "non-commercial" in next(r["description"] for r in croissant["recordSet"] if r["@id"] == config)
    assert croissant["citeAs"] == f"{MEDBLINK_CITATION}\n\n{CITATION}"  # the benchmark, then the source
    assert "non-commercial" in " ".join(croissant["rai:dataLimitations"])
    assert "Medical images of patients" in " ".join(croissant["rai:personalSensitiveInformation"])
    assert "access registration" in croissant["rai:dataCollection"]
    assert "https://example.org/test-xrays" in croissant["rai:dataCollection"]


def test_file_objects_carry_the_manifest_digests(release: Path) -> None:
    croissant, manifest = _load(release)
    objects = {d["@id"]: d for d in croissant["distribution"] if d["@type"] == "cr:FileObject"}
    listed = [entry for info in manifest["configs"].values() for entry in info["files"]]
    assert sorted(objects) == sorted(e["path"] for e in listed)
    for entry in listed:
        obj = objects[entry["path"]]
        assert obj["sha256"] == entry["sha256"] == hashlib.sha256((release / entry["path"]).read_bytes()).hexdigest()
        assert obj["contentSize"] == f"{entry['bytes']} B" and obj["contentUrl"] == entry["path"]


def test_croissant_is_deterministic_and_not_in_the_manifest(release: Path, xray_source: Path, tmp_path: Path) -> None:
    text = (release / "croissant.json").read_text(encoding="utf-8")
    assert croissant_text(release) == text
    assert "croissant.json" not in (release / "manifest.json").read_text(encoding="utf-8")
    assert json.dumps(json.loads(text), indent=1, sort_keys=True, ensure_ascii=False) + "\n" == text
    assert str(release) not in text
    # The same build into folders of other names, with other worker counts: the same bytes.
    texts = []
    for name, workers in (("first", 1), ("second-out", 2)):
        out = tmp_path / name
        source = f"medblink-sample-xray={xray_source}"
        code, output = run_cli("recipe", "orientation", "--source", source, "--out", out, "--workers", workers, "-q")
        assert code == 0, output
        texts.append((out / "croissant.json").read_bytes())
    assert texts[0] == texts[1]


def test_card_marks_restricted_configs(licensed: Path, release: Path) -> None:
    card = (licensed / "README.md").read_text(encoding="utf-8")
    assert "| license |" in card
    assert "CC-BY-NC-SA-4.0 (non-commercial; redistribution terms not stated)" in card
    assert "**License restrictions.**" in card
    sample_card = (release / "README.md").read_text(encoding="utf-8")
    assert "| CC0-1.0 |" in sample_card and "**License restrictions.**" not in sample_card
