"""Source manifests: every shipped card parses, is honest about what is unverified, and binds a folder.

The facts in the manifests come from shared/SOURCES.md; these tests check their form and internal
consistency (ids, tasks, licences, layout globs), the parser's error messages, and that the NIH
manifest turns a tiny fake NIH folder into items with per-image metadata. Nothing is downloaded.
"""

from __future__ import annotations

import fnmatch
import re
from importlib import resources
from pathlib import Path, PurePosixPath

import pytest
from PIL import Image

from medblink_build.errors import SourceError
from medblink_build.manifests import ACCESS_KINDS, NON_COMMERCIAL, Manifest, builtin_manifests, parse_manifest
from medblink_build.sources.resolve import resolve_source

MEDBLINK_TASKS = frozenset(
    {
        "imaging_orientation_cxr",
        "imaging_orientation_pelvic",
        "image_enhancement_detection",
        "relative_position",
        "visual_depth_estimation",
        "wave_based_depth_estimation",
        "histology_structure",
        "morphology_quantification",
        "age_estimation",
    }
)

#: One manifest per public source named in SOURCES.md.
EXPECTED_SOURCES = frozenset(
    {
        "nih-chestxray14",
        "rsna-pneumonia",
        "vindr-cxr",
        "mimic-cxr-jpg",
        "fracatlas",
        "pengwin-2024-task2",
        "siim-ct-medical-images",
        "hcc-tace-seg",
        "totalsegmentator",
        "amos-2022",
        "btcv",
        "c3vd",
        "simcol3d",
        "scared",
        "busi",
        "camus",
        "open-kidney-ultrasound",
        "skin-histology-segmentation",
        "bcss",
        "dentex",
        "tufts-dental",
        "rsna-bone-age",
    }
)

#: Sources whose licence (or access terms) SOURCES.md marks [U] or does not give at all.
UNVERIFIED_LICENSE = frozenset(
    {
        "pengwin-2024-task2",
        "c3vd",
        "busi",
        "skin-histology-segmentation",
        "bcss",
        "rsna-bone-age",
        # open-kidney-ultrasound: [U] in SOURCES.md, since read in the rsingla92/kidneyUS README (CC BY-NC-SA)
        "tufts-dental",
        "hcc-tace-seg",
        "btcv",
        "vindr-cxr",
        "mimic-cxr-jpg",
    }
)

#: Licence ids a manifest may use: SPDX ids of the licences in SOURCES.md, or unknown/other with a note.
KNOWN_LICENSES = frozenset(
    {"CC0-1.0", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-NC-4.0", "CC-BY-NC-SA-4.0", "unknown", "other"}
)

MINIMAL = """
id = "x"
name = "X"
homepage = "https://example.org/x"
license = "CC-BY-4.0"
access = "open"
how_to_obtain = "Download it."
citation = "@misc{x, title = {X}}"
modality = "X-ray"
anatomy = "chest"
"""


def _manifests() -> dict[str, Manifest]:
    return builtin_manifests()


def _real() -> list[Manifest]:
    return [m for m in _manifests().values() if m.access != "generated"]


# --- every shipped manifest -------------------------------------------------------------------


def test_every_shipped_manifest_parses_and_every_source_has_one() -> None:
    manifests = _manifests()
    missing = EXPECTED_SOURCES - set(manifests)
    assert not missing, f"no manifest for {sorted(missing)}"


def test_ids_are_unique_lowercase_and_equal_the_file_stem() -> None:
    folder = resources.files("medblink_build.data_manifests")
    seen: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        manifest = parse_manifest(entry.read_text(encoding="utf-8"), f"data_manifests/{entry.name}")
        stem = entry.name.removesuffix(".toml")
        assert manifest.id == stem, f"{entry.name}: id {manifest.id!r} differs from the file name"
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", manifest.id), manifest.id
        assert manifest.id not in seen, f"{entry.name} repeats the id of {seen[manifest.id]}"
        seen[manifest.id] = entry.name
    assert set(seen) == set(_manifests())


def test_real_sources_have_homepage_citation_and_obtain_steps() -> None:
    for m in _real():
        assert m.homepage, m.id
        assert m.homepage.startswith("https://") or m.homepage == "unknown", f"{m.id}: {m.homepage!r}"
        if m.homepage == "unknown":  # no URL or identifier in SOURCES.md: the card must say so
            assert any("homepage" in u for u in m.unverified), m.id
        assert m.citation.startswith("@") and m.citation.count("{") == m.citation.count("}"), m.id
        assert m.how_to_obtain and m.layout, m.id


def test_licenses_access_and_notes() -> None:
    for m in _manifests().values():
        assert m.license in KNOWN_LICENSES, f"{m.id}: licence {m.license!r}"
        assert m.access in ACCESS_KINDS, m.id
        if m.license in ("unknown", "other"):
            assert m.license_note, f"{m.id}: licence {m.license} needs a license_note"


def test_tasks_are_medblink_task_ids() -> None:
    for m in _manifests().values():
        assert m.tasks, f"{m.id}: names no task"
        unknown = set(m.tasks) - MEDBLINK_TASKS
        assert not unknown, f"{m.id}: unknown task ids {sorted(unknown)}"


def test_each_medblink_task_has_a_real_source() -> None:
    covered = {task for m in _real() for task in m.tasks}
    assert covered >= MEDBLINK_TASKS, f"no real source for {sorted(MEDBLINK_TASKS - covered)}"


def test_non_commercial_licences_are_flagged() -> None:
    manifests = _manifests()
    for m in manifests.values():
        assert m.non_commercial == ("-NC" in m.license), m.id
        assert m.non_commercial == (m.license in NON_COMMERCIAL), m.id
    for source_id in ("simcol3d", "camus", "dentex"):
        assert manifests[source_id].non_commercial, source_id
    for source_id in ("fracatlas", "totalsegmentator", "nih-chestxray14", "amos-2022"):
        assert not manifests[source_id].non_commercial, source_id


def test_unverified_licences_are_unknown_or_other_and_listed() -> None:
    manifests = _manifests()
    for source_id in sorted(UNVERIFIED_LICENSE):
        m = manifests[source_id]
        assert m.license in ("unknown", "other"), f"{source_id}: licence is [U] but recorded as {m.license}"
        assert m.unverified, f"{source_id}: nothing listed as unverified"
    for m in manifests.values():
        if m.license == "unknown":
            assert m.unverified, m.id


def test_source_specific_facts() -> None:
    manifests = _manifests()
    for source_id in ("pengwin-2024-task2", "simcol3d"):
        assert manifests[source_id].synthetic, source_id
        assert "simulated" in manifests[source_id].name.lower(), source_id
    assert manifests["scared"].redistributable is False
    assert manifests["scared"].access == "agreement"
    assert "anatomy" not in manifests["fracatlas"].defaults  # hip images are not all AP pelvis
    amos = manifests["amos-2022"]
    assert "CC BY 4.0" in amos.license_note and "CC BY-SA 4.0" in amos.license_note
    nih = manifests["nih-chestxray14"]
    assert nih.defaults.get("anatomy") == "chest"
    assert nih.detect == ("Data_Entry_2017*.csv",)  # the table as released or its v2020 revision
    (table,) = nih.tables
    assert (table.path, table.key, table.match) == ("Data_Entry_2017*.csv", "Image Index", "name")
    assert table.columns == {
        "view": "View Position",
        "age": "Patient Age",
        "sex": "Patient Gender",
        "findings": "Finding Labels",
    }
    total = manifests["totalsegmentator"]
    assert (total.item, total.companions) == ("folder", ("segmentations/*.nii.gz",))
    (meta,) = total.tables  # meta.csv keys the subject folder
    assert (meta.key, meta.match, meta.delimiter) == ("image_id", "folder", ";")
    assert manifests["hcc-tace-seg"].item == "series-folder"  # the NBIA Retriever: one folder per series
    (siim,) = manifests["siim-ct-medical-images"].tables
    assert (siim.key, siim.match, siim.columns) == ("dicom_name", "name", {"contrast": "Contrast", "age": "Age"})
    (bone,) = manifests["rsna-bone-age"].tables
    assert (bone.key, bone.match) == ("id", "stem")
    assert bone.columns == {"bone_age_months": "boneage", "male": "male"}


@pytest.mark.parametrize(
    ("source_id", "path", "wanted"),
    [
        ("nih-chestxray14", "images/00000001_000.png", True),
        ("nih-chestxray14", "Data_Entry_2017.csv", False),
        ("rsna-pneumonia", "stage_2_train_images/0004cfab-14fd-4e49-80ba-63a80b6bddd6.dcm", True),
        ("totalsegmentator", "s0001/ct.nii.gz", True),
        ("totalsegmentator", "s0001/segmentations/liver.nii.gz", False),
        ("amos-2022", "imagesTr/amos_0001.nii.gz", True),
        ("amos-2022", "imagesTr/amos_0499.nii.gz", True),
        ("amos-2022", "imagesTr/amos_0500.nii.gz", False),  # MR
        ("amos-2022", "labelsTr/amos_0001.nii.gz", False),
        ("btcv", "RawData/Training/img/img0001.nii.gz", True),
        ("btcv", "RawData/Training/label/label0001.nii.gz", False),
        ("siim-ct-medical-images", "dicom_dir/ID_0000_AGE_0060_CONTRAST_1_CT.dcm", True),
        ("siim-ct-medical-images", "tiff_images/ID_0000_AGE_0060_CONTRAST_1_CT.tif", False),
        ("busi", "Dataset_BUSI_with_GT/benign/benign (1).png", True),
        ("busi", "Dataset_BUSI_with_GT/benign/benign (1)_mask.png", False),
        ("camus", "database_nifti/patient0001/patient0001_4CH_ED.nii.gz", True),
        ("camus", "database_nifti/patient0001/patient0001_2CH_ES.nii.gz", True),
        ("camus", "database_nifti/patient0001/patient0001_4CH_ED_gt.nii.gz", False),
        ("camus", "database_nifti/patient0001/patient0001_4CH_half_sequence.nii.gz", False),
        ("c3vd", "cecum_t1_a/0000_color.png", True),
        ("c3vd", "cecum_t1_a/0000_depth.tiff", False),
        ("skin-histology-segmentation", "data/2x/Images/BCC_1.tif", True),
        ("skin-histology-segmentation", "data/2x/Masks/BCC_1.png", False),
        ("skin-histology-segmentation", "data/1x/Images/BCC_1.tif", False),  # the same section, another scale
        ("fracatlas", "images/Fractured/IMG0000019.jpg", True),
        ("fracatlas", "dataset.csv", False),
    ],
)
def test_include_globs_select_the_images(source_id: str, path: str, wanted: bool) -> None:
    include = _manifests()[source_id].include
    assert include, f"{source_id}: no include globs"
    assert any(fnmatch.fnmatchcase(path, pattern) for pattern in include) == wanted


def test_detect_markers_identify_exactly_one_manifest(tmp_path: Path) -> None:
    for m in _manifests().values():
        if not m.detect:
            continue
        root = tmp_path / m.id
        for marker in m.detect:
            target = root / marker
            if "." in PurePosixPath(marker).name:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("", encoding="utf-8")
            else:
                target.mkdir(parents=True, exist_ok=True)
        assert resolve_source(str(root)).manifest.id == m.id


# --- parser errors ----------------------------------------------------------------------------


def test_minimal_manifest_parses() -> None:
    m = parse_manifest(MINIMAL, "x.toml")
    assert (m.id, m.license, m.access, m.origin) == ("x", "CC-BY-4.0", "open", "x.toml")


def test_missing_license_names_file_and_field() -> None:
    text = MINIMAL.replace('license = "CC-BY-4.0"\n', "")
    with pytest.raises(SourceError, match=r"broken\.toml.*license"):
        parse_manifest(text, "data_manifests/broken.toml")


def test_bad_access_names_the_valid_kinds() -> None:
    text = MINIMAL.replace('access = "open"', 'access = "public"')
    with pytest.raises(SourceError) as info:
        parse_manifest(text, "bad-access.toml")
    message = str(info.value)
    assert "bad-access.toml" in message and "'public'" in message
    for kind in ACCESS_KINDS:
        assert kind in message


def test_metadata_table_with_bad_match_is_rejected() -> None:
    text = MINIMAL + '\n[[metadata_table]]\npath = "t.csv"\nkey = "file"\nmatch = "glob"\n'
    with pytest.raises(SourceError, match=r"bad-match\.toml: metadata_table\[0\]\.match"):
        parse_manifest(text, "bad-match.toml")


def test_metadata_table_without_key_is_rejected() -> None:
    text = MINIMAL + '\n[[metadata_table]]\npath = "t.csv"\n'
    with pytest.raises(SourceError, match=r"no-key\.toml: metadata_table\[0\] lacks 'key'"):
        parse_manifest(text, "no-key.toml")


def test_toml_syntax_error_names_the_file() -> None:
    with pytest.raises(SourceError, match=r"syntax\.toml: invalid TOML"):
        parse_manifest('id = "x"\nname = \n', "data_manifests/syntax.toml")


def test_generated_manifest_needs_no_homepage_or_citation() -> None:
    text = MINIMAL.replace('access = "open"', 'access = "generated"')
    text = text.replace('homepage = "https://example.org/x"\n', "").replace('citation = "@misc{x, title = {X}}"\n', "")
    assert parse_manifest(text, "gen.toml").access == "generated"
    with pytest.raises(SourceError, match=r"homepage, citation"):
        parse_manifest(text.replace('access = "generated"', 'access = "open"'), "gen.toml")


# --- the NIH manifest on a fake NIH folder ----------------------------------------------------


def _fake_nih(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    for name in ("00000001_000.png", "00000002_000.png"):
        Image.new("L", (32, 32), color=128).save(root / "images" / name)
    Image.new("L", (8, 8)).save(root / "not_an_nih_image.png")  # outside images/: not selected
    (root / "Data_Entry_2017.csv").write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n"
        "00000001_000.png,Cardiomegaly|Effusion,0,1,58,M,PA,2682,2749,0.143,0.143\n"
        "00000002_000.png,No Finding,0,2,81,F,AP,2500,2048,0.168,0.168\n",
        encoding="utf-8",
    )
    return root


def test_nih_folder_is_detected_and_items_carry_table_metadata(tmp_path: Path) -> None:
    root = _fake_nih(tmp_path / "nih")
    source = resolve_source(str(root))
    assert source.manifest.id == "nih-chestxray14"
    items = list(source.items())
    assert [item.files for item in items] == [("images/00000001_000.png",), ("images/00000002_000.png",)]
    first, second = (item.metadata for item in items)
    assert first["view"] == "PA" and first["age"] == "58" and first["sex"] == "M"
    assert first["findings"] == "Cardiomegaly|Effusion" and first["anatomy"] == "chest"
    assert second["view"] == "AP" and second["age"] == "81" and second["sex"] == "F"
    assert all(item.source_id == "nih-chestxray14" for item in items)
    assert items[0].key == "nih-chestxray14/images/00000001_000.png"


def test_nih_folder_bound_by_id(tmp_path: Path) -> None:
    root = _fake_nih(tmp_path / "copy")
    source = resolve_source(f"nih-chestxray14={root}")
    assert source.manifest.id == "nih-chestxray14"
    assert [item.metadata["view"] for item in source.items()] == ["PA", "AP"]


def test_nih_folder_missing_its_table_is_an_error(tmp_path: Path) -> None:
    root = _fake_nih(tmp_path / "nih")
    (root / "Data_Entry_2017.csv").unlink()
    source = resolve_source(f"nih-chestxray14={root}")
    with pytest.raises(SourceError, match=r"Data_Entry_2017\*\.csv.*missing"):
        list(source.items())


def test_totalsegmentator_subject_is_one_item_with_masks_and_meta(tmp_path: Path) -> None:
    root = tmp_path / "totalseg"
    for subject in ("s0001", "s0002"):
        (root / subject / "segmentations").mkdir(parents=True)
        (root / subject / "ct.nii.gz").write_bytes(b"placeholder")
        for organ in ("liver", "spleen"):
            (root / subject / "segmentations" / f"{organ}.nii.gz").write_bytes(b"placeholder")
    (root / "meta.csv").write_text("\ufeffimage_id;age;gender\ns0001;61;m\ns0002;45;f\n", encoding="utf-8")
    items = list(resolve_source(str(root)).items())
    assert [i.key for i in items] == ["totalsegmentator/s0001", "totalsegmentator/s0002"]
    assert items[0].files == (
        "s0001/ct.nii.gz",
        "s0001/segmentations/liver.nii.gz",
        "s0001/segmentations/spleen.nii.gz",
    )
    assert items[1].metadata["age"] == "45" and items[1].metadata["sex"] == "f"
