"""The histology-structure recipe end to end, on slides and tiles the tests write with known classes.

Sources: a generic folder (tifffile pyramids with GeoJSON halves, PNG tiles with anti-aliased
palette masks, and the bad cases), a BCSS-shaped folder (integer masks, mpp in the file name) and
a skin-set-shaped folder (data/2x/Images/*.tif + Masks/*.png, mpp in labels.csv), built in one run. Every
row's markers are checked against the geometry the test drew, not against the recipe's readers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openslide
import pytest
from PIL import Image, ImageDraw

from medblink_build.readers.annotations import PALETTES
from medblink_build.recipes.histology_structure import (
    CHOICES,
    MIN_BOUNDARY_PX,
    TASK,
    target_letter_index,
)
from medblink_build.seeding import rng_for
from medblink_build.transforms import replay
from tests.conftest import load_config, run_cli
from tests.wsi_factory import (
    DERMIS_RGB,
    EPI_RGB,
    GLASS_RGB,
    box_ring,
    feature,
    halves,
    halves_geojson,
    write_geojson,
    write_pyramid,
)

GLASS_ROWS = 96  # level-0 rows of bare glass (unannotated) at the top of each test slide

SOURCE_TOML = """
id = "hs-test"
public_paths = true
name = "histology test source"
license = "CC0-1.0"
access = "open"
homepage = "https://example.org/hs-test"
citation = "@misc{hstest, title = {test}}"
how_to_obtain = "written by the test"
modality = "histology"
anatomy = "skin"

[layout]
description = "slides/*.tif with {stem}.geojson; tiles/*.png with ../masks/{stem}.png; orphans/*.geojson"
include = ["slides/*.tif", "tiles/*.png", "orphans/*.geojson"]
companions = ["{stem}.geojson", "../masks/{stem}.png", "{stem}.tif"]

[defaults]
mask_palette = "skin-nmsc"
"""

#: slide name -> (size, mpp stored in the file, pyramid downsamples, boundary x in level-0 px)
SLIDES: dict[str, tuple[tuple[int, int], float | None, tuple[int, ...], int]] = {
    "halves_0": ((1024, 768), 0.5, (1, 4, 16), 300),
    "halves_1": ((2048, 1536), 0.25, (1, 4, 16), 900),
    "halves_2": ((1024, 768), 0.5, (1, 4, 16), 640),
    "halves_3": ((2048, 1536), 0.25, (1, 4, 16), 1300),
    "halves_4": ((1024, 768), 0.5, (1, 4, 16), 480),
    "halves_5": ((2048, 1536), 0.25, (1, 4, 16), 1100),
    "given": ((1024, 768), None, (1, 4), 500),  # no mpp in the file; labels.csv gives 0.5
}
#: tile name -> (size, boundary y: EPI above, RET below)
TILES: dict[str, tuple[tuple[int, int], int]] = {
    "skin_0": ((600, 500), 180),
    "skin_1": ((600, 500), 260),
    "skin_2": ((640, 480), 220),
    "skin_3": ((600, 500), 300),
}
BCSS_NAMES = ("TCGA-AA-0001-DX1_xmin100_ymin200_MPP-0.2500", "TCGA-AA-0002-DX1_xmin0_ymin0_MPP-0.2500")
BCSS_BOUNDARY = (700, 1000)  # tumor left of it, stroma right; bottom rows outside_roi
GTRUTH_CODES = (
    "label\tGT_code\noutside_roi\t0\ntumor\t1\nstroma\t2\nlymphocytic_infiltrate\t3\nnecrosis_or_debris\t4\n"
    "fat\t9\nblood_vessel\t18\n"
)


def _slide_with_glass(size: tuple[int, int], boundary: int) -> np.ndarray:
    w, h = size
    img = halves(w, h, boundary, texture=True)
    img[:GLASS_ROWS] = GLASS_RGB
    return img


def _palette_tile(root: Path, name: str, size: tuple[int, int], boundary: int, classes=("EPI", "RET")) -> None:  # type: ignore[no-untyped-def]
    palette = PALETTES["skin-nmsc"]
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:boundary] = EPI_RGB
    img[boundary:] = DERMIS_RGB
    img[::6, ::5] = (60, 30, 100)
    (root / "tiles").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(root / "tiles" / f"{name}.png")
    big = Image.new("RGB", (w * 4, h * 4), palette[classes[1]])
    if boundary > 0:
        ImageDraw.Draw(big).rectangle((0, 0, w * 4 - 1, boundary * 4 - 1), fill=palette[classes[0]])
    big.resize((w, h), Image.Resampling.BOX).save(root / "masks" / f"{name}.png")  # anti-aliased edge


def write_test_source(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "source.toml").write_text(SOURCE_TOML, encoding="utf-8")
    for name, (size, mpp, downsamples, boundary) in SLIDES.items():
        w, h = size
        write_pyramid(root / "slides" / f"{name}.tif", _slide_with_glass(size, boundary), downsamples, mpp)
        write_geojson(
            root / "slides" / f"{name}.geojson",
            [
                feature("Epidermis", [box_ring(0, GLASS_ROWS, boundary, h)]),
                feature("Dermis", [box_ring(boundary, GLASS_ROWS, w, h)]),
            ],
        )
    for name, (size, boundary) in TILES.items():
        _palette_tile(root, name, size, boundary)
    _palette_tile(root, "single", (600, 500), 0, ("RET", "RET"))  # one class only
    write_pyramid(root / "slides" / "nompp.tif", halves(1024, 768, 512), (1, 4), mpp=None)
    halves_geojson(root / "slides" / "nompp.geojson", 1024, 768, 512)
    write_pyramid(root / "slides" / "outside.tif", halves(1024, 768, 512), (1, 4), mpp=0.5)
    write_geojson(root / "slides" / "outside.geojson", [feature("Epidermis", [box_ring(0, 0, 4000, 768)])])
    halves_geojson(root / "orphans" / "lost.geojson", 1024, 768, 512)
    rows = ["path,mpp"] + [f"tiles/{n}.png,0.8" for n in (*TILES, "single")] + ["slides/given.tif,0.5"]
    (root / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def write_bcss_like(root: Path) -> Path:
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "gtruth_codes.tsv").write_text(GTRUTH_CODES, encoding="utf-8")
    (root / "rgbs_colorNormalized").mkdir()
    (root / "masks").mkdir()
    for name, boundary in zip(BCSS_NAMES, BCSS_BOUNDARY, strict=True):
        w, h = 1600, 1200
        img = halves(w, h, boundary, texture=True)
        Image.fromarray(img).save(root / "rgbs_colorNormalized" / f"{name}.png")
        codes = np.full((h, w), 2, np.uint8)
        codes[:, :boundary] = 1
        codes[1100:] = 0  # outside_roi: don't care
        Image.fromarray(codes).save(root / "masks" / f"{name}.png")
    return root


def write_skin_like(root: Path) -> Path:
    _palette_tile(root, "tile_a", (640, 560), 240)
    level = root / "data" / "2x"  # the release's layout: data/<scale>/{Images,Masks}
    (level / "Images").mkdir(parents=True)
    (level / "Masks").mkdir()
    Image.open(root / "tiles" / "tile_a.png").save(level / "Images" / "tile_a.tif")
    (root / "masks" / "tile_a.png").rename(level / "Masks" / "tile_a.png")
    (root / "tiles" / "tile_a.png").unlink()
    (root / "labels.csv").write_text("path,mpp\ndata/2x/Images/tile_a.tif,0.9\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    base = tmp_path_factory.mktemp("histology")
    roots = {
        "hs-test": write_test_source(base / "generic"),
        "bcss": write_bcss_like(base / "bcss"),
        "skin-histology-segmentation": write_skin_like(base / "skin"),
    }
    out = base / "out"
    code, output = run_cli(
        "recipe",
        "histology-structure",
        "--source",
        roots["hs-test"],
        "--source",
        roots["bcss"],  # detected by meta/gtruth_codes.tsv
        "--source",
        f"skin-histology-segmentation={roots['skin-histology-segmentation']}",
        "--out",
        out,
        "--seed",
        5,
        "--quiet",
    )
    assert code == 0, output
    return out, roots


def _rows(out: Path) -> list[dict]:
    return list(load_config(out, TASK))


@pytest.fixture(scope="module")
def rows(built: tuple[Path, dict[str, Path]]) -> list[dict]:
    return _rows(built[0])


def _truth(source: str, path: str) -> tuple[Callable[[float, float], str | None], Callable[[float, float], float]]:
    """(class at level-0 (x, y), distance in level-0 px to the nearest class boundary) per input."""
    stem = Path(path).stem
    if source == "hs-test" and path.startswith("slides/"):
        b = SLIDES[stem][3]
        return (
            lambda x, y: None if y < GLASS_ROWS else ("Epidermis" if x < b else "Dermis"),
            lambda x, y: min(abs(x - b), y - GLASS_ROWS),
        )
    if source == "bcss":
        b = BCSS_BOUNDARY[BCSS_NAMES.index(stem)]
        return (
            lambda x, y: "outside_roi" if y >= 1100 else ("tumor" if x < b else "stroma"),
            lambda x, y: min(abs(x - b), 1100 - y),
        )
    yb = TILES[stem][1] if source == "hs-test" else 240
    return (lambda x, y: "EPI" if y < yb else "RET", lambda x, y: abs(y - yb))


def test_every_row_names_the_class_under_its_markers(rows: list[dict]) -> None:
    assert len(rows) == len(SLIDES) + len(TILES) + len(BCSS_NAMES) + 1
    seen_sources = set()
    for row in rows:
        label, prov = json.loads(row["label"]), json.loads(row["provenance"])
        seen_sources.add(row["source"])
        image_input = prov["inputs"][0]["path"]
        class_at, boundary_distance = _truth(row["source"], image_input)
        x0, y0, x1, y1 = label["tile_box_level0"]
        tw, th = label["tile_size"]
        sx, sy = (x1 - x0) / tw, (y1 - y0) / th
        assert list(row["choices"]) == list(CHOICES)
        by_letter = {}
        for m in label["markers"]:
            lx, ly = x0 + (m["x"] + 0.5) * sx, y0 + (m["y"] + 0.5) * sy
            assert class_at(lx, ly) == m["class"], (row["id"], m)
            # the documented distance, with one pixel for the anti-aliased / pixel-centre edge
            assert boundary_distance(lx, ly) / sx >= MIN_BOUNDARY_PX - 1, (row["id"], m)
            assert m["boundary_distance_px"] >= MIN_BOUNDARY_PX
            by_letter[m["letter"]] = m
        assert set(by_letter) == {"A", "B"}
        assert by_letter["A"]["class"] != by_letter["B"]["class"]
        assert row["answer"] == label["answer_marker"]
        assert by_letter[row["answer"]]["class"] == label["structure"]
        assert label["structure_text"] in row["question"]
        assert label["tile_mpp"] == pytest.approx([1.0, 1.0], rel=1e-3)  # read size rounds to whole pixels
        assert row["modality"] == "histology"
    assert seen_sources == {"hs-test", "bcss", "skin-histology-segmentation"}


def test_slides_read_the_right_level_and_record_the_region(rows: list[dict]) -> None:
    regions = {}
    for row in rows:
        prov = json.loads(row["provenance"])
        regions[Path(prov["inputs"][0]["path"]).stem] = prov["read"]["region"]
    # 0.5 um/px slides: level 0 reduced by 2 (level 1 is 2 um/px, coarser than the 1 um/px tile)
    assert regions["halves_0"]["level"] == 0 and regions["halves_0"]["resample_factor"] == [0.5, 0.5]
    # 0.25 um/px slides: level 1 (downsample 4) is exactly 1 um/px, read without resampling
    assert regions["halves_1"]["level"] == 1 and regions["halves_1"]["resample"] is None
    assert regions["halves_1"]["level_downsample"] == 4.0
    assert regions["given"]["mpp_source"] == "labels table / metadata column mpp"
    assert regions[BCSS_NAMES[0]]["mpp_source"] == "file name (MPP-0.25)"
    assert regions["skin_0"]["native_mpp"] == [0.8, 0.8] and regions["skin_0"]["reader"].startswith("pillow")
    for region in regions.values():
        assert {"level", "level_downsample", "box_level0", "native_mpp", "read_size", "resample_factor"} <= set(region)


def _read_region_independently(path: Path, region: dict) -> np.ndarray:
    x, y = region["read_origin_level0"]
    w, h = region["read_size"]
    if region["reader"].startswith("openslide"):
        slide = openslide.OpenSlide(str(path))
        rgba = np.asarray(slide.read_region((x, y), region["level"], (w, h)))
        slide.close()
        assert (rgba[..., 3] == 255).all()
        return rgba[..., :3]
    full = np.asarray(Image.open(path).convert("RGB"))
    assert region["level"] == 0 and x + w <= full.shape[1] and y + h <= full.shape[0]
    return full[y : y + h, x : x + w]


def test_row_images_replay_from_the_region_read(built: tuple[Path, dict[str, Path]], rows: list[dict]) -> None:
    _, roots = built
    for row in rows:
        prov = json.loads(row["provenance"])
        image = prov["inputs"][0]
        path = roots[row["source"]] / image["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == image["sha256"]
        region = _read_region_independently(path, prov["read"]["region"])
        expected = replay(prov["transforms"], region)
        np.testing.assert_array_equal(np.asarray(row["images"][0].convert("RGB")), expected)
        assert [t["name"] for t in prov["transforms"]][-1] == "draw_markers"


def test_bad_inputs_are_recorded_skips(built: tuple[Path, dict[str, Path]]) -> None:
    out, _ = built
    manifest = json.loads((out / "manifest.json").read_text())
    skipped = {s["key"]: s for s in manifest["skipped"]["items"]}
    assert skipped["hs-test/tiles/single.png"]["reason"] == "no_two_classes"
    assert skipped["hs-test/slides/nompp.tif"]["reason"] == "no_mpp"
    assert "labels.csv" in skipped["hs-test/slides/nompp.tif"]["detail"]
    assert skipped["hs-test/orphans/lost.geojson"]["reason"] == "missing_image"
    outside = skipped["hs-test/slides/outside.tif"]
    assert outside["reason"] == "unreadable" and "outside.geojson" in outside["detail"]
    assert "outside the slide" in outside["detail"]
    assert len(skipped) == 4


def test_answer_letters_come_from_a_seeded_uniform_draw(rows: list[dict]) -> None:
    answers = [row["answer"] for row in rows]
    assert set(answers) == {"A", "B"}
    draws = [target_letter_index(rng_for(0, TASK, f"key-{i}")) for i in range(4000)]
    assert 0.47 < float(np.mean(draws)) < 0.53


def test_strict_build_stops_on_a_polygon_outside_the_slide(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "source.toml").write_text(SOURCE_TOML, encoding="utf-8")
    write_pyramid(root / "slides" / "outside.tif", halves(512, 512, 256), (1,), mpp=0.5)
    write_geojson(root / "slides" / "outside.geojson", [feature("Dermis", [box_ring(0, 0, 512, 900)])])
    code, output = run_cli("recipe", "histology-structure", "--source", root, "--out", tmp_path / "out", "--strict")
    assert code != 0
    assert "outside.geojson" in output and "outside the slide" in output


def test_built_in_sample_builds_with_its_documented_skips(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    code, output = run_cli("recipe", "histology-structure", "--out", out, "--quiet")
    assert code == 0, output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sample"] is True
    reasons = {s["key"].split("/", 1)[1]: s["reason"] for s in manifest["skipped"]["items"]}
    assert reasons == {"slides/slide_002.tif": "no_mpp", "Images/skin_004.tif": "no_two_classes"}
    rows = _rows(out)
    assert len(rows) == 4
    kinds = {json.loads(r["label"])["annotation_kind"] for r in rows}
    assert kinds == {"geojson", "label mask"}
    for row in rows:
        assert row["images"][0].size == (512, 512)
