"""Real source layouts: `build --sources-root` over small copies of each source as it is distributed.

The fixtures (tests/layout_fixtures.py) reproduce folder names, nesting, file names and table
headers byte for byte; these tests check that every task they feed gets rows (or the recorded skip
the layout calls for), that each copy is recognised by `--source PATH`, and that tables, companions
and items come out of the layout as the manifests describe.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medblink_build.errors import SourceError
from medblink_build.manifests import builtin_manifests, parse_manifest
from medblink_build.sources.folder import FolderSource
from medblink_build.sources.resolve import resolve_source
from tests import layout_fixtures as lf
from tests.conftest import run_cli

#: (task, recipe, sources) of the release built over the fixtures.
TASKS = (
    (
        "imaging_orientation_cxr",
        "orientation",
        ("nih-chestxray14", "rsna-pneumonia", "mimic-cxr-jpg", "vindr-cxr"),
    ),
    ("imaging_orientation_pelvic", "orientation", ("fracatlas", "pengwin-2024-task2")),
    ("image_enhancement_detection", "enhancement", ("siim-ct-medical-images", "hcc-tace-seg")),
    ("relative_position", "relative-position", ("totalsegmentator", "amos-2022", "btcv")),
    ("visual_depth_estimation", "visual-depth", ("c3vd", "simcol3d", "scared")),
    ("wave_based_depth_estimation", "wave-depth", ("busi", "camus", "open-kidney-ultrasound")),
    ("histology_structure", "histology-structure", ("skin-histology-segmentation", "bcss")),
    ("morphology_quantification", "morphology-count", ("dentex", "tufts-dental")),
    ("age_estimation", "age", ("nih-chestxray14", "rsna-pneumonia", "rsna-bone-age")),
)
#: (task, source) pairs whose fixture cannot give a row, with the skip reason its layout calls for.
EXPECTED_SKIPS = {
    # CAMUS ships NIfTI: the wave-depth recipe does not read ultrasound volumes yet.
    ("wave_based_depth_estimation", "camus"): "unsupported_format",
    # RSNA's PatientAge is a bare number of years (no unit letter), which the age recipe rejects.
    ("age_estimation", "rsna-pneumonia"): "age_malformed",
    # SCARED's depth TIFF encoding is unverified, so its manifest states no depth scale.
    ("visual_depth_estimation", "scared"): "depth_scale_unknown",
}


def _release_toml(path: Path, tasks: tuple[tuple[str, str, tuple[str, ...]], ...]) -> Path:
    lines = ['name = "layouts"', 'version = "0.0.1"', "seed = 0", 'description = "layout fixtures"']
    for task, recipe, sources in tasks:
        listed = ", ".join(f'"{s}"' for s in sources)
        lines += ["", "[[task]]", f'id = "{task}"', f'recipe = "{recipe}"', "count = 50", f"sources = [{listed}]"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _build(tmp: Path, root: Path, tasks: tuple[tuple[str, str, tuple[str, ...]], ...]) -> Path:
    out = tmp / "out"
    code, output = run_cli(
        "build", "--sources-root", root, "--release", _release_toml(tmp / "release.toml", tasks), "--out", out
    )
    assert code == 0, output
    return out


def _rows_by_source(out: Path) -> dict[tuple[str, str], int]:
    manifest = json.loads((out / "manifest.json").read_text())
    counts: Counter[tuple[str, str]] = Counter()
    for config, info in manifest["configs"].items():
        for f in info["files"]:
            for row in pq.read_table(out / f["path"], columns=["source"]).to_pylist():
                counts[(config, row["source"])] += 1
    return dict(counts)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lf.write_all(tmp_path_factory.mktemp("layouts") / "sources")


@pytest.fixture(scope="module")
def built(sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("layout-build"), sources, TASKS)


def test_every_task_gets_rows_from_every_fixture_or_the_expected_skip(built: Path) -> None:
    rows = _rows_by_source(built)
    skipped = json.loads((built / "manifest.json").read_text())["skipped"]["items"]
    for task, _, sources in TASKS:
        for source in sources:
            if (task, source) in EXPECTED_SKIPS:
                assert (task, source) not in rows
                reasons = {s["reason"] for s in skipped if s["key"].startswith(f"{source}/")}
                assert EXPECTED_SKIPS[(task, source)] in reasons, (task, source, reasons)
            else:
                assert rows.get((task, source), 0) > 0, (task, source, rows)


def test_nih_all_under_images_builds_both_tasks(tmp_path: Path) -> None:
    root = tmp_path / "sources"
    lf.write_nih(root, archives=False)
    assert sorted(p.name for p in (root / "nih-chestxray14" / "images").iterdir()) == [r[0] for r in lf.NIH_ROWS]
    tasks = tuple(t for t in TASKS if t[0] in ("imaging_orientation_cxr", "age_estimation"))
    rows = _rows_by_source(_build(tmp_path, root, tasks))
    assert rows[("imaging_orientation_cxr", "nih-chestxray14")] == len(lf.NIH_ROWS)
    assert rows[("age_estimation", "nih-chestxray14")] == len(lf.NIH_ROWS)


@pytest.mark.parametrize("source_id", sorted(lf.FIXTURES))
def test_each_fixture_binds_to_its_manifest_by_detection(sources: Path, source_id: str) -> None:
    bound = resolve_source(str(sources / source_id))
    if source_id == "open-kidney-ultrasound":  # a flat folder of PNGs: nothing to detect it by
        assert not builtin_manifests()[source_id].detect and bound.id.startswith("local-")
        assert resolve_source(f"{source_id}={sources / source_id}").id == source_id
    else:
        assert bound.id == source_id


def _items(sources: Path, source_id: str) -> list:  # type: ignore[type-arg]
    return list(FolderSource(sources / source_id, builtin_manifests()[source_id]).items())


def test_nbia_download_gives_one_item_per_series_joined_to_metadata_csv(sources: Path) -> None:
    items = _items(sources, "hcc-tace-seg")
    assert len(items) == 2 * (len(lf.HCC_SERIES) + 1)  # the CT phases and one SEG per patient
    for item in items:
        folder = str(Path(item.files[0]).parent)
        assert folder.startswith("manifest-1643035385102/HCC-TACE-Seg/HCC_00")
        assert item.key == f"hcc-tace-seg/{folder}"
        # From metadata.csv, whose File Location is ./HCC-TACE-Seg/... relative to the csv's folder.
        assert item.metadata["collection"] == "HCC-TACE-Seg"
        if "Segmentation" in folder:
            assert item.metadata["modality"] == "SEG" and [Path(f).name for f in item.files] == ["1-1.dcm"]
        else:
            assert item.metadata["modality"] == "CT"
            assert [Path(f).name for f in item.files] == [f"1-{k:03d}.dcm" for k in range(1, lf.CT_SHAPE[0] + 1)]


def test_nbia_series_folders_are_listed_without_reading_a_header(
    sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Retriever writes one folder per series: listing 40,000 slices must not parse each of
    them (0.3 ms a file in the main process, with the workers idle)."""
    from medblink_build.readers import dicom_image, volume_dicom

    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a header was parsed while listing")

    monkeypatch.setattr(volume_dicom, "read_dicom_header", no_parse)
    monkeypatch.setattr(dicom_image, "read_dicom_header", no_parse)
    assert len(_items(sources, "hcc-tace-seg")) == 2 * (len(lf.HCC_SERIES) + 1)


def test_a_series_folder_holding_two_series_is_a_recorded_skip(tmp_path: Path) -> None:
    """series-folder trusts the layout only as far as listing goes: the reader checks every
    file's SeriesInstanceUID, so a folder the layout got wrong is a skip naming it, not a volume."""
    lf.write_hcc_tace_seg(tmp_path)
    study = next((tmp_path / "hcc-tace-seg").rglob("*CT ABDOMEN LIVER*"))
    first, second = sorted(p for p in study.iterdir() if "Segmentation" not in p.name)[:2]
    for f in sorted(second.iterdir())[:3]:
        f.rename(first / f"x-{f.name}")
    out = tmp_path / "out"
    code, output = run_cli(
        "recipe", "enhancement", "--source", f"hcc-tace-seg={tmp_path / 'hcc-tace-seg'}", "--out", out, "--quiet"
    )
    assert code == 0, output
    manifest = json.loads((out / "manifest.json").read_text())
    [skip] = [s for s in manifest["skipped"]["items"] if s["key"].endswith(first.name)]
    assert "mixed series" in skip["detail"]
    (entry,) = [a for a in manifest["accounting"] if a["source"] == "hcc-tace-seg"]
    assert entry["files"] == entry["in_rows"] + entry["skipped"] + entry["filtered"]


def test_nbia_seg_series_are_never_enhancement_rows(built: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    seg_rows = [
        s for s in manifest["skipped"]["items"] if s["key"].startswith("hcc-tace-seg/") and "Segmentation" in s["key"]
    ]
    assert not seg_rows  # metadata.csv names their modality SEG: filtered before any read, not skipped
    (entry,) = [a for a in manifest["accounting"] if a["source"] == "hcc-tace-seg" and a["recipe"] == "enhancement"]
    filtered = entry["filtered_paths"].get("not_this_recipe_modality", [])
    assert len([p for p in filtered if "Segmentation" in p]) == 2  # one SEG file per patient, accounted


def test_nbia_seg_folders_feed_relative_position_through_the_documented_source_toml(tmp_path: Path) -> None:
    lf.write_hcc_tace_seg(tmp_path)
    root = tmp_path / "hcc-tace-seg"
    described = builtin_manifests()["hcc-tace-seg"].layout
    assert 'include = ["*Segmentation*/*.dcm"]' in described and 'companions = ["../*/*.dcm"]' in described
    (root / "source.toml").write_text(
        'id = "hcc-tace-seg-segmentations"\npublic_paths = true\nname = "HCC-TACE-Seg, one item per DICOM-SEG"\n'
        'homepage = "https://doi.org/10.7937/TCIA.5FNA-0924"\nlicense = "unknown"\naccess = "open"\n'
        'how_to_obtain = "As hcc-tace-seg."\ncitation = "As hcc-tace-seg."\nmodality = "CT"\nanatomy = "liver"\n\n'
        '[layout]\nitem = "folder"\ninclude = ["*Segmentation*/*.dcm"]\ncompanions = ["../*/*.dcm"]\n',
        encoding="utf-8",
    )
    code, output = run_cli("recipe", "relative-position", "--source", root, "--out", tmp_path / "out", "--quiet")
    assert code == 0, output
    rows = _rows_by_source(tmp_path / "out")
    assert rows[("relative_position", "hcc-tace-seg-segmentations")] == 2  # one per SEG


def test_nbia_metadata_csv_at_the_root_also_joins(sources: Path, tmp_path: Path) -> None:
    manifest_folder = sources / "hcc-tace-seg" / "manifest-1643035385102"
    items = list(FolderSource(manifest_folder, builtin_manifests()["hcc-tace-seg"]).items())
    assert items and all(i.metadata.get("collection") == "HCC-TACE-Seg" for i in items)
    assert resolve_source(str(manifest_folder)).id == "hcc-tace-seg"


def test_nbia_metadata_csv_written_on_windows_joins_too(tmp_path: Path) -> None:
    lf.write_hcc_tace_seg(tmp_path)
    csv_path = next((tmp_path / "hcc-tace-seg").glob("manifest-*/metadata.csv"))
    text = csv_path.read_text().replace(",./HCC-TACE-Seg/", ",.\\HCC-TACE-Seg\\")
    csv_path.write_text("\n".join(line.replace("/", "\\") if i else line for i, line in enumerate(text.splitlines())))
    items = list(FolderSource(tmp_path / "hcc-tace-seg", builtin_manifests()["hcc-tace-seg"]).items())
    assert items and all(i.metadata.get("collection") == "HCC-TACE-Seg" for i in items)


def test_totalsegmentator_meta_csv_with_bom_and_semicolons_joins_per_subject(sources: Path) -> None:
    raw = (sources / "totalsegmentator" / "meta.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfimage_id;age;gender;institute;study_type;split;")
    items = _items(sources, "totalsegmentator")
    assert [i.key for i in items] == ["totalsegmentator/s0001", "totalsegmentator/s0002"]
    assert [(i.metadata["age"], i.metadata["sex"]) for i in items] == [("63", "m"), ("47", "f")]
    masks = [f for f in items[0].files[1:]]
    assert masks == sorted(f"s0001/segmentations/{n}.nii.gz" for n in [*lf.ORGANS.values(), "brain"])


def test_busi_masks_are_companions_never_items(sources: Path) -> None:
    items = {i.files[0]: i.files[1:] for i in _items(sources, "busi")}
    base = "Dataset_BUSI_with_GT/benign"
    assert sorted(items) == sorted(
        f"Dataset_BUSI_with_GT/{c}/{c} ({n}).png"
        for c, n in (("benign", 1), ("benign", 2), ("malignant", 1), ("normal", 1))
    )
    assert items[f"{base}/benign (2).png"] == (f"{base}/benign (2)_mask.png", f"{base}/benign (2)_mask_1.png")
    assert items[f"{base}/benign (1).png"] == (f"{base}/benign (1)_mask.png",)


def test_nih_archive_layout_and_header_bytes(sources: Path) -> None:
    table = (sources / "nih-chestxray14" / "Data_Entry_2017.csv").read_text().splitlines()
    assert table[0] == lf.NIH_HEADER and table[0].endswith(",") and table[1].count(",") == table[0].count(",")
    items = {i.files[0]: i.metadata for i in _items(sources, "nih-chestxray14")}
    assert sorted(items) == [
        "images_001/images/00000001_000.png",
        "images_001/images/00000001_001.png",
        "images_002/images/00000002_000.png",
        "images_002/images/00000003_000.png",
    ]
    assert items["images_002/images/00000002_000.png"]["view"] == "AP"
    assert items["images_002/images/00000002_000.png"]["age"] == "81"


def test_mimic_view_position_comes_from_the_metadata_table(sources: Path) -> None:
    views = {Path(i.files[0]).stem: i.metadata.get("view") for i in _items(sources, "mimic-cxr-jpg")}
    assert sorted(views.values()) == ["LATERAL", "PA"]


def test_nih_2020_table_revision_is_read_and_wins(tmp_path: Path) -> None:
    lf.write_nih(tmp_path)
    root = tmp_path / "nih-chestxray14"
    header = lf.NIH_HEADER.removesuffix(",")  # the 2020 file has no trailing empty column
    (root / "Data_Entry_2017_v2020.csv").write_text(
        f"{header}\n00000002_000.png,No Finding,0,2,80,M,PA,2500,2048,0.168,0.168\n"
    )
    (root / "Data_Entry_2017.csv").unlink()
    assert resolve_source(str(root)).id == "nih-chestxray14"
    items = {
        Path(i.files[0]).name: i.metadata for i in FolderSource(root, builtin_manifests()["nih-chestxray14"]).items()
    }
    assert (items["00000002_000.png"]["age"], items["00000002_000.png"]["view"]) == ("80", "PA")
    assert "age" not in items["00000001_000.png"]


def test_c3vd_colour_frames_pair_with_differently_padded_depth(sources: Path) -> None:
    items = {i.files[0]: i.files[1:] for i in _items(sources, "c3vd")}
    assert items["cecum_t1_a/2_color.png"] == ("cecum_t1_a/0002_depth.tiff",)
    assert len(items) == 6  # occlusion maps and pose.txt are never items


def test_amos_reads_labelled_ct_cases_of_train_and_validation_only(sources: Path) -> None:
    items = {i.files[0]: i.files[1:] for i in _items(sources, "amos-2022")}
    assert items == {
        "imagesTr/amos_0001.nii.gz": ("labelsTr/amos_0001.nii.gz",),
        "imagesTr/amos_0005.nii.gz": ("labelsTr/amos_0005.nii.gz",),
        "imagesVa/amos_0410.nii.gz": ("labelsVa/amos_0410.nii.gz",),
    }


def test_btcv_pairs_training_images_with_labels_by_number(sources: Path) -> None:
    items = {i.files[0]: i.files[1:] for i in _items(sources, "btcv")}
    assert items == {
        f"RawData/Training/img/img000{n}.nii.gz": (f"RawData/Training/label/label000{n}.nii.gz",) for n in (1, 2)
    }


# --- schema ------------------------------------------------------------------------------------

_BASE = """
id = "x"
name = "X"
homepage = "h"
license = "CC0-1.0"
access = "open"
how_to_obtain = "get it"
citation = "c"
modality = "CT"
anatomy = "abdomen"
"""


def test_verified_records_are_parsed_and_must_name_fact_and_where() -> None:
    m = parse_manifest(_BASE + '[[verified]]\nfact = "a layout fact"\nwhere = "owner/repo:path.py"\n', "x.toml")
    assert [(v.fact, v.where) for v in m.verified] == [("a layout fact", "owner/repo:path.py")]
    with pytest.raises(SourceError, match=r"verified\[0\] needs a non-empty fact and where"):
        parse_manifest(_BASE + '[[verified]]\nfact = "a layout fact"\n', "x.toml")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('relative_to = "csv"', "relative_to must be one of root, table"),
        ('delimiter = ";;"', "delimiter must be one character"),
    ],
)
def test_bad_metadata_table_options_are_named(table: str, message: str) -> None:
    text = _BASE + f'[[metadata_table]]\npath = "t.csv"\nkey = "k"\n{table}\n'
    with pytest.raises(SourceError, match=message):
        parse_manifest(text, "x.toml")


def test_a_glob_table_that_matches_nothing_is_an_error_unless_optional(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"")
    for optional, expect_error in (("false", True), ("true", False)):
        text = _BASE + f'[[metadata_table]]\npath = "**/metadata.csv"\nkey = "k"\noptional = {optional}\n'
        source = FolderSource(tmp_path, parse_manifest(text, "x.toml"))
        if expect_error:
            with pytest.raises(
                SourceError, match=r"\*\*/metadata.csv: metadata table .* is missing \(no file matches\)"
            ):
                list(source.items())
        else:
            assert [i.files for i in source.items()] == [("a.png",)]


def test_every_downloadable_manifest_says_what_is_verified_or_not() -> None:
    for m in builtin_manifests().values():
        if m.access != "generated":
            assert m.verified or m.unverified, m.id
            assert all(v.where for v in m.verified), m.id


def test_sources_show_prints_verified_facts_with_where() -> None:
    code, output = run_cli("sources", "show", "busi")
    assert code == 0, output
    assert "verified facts:\n- Dataset_BUSI.zip unpacks to" in output
    assert "(constantinpape/torch-em:torch_em/data/datasets/medical/busi.py)" in output


def test_skin_reads_one_level_with_its_masks(sources: Path) -> None:
    items = {i.files[0]: (i.files[1:], i.metadata["mpp"]) for i in _items(sources, "skin-histology-segmentation")}
    assert items == {
        "data/2x/Images/BCC_1.tif": (("data/2x/Masks/BCC_1.png",), "1.34"),
        "data/2x/Images/IEC_2.tif": (("data/2x/Masks/IEC_2.png",), "1.34"),
    }


def test_bcss_label_map_is_the_release_gtruth_codes_table(sources: Path) -> None:
    # PathologyDataScience/BCSS:meta/gtruth_codes.tsv, code by code.
    names = (
        "outside_roi tumor stroma lymphocytic_infiltrate necrosis_or_debris glandular_secretions blood exclude "
        "metaplasia_NOS fat plasma_cells other_immune_infiltrate mucoid_material normal_acinus_or_duct lymphatics "
        "undetermined nerve skin_adnexa blood_vessel angioinvasion dcis other"
    ).split()
    expected = "label\tGT_code\n" + "".join(f"{n}\t{c}\n" for c, n in enumerate(names))
    assert (sources / "bcss" / "meta" / "gtruth_codes.tsv").read_text() == expected
    items = _items(sources, "bcss")
    assert [i.files for i in items] == [
        (
            "rgbs_colorNormalized/TCGA-A1-A0SK-DX1_xmin45749_ymin25055_MPP-0.2500.png",
            "masks/TCGA-A1-A0SK-DX1_xmin45749_ymin25055_MPP-0.2500.png",
        )
    ]


def test_every_downloadable_manifest_has_a_layout_fixture_in_the_build() -> None:
    downloadable = {m.id for m in builtin_manifests().values() if m.access != "generated"}
    assert set(lf.FIXTURES) == downloadable
    assert {s for _, _, sources in TASKS for s in sources} == downloadable
