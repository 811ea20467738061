"""Folder sources (discovery, labels.csv, symlinks) and the output folder (shards, atomic swap)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from medblink_build.build.pipeline import BuildOptions, run_recipe
from medblink_build.errors import OutputError, SourceError
from medblink_build.output.folder import StagedOutput
from medblink_build.registry import find_recipe
from medblink_build.samples.dicom_writer import write_radiograph
from medblink_build.sources.resolve import resolve_source
from tests.conftest import load_config


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "a" / "b").mkdir(parents=True)
    Image.new("L", (8, 8)).save(root / "a" / "b" / "x.png")
    Image.new("L", (8, 8)).save(root / "top.PNG")
    write_radiograph(root / "noext", __import__("numpy").zeros((8, 8), "uint16"), uid_seed="n")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"")
    (root / "labels.csv").write_text("path,anatomy,view\na/b/x.png,chest,PA\ntop.PNG,pelvis,\n")
    return root


def test_folder_finds_images_recursively_with_metadata(folder: Path) -> None:
    source = resolve_source(str(folder))
    items = {item.files[0]: item for item in source.items()}
    assert sorted(items) == ["a/b/x.png", "noext", "top.PNG"]  # DICOM found by content, txt/hidden not
    assert items["a/b/x.png"].metadata == {"anatomy": "chest", "view": "PA"}
    assert items["top.PNG"].metadata == {"anatomy": "pelvis"}  # empty cells are not values
    # a generic folder's names may identify: the key is a keyed pseudonym of the relative path
    from medblink_build.pseudonym import load_key, pseudonym

    assert items["a/b/x.png"].key == f"{source.id}/{pseudonym(load_key(), 'a/b/x.png')}"
    assert items["a/b/x.png"].local_key == "a/b/x.png" and items["a/b/x.png"].shown_name().endswith(".png")
    assert source.manifest.license == "unknown"


def test_symlink_leaving_the_root_is_ignored(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    Image.new("L", (8, 8)).save(outside)
    os.symlink(outside, folder / "escape.png")
    os.symlink(folder / "top.PNG", folder / "inside_link.png")
    names = [item.files[0] for item in resolve_source(str(folder)).items()]
    assert "escape.png" not in names and "inside_link.png" in names


def test_bad_labels_csv_is_a_clear_error(folder: Path) -> None:
    (folder / "labels.csv").write_text("file,anatomy\nx.png,chest\n")
    with pytest.raises(SourceError, match=r"labels.csv: no 'path' column"):
        list(resolve_source(str(folder)).items())


def test_id_equals_path_binds_a_manifest_and_unknown_ids_are_named(folder: Path) -> None:
    assert resolve_source(f"medblink-sample-xray={folder}").id == "medblink-sample-xray"
    with pytest.raises(SourceError, match="unknown source 'nope'"):
        resolve_source(f"nope={folder}")


def test_local_source_toml_is_used(folder: Path) -> None:
    (folder / "source.toml").write_text(
        'id = "my-xrays"\nname = "My X-rays"\nlicense = "CC-BY-4.0"\naccess = "open"\n'
        'how_to_obtain = "ours"\nmodality = "X-ray"\nanatomy = "chest"\nhomepage = "x"\ncitation = "y"\n'
    )
    source = resolve_source(str(folder))
    assert (source.id, source.manifest.license) == ("my-xrays", "CC-BY-4.0")


def test_staged_output_replaces_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with StagedOutput(out) as staging:
        (staging / "manifest.json").write_text(json.dumps({"format": "medblink-build-output"}))
        (staging / "a").write_text("first")
    with pytest.raises(RuntimeError), StagedOutput(out) as staging:
        (staging / "manifest.json").write_text(json.dumps({"format": "medblink-build-output"}))
        (staging / "a").write_text("second, never finished")
        raise RuntimeError("killed")
    assert (out / "a").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staged_output_will_not_write_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"), StagedOutput(tmp_path / "file"):
        pass


def test_small_shards_rotate_and_still_load(xray_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "sharded"
    options = BuildOptions(seed=0, max_shard_bytes=1)  # every row starts a new shard
    summary = run_recipe(
        find_recipe("orientation"), [resolve_source(f"medblink-sample-xray={xray_source}")], out, options
    )
    n = summary.counts["imaging_orientation_pelvic"]
    shards = sorted((out / "data" / "imaging_orientation_pelvic").glob("*.parquet"))
    assert len(shards) == n and shards[-1].name == f"test-{n - 1:05d}-of-{n:05d}.parquet"
    ds = load_config(out, "imaging_orientation_pelvic")
    assert len(ds) == n
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e[0] for e in manifest["configs"]["imaging_orientation_pelvic"]["examples"]] == ds["id"]


def _manifest_text(item: str, include: str, companions: str) -> str:
    return (
        'id = "t"\nname = "t"\nlicense = "CC0-1.0"\naccess = "open"\nhomepage = "x"\ncitation = "x"\n'
        f'how_to_obtain = "test"\nmodality = "x"\nanatomy = "x"\n[layout]\nitem = "{item}"\n'
        f"include = [{include}]\ncompanions = [{companions}]\n"
    )


def test_companions_match_by_number_whatever_the_padding(tmp_path: Path) -> None:
    seq = tmp_path / "src" / "seq1"
    seq.mkdir(parents=True)
    for n in (1, 12):
        (seq / f"{n}_color.png").write_bytes(b"x")
        (seq / f"{n:04d}_depth.tiff").write_bytes(b"x")
    (seq / "0120_depth.tiff").write_bytes(b"x")  # 120 must not match 12
    (tmp_path / "src" / "source.toml").write_text(_manifest_text("file", '"*_color.png"', '"*{number}_depth.tiff"'))
    items = {i.local_key: i.files for i in resolve_source(str(tmp_path / "src")).items()}
    assert items == {
        "seq1/12_color.png": ("seq1/12_color.png", "seq1/0012_depth.tiff"),
        "seq1/1_color.png": ("seq1/1_color.png", "seq1/0001_depth.tiff"),
    }


def test_companions_in_a_sibling_folder_by_name_stay_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "amos"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    (root / "imagesTr" / "amos_0001.nii.gz").write_bytes(b"x")
    (root / "labelsTr" / "amos_0001.nii.gz").write_bytes(b"x")
    (root / "source.toml").write_text(
        _manifest_text("file", '"imagesTr/*.nii.gz"', '"../labelsTr/{name}", "../../outside/{name}"')
    )
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "amos_0001.nii.gz").write_bytes(b"x")
    (item,) = resolve_source(str(root)).items()
    assert item.files == ("imagesTr/amos_0001.nii.gz", "labelsTr/amos_0001.nii.gz")


def test_companions_through_links_stay_inside_the_root_and_folders_resolve_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A companion linked from inside the root is kept (under its real path), one linked from
    outside is not, nor are the files of a companion folder that is a link to outside; a folder of
    plain companion files is resolved once, not once per file (TotalSegmentator: 117 a subject)."""
    root = tmp_path / "subjects"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "liver.nii.gz").write_bytes(b"x")
    for subject in ("s0001", "s0002"):
        seg = root / subject / "segmentations"
        seg.mkdir(parents=True)
        (root / subject / "ct.nii.gz").write_bytes(b"x")
        for organ in ("aorta", "spleen", "kidney_left"):
            (seg / f"{organ}.nii.gz").write_bytes(b"x")
    (root / "shared").mkdir()
    (root / "shared" / "heart.nii.gz").write_bytes(b"x")
    (root / "s0001" / "segmentations" / "heart.nii.gz").symlink_to(root / "shared" / "heart.nii.gz")
    (root / "s0001" / "segmentations" / "liver.nii.gz").symlink_to(outside / "liver.nii.gz")
    (root / "s0002" / "segmentations" / "lung").symlink_to(outside, target_is_directory=True)
    (root / "source.toml").write_text(
        _manifest_text("folder", '"*/ct.nii.gz"', '"segmentations/*.nii.gz", "segmentations/lung/*.nii.gz"')
    )
    resolved: list[Path] = []
    real_resolve = Path.resolve

    def counting(self: Path, strict: bool = False) -> Path:
        resolved.append(self)
        return real_resolve(self, strict)

    monkeypatch.setattr(Path, "resolve", counting)
    items = {i.local_key: i.files for i in resolve_source(str(root)).items()}
    organs = ("segmentations/aorta.nii.gz", "segmentations/kidney_left.nii.gz", "segmentations/spleen.nii.gz")
    assert items == {
        "s0001": ("s0001/ct.nii.gz", *(f"s0001/{o}" for o in organs), "shared/heart.nii.gz"),
        "s0002": ("s0002/ct.nii.gz", *(f"s0002/{o}" for o in organs)),
    }
    per_file = [p for p in resolved if p.name.endswith(".nii.gz") and "heart" not in p.name and "liver" not in p.name]
    assert per_file == []  # plain companion files are placed by their folder's one resolution


def test_number_placeholder_does_not_match_a_longer_number(tmp_path: Path) -> None:
    seq = tmp_path / "src"
    seq.mkdir()
    (seq / "1_color.png").write_bytes(b"x")
    (seq / "0011_depth.tiff").write_bytes(b"x")
    (seq / "source.toml").write_text(_manifest_text("file", '"*_color.png"', '"*{number}_depth.tiff"'))
    (item,) = resolve_source(str(seq)).items()
    assert item.files == ("1_color.png",)
