"""The privacy gate: identifiers planted in every confidentiality-profile tag never reach the output."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pydicom.datadict import dictionary_VR, keyword_dict

from medblink_build.privacy import IDENTIFYING_KEYWORDS
from medblink_build.sources.dicom_writer import write_radiograph
from medblink_build.sources.phantoms import chest_pa
from tests.conftest import run_cli


def _planted_values() -> dict[str, str]:
    values = {}
    for i, keyword in enumerate(IDENTIFYING_KEYWORDS):
        if keyword not in keyword_dict or keyword == "MediaStorageSOPInstanceUID":
            continue
        vr = dictionary_VR(keyword_dict[keyword])
        if vr == "SQ":
            continue
        values[keyword] = {
            "PN": f"Planted{i:03d}^Given{i:03d}",
            "DA": f"19{i % 90 + 10:02d}0{i % 9 + 1}1{i % 9}",
            "TM": f"1{i % 9}2{i % 9}33.{i:03d}",
            "DT": f"19{i % 90 + 10:02d}0101101010.{i:03d}",
            "UI": f"1.2.826.0.1.3680043.10.9999.{i + 1000}",
        }.get(vr, f"PL{i:03d}-{keyword[:8].upper()}")
    return values


@pytest.fixture
def identified_source(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "identified"
    planted = _planted_values()
    for n in range(3):
        values = dict(planted)
        if n:  # distinct UIDs per file, as in a real archive
            values = {k: (f"{v}.{n}" if dictionary_VR(keyword_dict[k]) == "UI" else v) for k, v in values.items()}
        write_radiograph(root / f"chest_{n}.dcm", chest_pa(n, 128), uid_seed=f"p{n}", extra=values)
    return root, planted


def _all_output_text(out: Path) -> str:
    parts = []
    for path in sorted(out.rglob("*")):
        parts.append(path.relative_to(out).as_posix())
        if path.suffix == ".parquet":
            for row in pq.read_table(path).to_pylist():
                for key, value in row.items():
                    if key == "images":
                        parts.extend(img["path"] for img in value)
                    else:
                        parts.append(json.dumps(value))
        elif path.is_file():
            parts.append(path.read_text(encoding="utf-8"))
    return "\n".join(parts)


def test_no_identifier_reaches_any_output_byte(identified_source: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, planted = identified_source
    out = tmp_path / "out"
    code, output = run_cli("recipe", "orientation", "--source", root, "--out", out)
    assert code == 0, output
    text = _all_output_text(out)
    assert "imaging_orientation_cxr" in text  # the scan did read the rows
    leaked = {k: v for k, v in planted.items() if any(part in text for part in v.split("^"))}
    assert leaked == {}


def test_a_recipe_that_leaks_an_identifier_stops_the_build(
    identified_source: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, planted = identified_source
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "leaky.py").write_text(
        textwrap.dedent("""
        import pydicom
        from medblink_build.recipes.orientation import Orientation

        class Leaky(Orientation):
            name = "leaky"

            def build(self, item, ctx):
                example = super().build(item, ctx)
                example.label["who"] = str(pydicom.dcmread(item.path(0)).PatientName)
                return example
    """)
    )
    out = tmp_path / "out"
    code, output = run_cli("recipe", "leaky", "--recipes-dir", recipes, "--source", root, "--out", out)
    assert code != 0
    assert "PatientName" in output and "build was stopped" in output
    assert planted["PatientName"] not in output
    assert not out.exists()


def test_burned_in_annotation_is_skipped_and_recorded(tmp_path: Path) -> None:
    root = tmp_path / "burned"
    write_radiograph(root / "a.dcm", chest_pa(1, 128), uid_seed="b1", extra={"BurnedInAnnotation": "YES"})
    write_radiograph(root / "b.dcm", chest_pa(2, 128), uid_seed="b2", extra={"BurnedInAnnotation": "NO"})
    code, output = run_cli("recipe", "orientation", "--source", root, "--out", tmp_path / "out")
    assert code == 0, output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    (skip,) = manifest["skipped"]["items"]
    assert skip["reason"] == "burned_in_annotation" and skip["key"].endswith("a.dcm")
    assert manifest["configs"]["imaging_orientation_cxr"]["rows"] == 1


def test_name_parts_match_whole_words_only() -> None:
    from medblink_build.privacy import PrivacyError, check_texts

    ids = {"MARK": "PatientName of a.dcm", "19450101": "PatientBirthDate of a.dcm"}
    check_texts(["Which marker is closer?", "sha256 ab19450101cd"], ids, [], "t")  # no false hits
    with pytest.raises(PrivacyError, match="PatientName"):
        check_texts(["label by Mark"], ids, [], "t")
    with pytest.raises(PrivacyError, match="PatientBirthDate"):
        check_texts(['{"born": "19450101"}'], ids, [], "t")
    check_texts(["case MARK/x.dcm"], ids, ["MARK/x.dcm"], "t")  # the release's own key is exempt
