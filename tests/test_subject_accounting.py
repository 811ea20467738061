"""The task's subject (modality, species) and the accounting of every file, on real DICOM files.

Real files: pydicom's own test files (CT_small, MR_small, SC_rgb_rle, examples_rgb_color) and a
real computed radiograph from pydicom-data (tests/data/acct/README.md). Where a property the
real files lack is needed (a veterinary species, an MR ContrastBolusAgent, no preamble, no
SeriesInstanceUID), the test sets it on a copy and says so.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medblink_build.model import Subject
from medblink_build.readers import looks_like_dicom, read_image
from medblink_build.sources.resolve import resolve_source
from medblink_build.subject import Accepts, check_subject, screen

from .conftest import declare_public, run_cli

DATA = Path(__file__).parent / "data" / "acct"
RADIOGRAPH = DATA / "RG1_J2KI.dcm"  # real CR, chest PA, PatientOrientation L\F, no species


def _copy(name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(get_testdata_file(name), dest)
    return dest


def _edited(src: Path | str, dest: Path, **attributes: object) -> Path:
    """A copy of a real file with some attributes set (None deletes one)."""
    ds = pydicom.dcmread(src)
    for keyword, value in attributes.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    dest.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dest)
    return dest


def _build(recipe: str, src: Path, out: Path, *extra: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    """Build from a local folder whose file names the tests follow (declared public, so not pseudonymised)."""
    if not (src / "source.toml").exists():
        declare_public(src)
    code, output = run_cli("recipe", recipe, "--source", src, "--out", out, "--workers", "1", "--allow-empty", *extra)
    assert code == 0, output
    return json.loads((out / "manifest.json").read_text()), output


def _skips(manifest: dict) -> dict[str, tuple[str, str]]:  # type: ignore[type-arg]
    return {s["key"].split("/", 1)[1]: (s["reason"], s["detail"]) for s in manifest["skipped"]["items"]}


def _regular_files(root: Path) -> int:
    return sum(1 for _d, _s, files in os.walk(root) for f in files if Path(_d, f).is_file())


def _assert_accounted(manifest: dict, roots: dict[str, Path]) -> None:  # type: ignore[type-arg]
    """N = in_rows + skipped + filtered, N = the regular files under the root, nothing unaccounted."""
    assert manifest["accounting"], "no accounting in manifest.json"
    for entry in manifest["accounting"]:
        assert entry["files"] == entry["in_rows"] + entry["skipped"] + entry["filtered"], entry
        assert entry["files"] == _regular_files(roots[entry["source"]]), entry
        assert "unaccounted" not in entry["filtered_by_reason"], entry
        assert sum(entry["filtered_by_reason"].values()) == entry["filtered"]


# --------------------------------------------------------------------------- defect 1: modality


def test_enhancement_skips_an_mr_with_contrast_agent_as_wrong_modality(tmp_path: Path) -> None:
    src = tmp_path / "contrast"
    _copy("CT_small.dcm", src / "ct.dcm")  # real CT, ContrastBolusAgent ISOVUE300/100: a row
    # MR_small has no ContrastBolusAgent: set on this copy, as the Omniscan MR series of issue 12 had.
    _edited(get_testdata_file("MR_small.dcm"), src / "mr.dcm", ContrastBolusAgent="Omniscan")
    manifest, _ = _build("enhancement", src, tmp_path / "out")
    assert manifest["configs"]["image_enhancement_detection"]["rows"] == 1
    reason, detail = _skips(manifest)["mr.dcm"]
    assert reason == "wrong_modality"
    assert "DICOM Modality MR" in detail and "Omniscan" not in detail


def test_orientation_skips_ultrasound_and_screen_captures_labelled_chest(tmp_path: Path) -> None:
    src = tmp_path / "mixed"
    src.mkdir()
    shutil.copyfile(RADIOGRAPH, src / "cr.dcm")  # real CR chest PA: a row
    _copy("examples_rgb_color.dcm", src / "us.dcm")  # real ultrasound (Modality US)
    _copy("examples_rgb_color.dcm", src / "us_says_xray.dcm")
    _copy("SC_rgb_rle.dcm", src / "screen.dcm")  # real Secondary Capture, Modality OT
    _copy("SC_rgb_rle.dcm", src / "screen_says_xray.dcm")
    shutil.copyfile(RADIOGRAPH, src / "cr_says_pelvis.dcm")  # BodyPartExamined CHEST
    shutil.copyfile(RADIOGRAPH, src / "knee.dcm")
    (src / "labels.csv").write_text(
        "path,anatomy,modality\n"
        "cr.dcm,chest,X-ray\n"
        "cr_says_pelvis.dcm,pelvis,X-ray\n"
        "knee.dcm,knee,X-ray\n"
        "us.dcm,chest,\n"
        "us_says_xray.dcm,chest,X-ray\n"
        "screen.dcm,chest,\n"
        "screen_says_xray.dcm,chest,X-ray\n"
    )
    manifest, _ = _build("orientation", src, tmp_path / "out")
    assert manifest["configs"]["imaging_orientation_cxr"]["rows"] == 1  # the real radiograph
    skips = _skips(manifest)
    assert skips["us.dcm"][0] == "wrong_modality" and "DICOM Modality US" in skips["us.dcm"][1]
    assert skips["us_says_xray.dcm"][0] == "metadata_conflict"
    assert skips["screen.dcm"][0] == "wrong_modality" and "Secondary Capture" in skips["screen.dcm"][1]
    assert skips["screen_says_xray.dcm"][0] == "metadata_conflict"
    conflict = ("metadata_conflict", "metadata anatomy 'pelvis', DICOM BodyPartExamined CHEST")
    assert skips["cr_says_pelvis.dcm"] == conflict
    (entry,) = manifest["accounting"]
    assert entry["filtered_paths"]["not_this_recipe_anatomy"] == ["knee.dcm"]
    _assert_accounted(manifest, {m["source"]: src for m in manifest["accounting"]})


def test_metadata_of_another_modality_is_a_recorded_filter(tmp_path: Path) -> None:
    src = tmp_path / "mr_only"
    _copy("MR_small.dcm", src / "mr.dcm")
    (src / "labels.csv").write_text("path,modality\nmr.dcm,MRI\n")
    manifest, output = _build("enhancement", src, tmp_path / "out")
    (entry,) = manifest["accounting"]
    assert entry["filtered_paths"]["not_this_recipe_modality"] == ["mr.dcm"]
    assert entry["filtered_paths"]["metadata_table"] == ["labels.csv", "source.toml"]  # source.toml: _build's
    assert "files: 3 = 0 in rows / 0 skipped / 3 filtered" in output


@pytest.mark.parametrize(
    ("recipe", "name", "modality"),
    [("wave-depth", "CT_small.dcm", "CT"), ("relative-position", "MR_small.dcm", "MR"), ("age", "CT_small.dcm", "CT")],
)
def test_each_recipe_skips_a_real_file_of_another_modality(
    tmp_path: Path, recipe: str, name: str, modality: str
) -> None:
    src = tmp_path / "other"
    _copy(name, src / name)
    (src / "labels.csv").write_text(f"path,age\n{name},40\n")  # the age recipe would have a label
    manifest, _ = _build(recipe, src, tmp_path / "out")
    assert _skips(manifest)[name] == (
        "wrong_modality",
        f"{name}: DICOM Modality {modality} (recipe takes {_takes(recipe)})",
    )


def _takes(recipe: str) -> str:
    from medblink_build.registry import find_recipe

    return find_recipe(recipe).load().accepts.words()


@pytest.mark.parametrize("recipe", ["visual-depth", "histology-structure", "morphology-count", "wave-depth"])
def test_metadata_naming_another_modality_filters_before_any_read(tmp_path: Path, recipe: str) -> None:
    src = tmp_path / "ct_source"
    _copy("CT_small.dcm", src / "ct.dcm")
    (src / "labels.csv").write_text("path,modality\nct.dcm,CT\n")
    manifest, _ = _build(recipe, src, tmp_path / "out")
    (entry,) = manifest["accounting"]
    assert entry["filtered_paths"]["not_this_recipe_modality"] == ["ct.dcm"]
    assert manifest["skipped"]["items"] == []


def test_subject_is_exposed_by_the_readers_without_the_recipe_parsing() -> None:
    image = read_image(RADIOGRAPH)
    assert image.subject == Subject("CR", "1.2.840.10008.5.1.4.1.1.1", None)
    screen_capture = read_image(get_testdata_file("SC_rgb_rle.dcm"))
    assert screen_capture.subject.sop_class_uid == "1.2.840.10008.5.1.4.1.1.7"


# --------------------------------------------------------------------------- defect 2: species


def test_a_veterinary_radiograph_is_never_given_a_human_age_or_orientation(tmp_path: Path) -> None:
    src = tmp_path / "vet"
    # No real veterinary DICOM is available here: the species is set on a copy of a real radiograph.
    _edited(RADIOGRAPH, src / "cat.dcm", PatientSpeciesDescription="Feline", PatientBreedDescription="Siamese")
    shutil.copyfile(RADIOGRAPH, src / "human.dcm")  # no species: human, the DICOM default
    (src / "labels.csv").write_text("path,anatomy,age\ncat.dcm,chest,5\nhuman.dcm,chest,40\n")
    for recipe, config in (("age", "age_estimation"), ("orientation", "imaging_orientation_cxr")):
        manifest, _ = _build(recipe, src, tmp_path / f"out-{recipe}")
        assert manifest["configs"][config]["rows"] == 1, recipe
        reason, detail = _skips(manifest)["cat.dcm"]
        assert reason == "non_human_subject", recipe
        assert "Feline" not in detail and "Siamese" not in detail  # header free text never leaves


def test_species_from_the_code_sequence_and_from_the_metadata() -> None:
    accepts = Accepts({"xray"}, human=True)
    canine = Subject("DX", None, "SCT:448771007")
    with pytest.raises(Exception, match="PatientSpeciesCodeSequence gives SCT:448771007") as info:
        check_subject(accepts, {}, canine, "x.dcm")
    assert getattr(info.value, "reason", "") == "non_human_subject"
    check_subject(accepts, {}, Subject("DX", None, "SCT:337915000"), "x.dcm")  # Homo sapiens
    assert screen(accepts, {"species": "canine"}) == (
        "skip",
        "non_human_subject",
        "metadata species 'canine' is not human",
    )
    assert screen(accepts, {"species": "Homo sapiens"}) is None
    assert screen(Accepts({"us"}, human=False), {"species": "canine"}) is None  # depth needs no human


def test_the_reader_reads_the_species_code(tmp_path: Path) -> None:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "448771007", "SCT", "Canis lupus familiaris"
    path = _edited(RADIOGRAPH, tmp_path / "dog.dcm", PatientSpeciesCodeSequence=Sequence([code]))
    assert read_image(path).subject.species == "SCT:448771007"


# --------------------------------------------------------------------------- defect 3: dropped files


def test_dicom_is_found_by_content_whatever_its_name(tmp_path: Path) -> None:
    src = tmp_path / "pacs"
    _copy("CT_small.dcm", src / "CT.1.3.12.2.1107.5.1.4.54693")  # TotalSegmentator-style UID name
    _copy("CT_small.dcm", src / "IM0001")
    raw = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    assert raw[128:132] == b"DICM"
    (src / "IM0002.1").write_bytes(raw[132:])  # no preamble (old PACS exports): written by this test
    assert looks_like_dicom(raw[132:264]) and not looks_like_dicom(b"path,age\n" * 20)
    manifest, _ = _build("enhancement", src, tmp_path / "out")
    assert manifest["configs"]["image_enhancement_detection"]["rows"] == 3
    (entry,) = manifest["accounting"]
    assert (entry["files"], entry["in_rows"]) == (4, 3)  # and the source.toml _build declares the names public in


def test_series_grouping_problems_are_recorded_skips(tmp_path: Path) -> None:
    src = tmp_path / "anonymised"
    _copy("CT_small.dcm", src / "a" / "1.dcm")
    # Anonymised exports may drop the UID: deleted on this copy of a real CT.
    _edited(get_testdata_file("CT_small.dcm"), src / "b" / "1.dcm", SeriesInstanceUID=None)
    _copy("liver_1frame.dcm", src / "c" / "seg.dcm")  # a real SEG (an image); grouped as its own series
    _copy("test-SR.dcm", src / "d" / "report.dcm")  # a real structured report: DICOM without an image
    (src / "d" / "broken.dcm").write_bytes(b"\x00" * 64)  # truncated export (written by this test)
    (src / "notes.txt").write_text("exported from PACS\n")
    (src / "source.toml").write_text(
        'id = "anon-ct"\npublic_paths = true\nname = "Anonymised CT"\nlicense = "unknown"\naccess = "open"\n'
        'how_to_obtain = "test"\nmodality = "CT"\nanatomy = "abdomen"\ncitation = "none"\nhomepage = "none"\n\n'
        '[layout]\nitem = "series"\ninclude = ["*/*.dcm"]\n'
    )
    manifest, output = _build("enhancement", src, tmp_path / "out")
    skips = _skips(manifest)
    assert skips["b/1.dcm"][0] == "series_uid_missing"
    assert skips["d/report.dcm"][0] == "dicom_without_image"
    assert skips["d/broken.dcm"][0] == "unreadable"
    assert skips["c"][0] == "wrong_modality"  # the SEG series (keyed by its folder) is not a CT image
    assert "series_uid_missing 1" in output
    (entry,) = manifest["accounting"]
    assert entry["filtered_paths"]["not_included"] == ["notes.txt"]
    assert entry["filtered_paths"]["metadata_table"] == ["source.toml"]
    _assert_accounted(manifest, {"anon-ct": src})


def test_slides_in_a_generic_folder_are_candidates_for_histology_only(tmp_path: Path) -> None:
    src = tmp_path / "slides"
    src.mkdir()
    for name in ("case.svs", "case.ndpi", "case.mrxs", "case.scn"):
        (src / name).write_bytes(b"II*\x00" + bytes(64))  # the suffix decides discovery; content is the reader's
    (src / "case").mkdir()
    (src / "case" / "Slidedat.ini").write_text("[GENERAL]\n")  # MIRAX data folder
    inventory = resolve_source(str(src)).inventory()
    assert [rel for rel, reason in inventory.items() if reason is None] == [
        "case.mrxs",
        "case.ndpi",
        "case.scn",
        "case.svs",
    ]
    assert inventory["case/Slidedat.ini"] == "slide_companion"
    orientation = Accepts({"xray"})
    assert screen(orientation, {}, "case.svs")[:2] == ("filter", "not_this_recipe_modality")  # type: ignore[index]
    assert screen(Accepts({"histology"}, human=False), {}, "case.svs") is None


def test_a_real_svs_in_a_generic_folder_reaches_the_histology_recipe(tmp_path: Path) -> None:
    src = tmp_path / "slides"
    src.mkdir()
    shutil.copyfile(DATA / "small.svs", src / "slide.svs")  # openslide-python's real Aperio fixture
    (src / "README.txt").write_text("scanned slides\n")
    manifest, _ = _build("histology-structure", src, tmp_path / "out-histology")
    # A candidate now: it is read and skipped for what it lacks (the generic folder pairs no annotation).
    assert _skips(manifest)["slide.svs"][0] == "no_annotation"
    _assert_accounted(manifest, {m["source"]: src for m in manifest["accounting"]})
    manifest, _ = _build("orientation", src, tmp_path / "out-orientation")
    (entry,) = manifest["accounting"]
    assert entry["filtered_paths"]["not_this_recipe_modality"] == ["slide.svs"]  # never read as an X-ray


# --------------------------------------------------------------------------- the invariant


def test_every_file_of_a_mixed_real_folder_is_accounted_for(tmp_path: Path) -> None:
    src = tmp_path / "mixed"
    _copy("CT_small.dcm", src / "ct" / "CT_small.dcm")
    _copy("CT_small.dcm", src / "ct" / "CT.1.3.12.2.1107.5.1.4.1")
    _copy("MR_small.dcm", src / "mr" / "MR_small.dcm")
    _copy("SC_rgb_rle.dcm", src / "sc" / "SC_rgb_rle.dcm")
    (src / "docs").mkdir()
    (src / "docs" / "notes.txt").write_text("not an image\n")
    (src / "docs" / "table.csv").write_text("a,b\n1,2\n")
    (src / "docs" / "report.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (src / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (src / "labels.csv").write_text("path,anatomy\nsc/SC_rgb_rle.dcm,chest\n")
    for recipe in ("enhancement", "orientation", "age"):
        manifest, output = _build(recipe, src, tmp_path / f"out-{recipe}")
        (entry,) = manifest["accounting"]
        _assert_accounted(manifest, {entry["source"]: src})
        assert entry["files"] == 10  # with the source.toml _build writes
        assert f"files: 10 = {entry['in_rows']} in rows / {entry['skipped']} skipped" in output
        assert entry["filtered_by_reason"]["hidden"] == 1
        assert entry["filtered_by_reason"]["not_an_image"] == 3
    assert entry["filtered_paths"]["metadata_table"] == ["labels.csv", "source.toml"]


def test_limit_reached_items_are_accounted_for(tmp_path: Path, xray_source: Path) -> None:
    manifest, _ = _build("orientation", xray_source, tmp_path / "out", "--limit", "2")
    (entry,) = manifest["accounting"]
    _assert_accounted(manifest, {entry["source"]: xray_source})
    assert entry["filtered_by_reason"]["limit_reached"] > 0
    assert entry["in_rows"] == 4
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Accepts: projection X-ray (DICOM Modality CR, DX" in card and "human subjects only" in card


RECIPES = (
    "orientation",
    "enhancement",
    "relative-position",
    "visual-depth",
    "wave-depth",
    "histology-structure",
    "morphology-count",
    "age",
)


@pytest.mark.parametrize("recipe", RECIPES)
def test_sample_builds_account_for_every_file(tmp_path: Path, recipe: str) -> None:
    from medblink_build.build.pipeline import BuildOptions, run_recipe
    from medblink_build.build.worker import recipe_instance
    from medblink_build.registry import find_recipe
    from medblink_build.sources.samples import materialize_sample

    ref = find_recipe(recipe)
    sources = [materialize_sample(sid, tmp_path / "src") for sid in recipe_instance(ref).sample_sources]
    summary = run_recipe(ref, sources, tmp_path / "out", BuildOptions(workers=1, resume=False))
    _assert_accounted(summary.manifest, {s.id: s.root for s in sources})
    assert summary.accounting["in_rows"] > 0
    assert summary.accounting["files"] == sum(_regular_files(s.root) for s in sources)


def test_accounting_is_the_same_whatever_the_worker_count(tmp_path: Path, xray_source: Path) -> None:
    runs = []
    for workers in ("1", "2"):
        out = tmp_path / f"out-{workers}"
        args = ("--source", xray_source, "--out", out, "--limit", "3", "--workers", workers, "--quiet")
        code, output = run_cli("recipe", "orientation", *args)
        assert code == 0, output
        manifest = json.loads((out / "manifest.json").read_text())
        runs.append((manifest["accounting"], manifest["skipped"]))
    assert runs[0] == runs[1]


def test_conflict_means_another_kind_of_image_not_a_related_one() -> None:
    age = Accepts({"xray", "fluoroscopy"})
    check_subject(age, {"modality": "X-ray"}, Subject("XA"), "a.dcm")  # angiography is an X-ray
    check_subject(Accepts({"ct"}), {"modality": "CT (contrast)"}, Subject("CT"), "b.dcm")
    with pytest.raises(Exception, match="metadata modality 'X-ray', DICOM Modality US"):
        check_subject(age, {"modality": "X-ray"}, Subject("US"), "c.dcm")
