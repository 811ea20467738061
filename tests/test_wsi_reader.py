"""The whole-slide reader, tissue mask and annotation decoders on slides the tests write.

Slides are tiled pyramidal TIFFs written with tifffile (reduced levels marked NewSubfileType = 1,
resolution in centimetres), opened through OpenSlide; plain PNG/TIFF tiles go through Pillow.
"""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
from PIL import Image, ImageDraw

from medblink_build.errors import ReaderError
from medblink_build.readers.annotations import (
    CONFLICT,
    PALETTES,
    UNLABELLED,
    read_geojson,
    read_label_mask,
    snap_to_palette,
)
from medblink_build.readers.tissue import SATURATION_CLAMP, slide_tissue, tissue_from_rgb
from medblink_build.readers.wsi import (
    MissingMppError,
    mpp_from_file_name,
    open_slide,
    read_level_region,
    read_overview,
    read_region_at_mpp,
)
from medblink_build.transforms import replay
from tests.wsi_factory import (
    DERMIS_RGB,
    EPI_RGB,
    box_ring,
    feature,
    halves,
    write_geojson,
    write_pyramid,
    write_streamed_pyramid,
)

W, H, BOUNDARY = 3072, 2048, 1536


@pytest.fixture(scope="module")
def halves_slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3072 x 2048 at 0.5 um/px, levels 1, 4, 16: epidermis-purple left of x = 1536, pink right."""
    return write_pyramid(tmp_path_factory.mktemp("wsi") / "halves.tif", halves(W, H, BOUNDARY), (1, 4, 16), 0.5)


def _is(pixels: np.ndarray, rgb: tuple[int, int, int], tol: int = 12) -> bool:
    return bool((np.abs(pixels.reshape(-1, 3).astype(int) - rgb) <= tol).all())


# --- slides and resolution --------------------------------------------------------------------


def test_tifffile_pyramid_opens_with_openslide_and_reports_mpp(halves_slide: Path) -> None:
    raw = openslide.OpenSlide(str(halves_slide))
    assert float(raw.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(0.5)
    assert raw.level_count == 3
    raw.close()
    with open_slide(halves_slide) as slide:
        assert slide.backend == "openslide" and slide.vendor == "generic-tiff"
        assert slide.mpp == pytest.approx((0.5, 0.5))
        assert slide.level_dimensions == ((3072, 2048), (768, 512), (192, 128))
        assert slide.level_downsamples == pytest.approx((1.0, 4.0, 16.0))
        assert "openslide.mpp" in (slide.mpp_source or "")


@pytest.mark.parametrize(
    ("mpp", "level", "read", "factor"),
    [
        (0.5, 0, 256, 1.0),  # native: level 0, no resampling
        (1.0, 0, 512, 0.5),  # between levels 0 (0.5) and 1 (2.0): the finer one, reduced
        (2.0, 1, 256, 1.0),  # exactly level 1
        (3.0, 1, 384, 2 / 3),
        (8.0, 2, 256, 1.0),
        (0.25, 0, 128, 2.0),  # finer than the slide: level 0 upsampled, and the factor says so
    ],
)
def test_level_at_or_above_the_target_resolution(
    halves_slide: Path, mpp: float, level: int, read: int, factor: float
) -> None:
    with open_slide(halves_slide) as slide:
        pixels, prov = read_region_at_mpp(slide, 0, 0, 256, 256, mpp)
    assert pixels.shape == (256, 256, 3) and pixels.dtype == np.uint8
    assert prov["level"] == level
    assert prov["read_size"] == [read, read]
    assert prov["resample_factor"] == pytest.approx([factor, factor], abs=1e-6)
    assert prov["native_mpp"] == [0.5, 0.5] and prov["target_mpp"] == mpp
    assert prov["effective_mpp"] == pytest.approx([mpp, mpp])
    assert (prov["resample"] is None) == (factor == 1.0)
    if prov["resample"]:
        assert prov["resample"]["filter"] == "lanczos"


@pytest.mark.parametrize("mpp", [1.0, 2.0, 3.0])
def test_region_shows_the_boundary_where_the_resolution_puts_it(halves_slide: Path, mpp: float) -> None:
    x0 = 1024
    width = min(400, int((W - x0) * 0.5 / mpp) - 2)
    with open_slide(halves_slide) as slide:
        pixels, _ = read_region_at_mpp(slide, x0, 100, width, 64, mpp)
    edge = (BOUNDARY - x0) * 0.5 / mpp  # output column of the class boundary
    left, right = int(edge) - 4, int(np.ceil(edge)) + 4
    assert _is(pixels[:, :left], EPI_RGB)
    assert _is(pixels[:, right:], DERMIS_RGB)


def test_region_pixels_replay_from_the_level_read(halves_slide: Path) -> None:
    with open_slide(halves_slide) as slide:
        pixels, prov = read_region_at_mpp(slide, 700, 300, 300, 200, 1.3)
        level_pixels = read_level_region(slide, prov["level"], *prov["read_origin_level0"], *prov["read_size"])
    raw = openslide.OpenSlide(str(halves_slide))
    direct = np.asarray(raw.read_region(tuple(prov["read_origin_level0"]), prov["level"], tuple(prov["read_size"])))
    raw.close()
    np.testing.assert_array_equal(level_pixels, direct[..., :3])
    np.testing.assert_array_equal(replay([prov["resample"]["transform"]], level_pixels), pixels)


def test_outside_the_slide_is_background_white(halves_slide: Path) -> None:
    with open_slide(halves_slide) as slide:
        pixels, _ = read_region_at_mpp(slide, W - 100, H - 100, 200, 200, 0.5)
    assert _is(pixels[:100, :100], EPI_RGB if W - 100 < BOUNDARY else DERMIS_RGB)
    assert (pixels[100:, :] == 255).all() and (pixels[:, 100:] == 255).all()


def test_slide_without_mpp_refuses_to_guess(tmp_path: Path) -> None:
    path = write_pyramid(tmp_path / "nompp.tif", halves(512, 512, 256), (1, 4), mpp=None)
    with open_slide(path) as slide:
        assert slide.mpp is None
        with pytest.raises(MissingMppError, match=r"nompp\.tif: .*no microns per pixel"):
            read_region_at_mpp(slide, 0, 0, 64, 64, 1.0)
        slide.set_mpp(0.5, "given by the test")
        _, prov = read_region_at_mpp(slide, 0, 0, 64, 64, 1.0)
        assert prov["mpp_source"] == "given by the test" and prov["read_size"] == [128, 128]


def test_implausible_resolution_is_not_believed(tmp_path: Path) -> None:
    path = tmp_path / "dpi72.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(halves(512, 512, 256), tile=(256, 256), photometric="rgb", resolution=(72, 72), resolutionunit="INCH")
    with open_slide(path) as slide:
        assert slide.mpp is None and "outside" in slide.mpp_note


def test_plain_tiles_are_one_level_slides(tmp_path: Path) -> None:
    img = halves(300, 200, 150)
    Image.fromarray(img).save(tmp_path / "tile.png")
    with open_slide(tmp_path / "tile.png") as slide:
        assert slide.backend == "pillow" and slide.level_count == 1 and slide.mpp is None
        slide.set_mpp(0.5, "caller")
        pixels, prov = read_region_at_mpp(slide, 0, 0, 150, 100, 1.0)
        assert prov["level"] == 0 and prov["read_size"] == [300, 200]
        region = read_level_region(slide, 0, 0, 0, 300, 200)
    np.testing.assert_array_equal(region, img)
    np.testing.assert_array_equal(replay([prov["resample"]["transform"]], region), pixels)
    # A stripped TIFF tile with centimetre resolution tags gives its mpp; OpenSlide declines it.
    Image.fromarray(img).save(tmp_path / "tile.tif", dpi=(2.54e4 / 0.8, 2.54e4 / 0.8))
    with Image.open(tmp_path / "tile.tif") as im:
        assert im.tag_v2.get(296) == 2  # Pillow writes inches: not believed for a plain tile
    tifffile.imwrite(
        tmp_path / "cm.tif", img, photometric="rgb", resolution=(1e4 / 0.8, 1e4 / 0.8), resolutionunit="CENTIMETER"
    )
    with open_slide(tmp_path / "cm.tif") as slide:
        assert slide.backend == "pillow" and slide.mpp == pytest.approx((0.8, 0.8))
    with open_slide(tmp_path / "tile.tif") as slide:
        assert slide.mpp is None


def test_mpp_from_histomicstk_file_name(tmp_path: Path) -> None:
    assert mpp_from_file_name("TCGA-A1-A0SK-DX1_xmin45749_ymin25055_MPP-0.2500.png") == 0.25
    assert mpp_from_file_name("slide_001.png") is None
    name = "TCGA-XX_xmin0_ymin0_MPP-0.2500.png"
    Image.fromarray(halves(64, 64, 32)).save(tmp_path / name)
    with open_slide(tmp_path / name) as slide:
        assert slide.mpp == (0.25, 0.25) and slide.mpp_source == "file name (MPP-0.25)"


def test_missing_and_unknown_files_are_reader_errors(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match="does not exist"):
        open_slide(tmp_path / "absent.svs")
    (tmp_path / "junk.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(ReaderError, match=r"junk\.tif"):
        open_slide(tmp_path / "junk.tif")


# --- overview and tissue ----------------------------------------------------------------------


def _tissue_disc(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:height, 0:width]
    disc = (xx - width / 2) ** 2 / (0.35 * width) ** 2 + (yy - height / 2) ** 2 / (0.35 * height) ** 2 < 1
    lumen = (xx - width / 2) ** 2 + (yy - height / 2) ** 2 < (0.08 * min(width, height)) ** 2  # white fat/lumen
    img = np.empty((height, width, 3), np.uint8)
    img[...] = (246, 245, 248)
    img[disc] = DERMIS_RGB
    img[lumen] = (250, 250, 250)
    return img, disc


def test_tissue_mask_is_the_stained_area_with_holes_filled(tmp_path: Path) -> None:
    img, disc = _tissue_disc(1024, 768)
    path = write_pyramid(tmp_path / "disc.tif", img, (1, 4, 8), 0.5)
    with open_slide(path) as slide:
        tissue, overview = slide_tissue(slide, 8.0)
    assert overview.level == 2 and tissue.downsample == 8.0
    truth = disc[4::8, 4::8]
    assert tissue.mask.shape == truth.shape
    iou = (tissue.mask & truth).sum() / (tissue.mask | truth).sum()
    assert iou > 0.95
    lo, hi = SATURATION_CLAMP
    assert lo <= tissue.info["threshold"] <= hi
    centre = tissue.sample((462, 344, 562, 424), (10, 10))  # the lumen: tissue after hole filling
    assert centre.all()
    assert not tissue.sample((0, 0, 100, 100), (5, 5)).any()


def test_all_tissue_tile_is_not_split_by_otsu() -> None:
    rng = np.random.default_rng(1)
    pale = np.full((64, 128, 3), (235, 190, 215), np.uint8)  # pale eosin, saturation ~0.19
    dark = np.full((64, 128, 3), (120, 60, 150), np.uint8)
    img = np.concatenate([pale, dark]) + rng.integers(0, 3, (128, 128, 3)).astype(np.uint8)
    mask, info = tissue_from_rgb(img)
    assert info["otsu_threshold"] > info["threshold"] == SATURATION_CLAMP[1]
    assert mask.all()


def test_overview_of_a_single_level_slide_is_read_in_chunks(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    h, w = 700, 1300
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path = write_pyramid(tmp_path / "flat.tif", img, (1,), 0.5)
    with open_slide(path) as slide:
        overview = read_overview(slide, 1.0, max_side=100)  # forces a block mean of 13
    f = 13
    assert overview.reduction == f and overview.downsample == f
    assert overview.pixels.shape == (-(-h // f), -(-w // f), 3)
    expect = img[: h // f * f, : w // f * f].reshape(h // f, f, w // f, f, 3).astype(np.uint32)
    expect = ((expect.sum(axis=(1, 3)) + f * f // 2) // (f * f)).astype(np.uint8)
    np.testing.assert_array_equal(overview.pixels[: h // f, : w // f], expect)


def test_region_read_memory_does_not_grow_with_the_slide(tmp_path: Path) -> None:
    """A tall 8192 x 16384 pyramid (512 MiB as RGBA at level 0), streamed to disk tile by tile;
    reading a tile-sized region and the tissue overview must stay far below that."""
    tile = 512
    tissue = np.empty((tile, tile, 3), np.uint8)
    tissue[...] = DERMIS_RGB
    tissue[::9, ::7] = EPI_RGB
    glass = np.full((tile, tile, 3), 246, np.uint8)
    path = write_streamed_pyramid(
        tmp_path / "tall.tif",
        (16384, 8192),
        lambda level, r, c: tissue if (r + c) % 3 else glass,
        (1, 4, 16, 64),
        0.25,
        tile,
    )
    small = write_pyramid(tmp_path / "warm.tif", halves(256, 256, 128), (1,), 0.5)
    with open_slide(small) as warm:  # load the libraries and modules before measuring
        read_region_at_mpp(warm, 0, 0, 64, 64, 0.5)
        slide_tissue(warm, 2.0)

    def rss_mib() -> float:
        with open(f"/proc/{os.getpid()}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    before = rss_mib()
    tracemalloc.start()
    try:
        with open_slide(path) as slide:
            mask, _ = slide_tissue(slide, 32.0)
            for y in (0, 8000, 15800):
                pixels, prov = read_region_at_mpp(slide, 4000, y, 512, 512, 0.5)
                assert pixels.shape == (512, 512, 3) and prov["level"] == 0
            pixels, prov = read_region_at_mpp(slide, 2000, 9000, 512, 512, 1.0)
            assert prov["level"] == 1 and prov["resample"] is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown = rss_mib() - before
    assert peak < 24 * 2**20, f"peak traced allocation {peak / 2**20:.1f} MiB"
    assert grown < 200, f"RSS grew by {grown:.0f} MiB"
    assert mask.mask.any()


# --- annotations ------------------------------------------------------------------------------


def _aa_palette_mask(path: Path, size: tuple[int, int], split_y: float) -> None:
    """EPI above `split_y`, RET below, drawn at 4x and box-filtered: anti-aliased blends at the edge."""
    palette = PALETTES["skin-nmsc"]
    w, h = size
    big = Image.new("RGB", (w * 4, h * 4), palette["RET"])
    ImageDraw.Draw(big).polygon(
        [(0, 0), (w * 4, 0), (w * 4, split_y * 4 + 6), (0, split_y * 4 - 6)], fill=palette["EPI"]
    )
    big.resize(size, Image.Resampling.BOX).save(path)


def test_palette_mask_snaps_anti_aliased_edges_to_the_nearest_colour(tmp_path: Path) -> None:
    _aa_palette_mask(tmp_path / "m.png", (64, 48), 20.3)
    mask = read_label_mask(tmp_path / "m.png", palette="skin-nmsc")
    names = mask.classes
    assert names[0] == "EPI" and names[3] == "RET"
    assert (mask.labels[:15] == 0).all() and (mask.labels[26:] == 3).all()
    assert 0 < mask.decode["off_palette_fraction"] < 0.25
    rgb = np.asarray(Image.open(tmp_path / "m.png").convert("RGB")).astype(int)
    colours = np.array(list(PALETTES["skin-nmsc"].values()))
    nearest = ((rgb[..., None, :] - colours) ** 2).sum(-1).argmin(-1)
    np.testing.assert_array_equal(mask.labels, nearest)
    index, stats = snap_to_palette(np.array([[[75, 1, 104]]], np.uint8), PALETTES["skin-nmsc"])
    assert index[0, 0] == 0 and stats["off_palette_pixels"] == 1


def test_a_photograph_is_not_a_palette_mask(tmp_path: Path) -> None:
    Image.fromarray(halves(64, 64, 32)).save(tmp_path / "photo.png")
    with pytest.raises(ReaderError, match=r"photo\.png: .*not colours of the skin-nmsc palette"):
        read_label_mask(tmp_path / "photo.png", palette="skin-nmsc")


def test_integer_mask_codes_and_dont_care(tmp_path: Path) -> None:
    values = np.zeros((40, 60), np.uint8)
    values[:, :20] = 1
    values[:, 20:40] = 2
    values[:, 40:50] = 9
    values[:, 50:] = 7  # a code the table does not list
    Image.fromarray(values).save(tmp_path / "codes.png")
    mask = read_label_mask(tmp_path / "codes.png", codes={1: "tumor", 2: "stroma", 9: "fat"})
    assert mask.classes == {1: "tumor", 2: "stroma", 9: "fat"}
    assert (mask.labels[:, :20] == 1).all() and (mask.labels[:, 40:50] == 9).all()
    assert (mask.labels[:, 50:] == UNLABELLED).all()
    assert mask.decode["unlisted_values"] == [7]
    assert mask.scale_to((120, 80)) is None and mask.downsample == (2.0, 2.0)
    sampled = mask.sample((0, 0, 120, 80), (8, 12))
    assert (sampled[:, :4] == 1).all() and (sampled[:, 4:8] == 2).all()
    assert mask.scale_to((100, 100)) is not None


def test_geojson_polygons_rasterise_on_the_requested_region(tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "a.geojson",
        [
            feature("Stroma", [box_ring(0, 0, 400, 400), box_ring(100, 100, 200, 200)]),  # with a hole
            feature("Tumor", [[box_ring(250, 250, 350, 350)], [box_ring(20, 300, 60, 340)]], "MultiPolygon"),
            feature(None, [box_ring(0, 0, 10, 10)]),  # unclassified: ignored
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [5, 5]}, "properties": {}},
        ],
    )
    note = read_geojson(path, slide_size=(400, 400))
    assert sorted(note.classes.values()) == ["Stroma", "Tumor"]
    assert note.decode["ignored_features"] == {"Point geometry": 1, "unclassified": 1}
    code = {v: k for k, v in note.classes.items()}
    labels = note.sample((0, 0, 400, 400), (40, 40))  # 10 level-0 px per output pixel
    assert (labels[12:18, 12:18] == UNLABELLED).all()  # the hole
    assert (labels[26:34, 26:34] == code["Tumor"]).all()  # nested inside the stroma: it wins
    assert (labels[31:33, 3:5] == code["Tumor"]).all()
    assert (labels[2:8, 25:35] == code["Stroma"]).all()
    zoom = note.sample((90, 90, 110, 110), (20, 20))  # the hole's corner at 1 px per pixel
    assert (zoom[:10, :] == code["Stroma"]).all() and (zoom[10:, 10:] == UNLABELLED).all()


def test_overlapping_polygons_of_different_classes_are_conflicts(tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "o.geojson",
        [feature("A", [box_ring(0, 0, 60, 40)]), feature("B", [box_ring(40, 0, 100, 40)])],
    )
    labels = read_geojson(path).sample((0, 0, 100, 40), (40, 100))
    assert (labels[:, 42:58] == CONFLICT).all()
    assert (labels[:, :38] == 1).all() and (labels[:, 62:] == 2).all()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "Topology"}', "expected a GeoJSON FeatureCollection"),
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Polygon", '
            '"coordinates": [[[0, 0], [1, "x"], [1, 1]]]}, "properties": {"classification": {"name": "T"}}}]}',
            "not a pair of numbers",
        ),
        (
            '[{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []}, "properties": {}}]',
            "non-empty list of rings",
        ),
    ],
)
def test_malformed_geojson_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.geojson").write_text(text)
    with pytest.raises(ReaderError, match=rf"bad\.geojson: .*{message}"):
        read_geojson(tmp_path / "bad.geojson")


def test_polygon_outside_the_slide_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "far.geojson", [feature("Tumor", [box_ring(100, 100, 5000, 300)])])
    with pytest.raises(ReaderError, match=r"far\.geojson: feature 0 \(Tumor\) has a vertex at \(5000, 100\)"):
        read_geojson(path, slide_size=(1024, 768))
    assert read_geojson(path).classes == {1: "Tumor"}  # without a slide size it parses
    json.loads(path.read_text())


def test_invalid_polygons_are_never_label_truth(tmp_path: Path) -> None:
    """A bow-tie ring and a hole crossing its shell have no one inside: shapely's reason is the error."""
    bow_tie = [[0, 0], [100, 100], [100, 0], [0, 100], [0, 0]]
    path = write_geojson(
        tmp_path / "bowtie.geojson", [feature("Tumor", [box_ring(200, 200, 300, 300)]), feature("Stroma", [bow_tie])]
    )
    with pytest.raises(
        ReaderError, match=r"bowtie\.geojson: feature 1 \(Stroma\) polygon 0 is not a valid polygon \(Self-intersection"
    ):
        read_geojson(path)
    crossing = [box_ring(0, 0, 100, 100), box_ring(50, 50, 150, 80)]
    path = write_geojson(tmp_path / "hole.geojson", [feature("Stroma", crossing)])
    with pytest.raises(ReaderError, match=r"hole\.geojson: feature 0 \(Stroma\) polygon 0 is not a valid polygon"):
        read_geojson(path)
    inside = [box_ring(0, 0, 100, 100), box_ring(20, 20, 80, 80)]
    ok = read_geojson(write_geojson(tmp_path / "ok.geojson", [feature("Stroma", inside)]))
    assert ok.polygons[0].area == 100 * 100 - 60 * 60


def test_built_in_sample_slides_have_valid_polygons() -> None:
    """The sample's stroma once had its fat hole poking through its shell, silently used as truth."""
    import shapely

    from medblink_build.samples.sample_histology import SEED, slide_layout

    for seed, size in ((SEED + 1, (1280, 1024)), (SEED + 2, (640, 512))):
        for polygons in slide_layout(seed, size).values():
            for exterior, holes in polygons:
                assert shapely.is_valid(shapely.Polygon(exterior, holes))
