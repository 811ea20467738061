"""Built-in sample source of the histology-structure recipe: synthetic H&E images in real formats.

Written on demand (CC0-1.0) into a folder laid out like the public sources:

- `slides/slide_001.tif`: a tiled pyramidal TIFF (levels 1, 2, 8; deflate; 0.5 um/px in its
  resolution tags, so OpenSlide reports `openslide.mpp-x`) with `slides/slide_001.geojson`, a
  QuPath-style export: a Stroma polygon with a hole filled by a Fat polygon, and Tumor and
  Immune cells polygons nested inside the stroma (QuPath child annotations).
- `slides/slide_002.tif` + `.geojson`: the same kind of slide without resolution tags and with no
  mpp in labels.csv: skipped (`no_mpp`).
- `Images/skin_00N.tif` + `Masks/skin_00N.png`: plain (stripped) TIFF tiles like the non-melanoma
  skin cancer set, with RGB palette masks whose edges are anti-aliased (drawn at 4x and
  box-filtered); their 0.8 um/px is given in `labels.csv`, as a user would. `skin_004` holds a
  single tissue class: skipped (`no_two_classes`).

Stains are simulated with the Beer-Lambert model and the Ruifrok-Johnston haematoxylin and eosin
optical-density vectors; nuclei, fibres and fat vacuoles are seeded noise fields, so every run
writes the same bytes. The slide is written with tifffile (`tiff_writer.write_pyramid_tiff`) as
a generic tiled TIFF that OpenSlide reads.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from ..readers.annotations import PALETTES
from .tiff_writer import write_pyramid_tiff

SEED = 20240517
SKIN_MPP = 0.8
SLIDE_MPP = 0.5

#: Optical density per unit stain (R, G, B), Ruifrok & Johnston 2001.
HAEMATOXYLIN = np.array([0.650, 0.704, 0.286])
EOSIN = np.array([0.072, 0.990, 0.105])


def pyramid(level0: np.ndarray, downsamples: tuple[int, ...]) -> list[np.ndarray]:
    """Block-mean reductions of `level0` by each integer downsample (1 first)."""
    out = []
    for ds in downsamples:
        h, w = level0.shape[0] // ds, level0.shape[1] // ds
        block = level0[: h * ds, : w * ds].reshape(h, ds, w, ds, 3).astype(np.uint32)
        out.append(((block.sum(axis=(1, 3)) + ds * ds // 2) // (ds * ds)).astype(np.uint8))
    return out


# --- synthetic H&E --------------------------------------------------------------------------

#: Tissue looks per kind: (eosin base, haematoxylin base, nuclei density, nuclei size um, fibres)
LOOKS: dict[str, tuple[float, float, float, float, float]] = {
    "glass": (0.015, 0.01, 0.0, 0.0, 0.0),
    "keratin": (0.42, 0.03, 0.0, 0.0, 0.35),
    "epithelium": (0.22, 0.22, 0.30, 3.2, 0.0),
    "basaloid": (0.12, 0.40, 0.42, 3.0, 0.0),
    "papillary": (0.24, 0.05, 0.06, 2.4, 0.25),
    "dermis": (0.42, 0.04, 0.04, 2.4, 0.55),
    "immune": (0.14, 0.18, 0.55, 1.8, 0.0),
    "gland": (0.30, 0.28, 0.25, 2.8, 0.0),
    "follicle": (0.25, 0.30, 0.32, 3.0, 0.0),
    "fat": (0.02, 0.0, 0.0, 0.0, 0.0),
    "stroma": (0.40, 0.04, 0.05, 2.4, 0.5),
}


def _noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float | tuple[float, float]) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return (field - field.mean()) / (field.std() + 1e-6)


def _nuclei(rng: np.random.Generator, shape: tuple[int, int], size_px: float, density: float) -> np.ndarray:
    field = _noise(rng, shape, max(0.8, size_px / 2.5))
    cut = np.quantile(field, 1 - density) if density > 0 else np.inf
    blobs = (field > cut).astype(np.float32)
    return ndimage.gaussian_filter(blobs, 0.6)


def _fat_membranes(rng: np.random.Generator, shape: tuple[int, int], mpp: float) -> np.ndarray:
    from scipy.spatial import cKDTree

    h, w = shape
    spacing = 55.0 / mpp
    n = max(4, int(h * w / spacing**2))
    seeds = rng.uniform([0, 0], [h, w], size=(n, 2))
    yy, xx = np.mgrid[0:h, 0:w]
    d, _ = cKDTree(seeds).query(np.stack([yy.ravel(), xx.ravel()], 1), k=2)
    gap = (d[:, 1] - d[:, 0]).reshape(shape)
    return np.clip(1.0 - gap / (1.6 / mpp), 0.0, 1.0).astype(np.float32)


def render_he(kinds: np.ndarray, names: list[str], mpp: float, seed: int) -> np.ndarray:
    """An H&E-like RGB image of a class map: `kinds[y, x]` indexes `names` (keys of LOOKS)."""
    rng = np.random.default_rng(seed)
    shape = kinds.shape
    eosin = np.zeros(shape, np.float32)
    haem = np.zeros(shape, np.float32)
    texture = _noise(rng, shape, 6.0 / mpp) * 0.06
    fibres = np.clip(_noise(rng, shape, (0.8 / mpp, 7.0 / mpp)), 0, None)
    for index, name in enumerate(names):
        where = kinds == index
        if not where.any():
            continue
        rows, cols = np.nonzero(where.any(axis=1))[0], np.nonzero(where.any(axis=0))[0]
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        sub = where[box]
        e, hx, density, size_um, fibre = LOOKS[name]
        e_sub = np.full(sub.shape, e, np.float32)
        h_sub = np.full(sub.shape, hx, np.float32)
        if fibre:
            e_sub += fibre * 0.25 * fibres[box]
        if density:
            nuc = _nuclei(rng, sub.shape, size_um / mpp, density)
            h_sub += 1.1 * nuc
            e_sub -= 0.08 * nuc
        if name == "fat":
            e_sub += 0.45 * _fat_membranes(rng, sub.shape, mpp)
        if name not in ("glass", "fat"):
            e_sub += texture[box]
        eosin[box][sub] = e_sub[sub]
        haem[box][sub] = h_sub[sub]
    stains = np.stack([np.clip(haem, 0, None), np.clip(eosin, 0, None)], axis=-1)
    od = stains @ np.stack([HAEMATOXYLIN, EOSIN]).astype(np.float32)
    rgb = 250.0 * np.exp(od * np.float32(-np.log(10.0))) + 2.0 * rng.standard_normal((*shape, 3), dtype=np.float32)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


# --- skin tiles with palette masks ----------------------------------------------------------

SKIN_LOOK = {
    "BKG": "glass",
    "KER": "keratin",
    "EPI": "epithelium",
    "PAP": "papillary",
    "RET": "dermis",
    "HYP": "fat",
    "GLD": "gland",
    "FOL": "follicle",
    "INF": "immune",
    "BCC": "basaloid",
}


def _curve(rng: np.random.Generator, w: int, base: float, amp: float, waves: float) -> np.ndarray:
    x = np.arange(w + 1, dtype=np.float64)
    phase = rng.uniform(0, 2 * np.pi)
    return base + amp * np.sin(2 * np.pi * waves * x / w + phase) + 0.3 * amp * np.sin(5 * np.pi * x / w + 2 * phase)


def skin_layout(case: int, size: tuple[int, int]) -> list[tuple[str, list[tuple[float, float]]]]:
    """Polygons (class, [(x, y), ...]) of one skin tile, painted in order (later on top)."""
    w, h = size
    rng = np.random.default_rng(SEED + case)
    if case == 4:  # a single tissue class: reticular dermis everywhere
        return [("RET", [(0, 0), (w, 0), (w, h), (0, h)])]
    top = _curve(rng, w, 0.08 * h, 0.02 * h, 1.0)
    ker = top + 0.035 * h
    epi = ker + _curve(rng, w, 0.17 * h, 0.03 * h, 3.0)
    pap = epi + 0.13 * h
    ret = pap + _curve(rng, w, 0.36 * h, 0.04 * h, 1.5)
    xs = np.linspace(0, w, len(top))

    def band(upper: np.ndarray, lower: np.ndarray) -> list[tuple[float, float]]:
        return [(float(x), float(y)) for x, y in zip(xs, upper, strict=True)] + [
            (float(x), float(y)) for x, y in zip(xs[::-1], lower[::-1], strict=True)
        ]

    bottom = np.full_like(top, h + 1.0)
    shapes: list[tuple[str, list[tuple[float, float]]]] = [
        ("BKG", [(0, 0), (w, 0), (w, h), (0, h)]),
        ("KER", band(top, ker)),
        ("EPI", band(ker, epi)),
        ("PAP", band(epi, pap)),
        ("RET", band(pap, ret)),
        ("HYP", band(ret, bottom)),
    ]

    def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 48) -> list[tuple[float, float]]:
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        wobble = 1 + 0.08 * np.sin(3 * t + rng.uniform(0, 6))
        return [
            (float(cx + rx * c * k), float(cy + ry * s * k))
            for c, s, k in zip(np.cos(t), np.sin(t), wobble, strict=True)
        ]

    mid = float(np.mean((pap + ret) / 2))
    if case == 1:
        shapes += [("GLD", ellipse(0.3 * w, mid + 40, 70, 45)), ("GLD", ellipse(0.72 * w, mid + 10, 55, 40))]
    elif case == 2:
        shapes += [("INF", ellipse(0.35 * w, mid - 30, 120, 55)), ("FOL", ellipse(0.75 * w, mid, 60, 150))]
    elif case == 3:
        shapes += [("BCC", ellipse(0.45 * w, mid, 190, 110)), ("BCC", ellipse(0.8 * w, mid + 60, 80, 60))]
    return shapes


def _paint_mask(shapes: list[tuple[str, list[tuple[float, float]]]], size: tuple[int, int], scale: int) -> Image.Image:
    palette = PALETTES["skin-nmsc"]
    w, h = size
    image = Image.new("RGB", (w * scale, h * scale), 0)
    draw = ImageDraw.Draw(image)
    for name, points in shapes:
        draw.polygon([(x * scale, y * scale) for x, y in points], fill=palette[name])
    return image


def write_skin_tile(root: Path, case: int, size: tuple[int, int]) -> None:
    shapes = skin_layout(case, size)
    # The mask: palette colours drawn at 4x and box-filtered, so its edges are anti-aliased.
    mask = _paint_mask(shapes, size, 4).resize(size, Image.Resampling.BOX)
    names = list(dict.fromkeys(SKIN_LOOK.values()))
    kinds = _kinds(shapes, size, names)
    pixels = render_he(kinds, names, SKIN_MPP, SEED + 100 + case)
    (root / "Images").mkdir(parents=True, exist_ok=True)
    (root / "Masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(root / "Images" / f"skin_{case:03d}.tif", compression="tiff_deflate")
    mask.save(root / "Masks" / f"skin_{case:03d}.png", optimize=False, compress_level=6)


def _kinds(shapes: list[tuple[str, list[tuple[float, float]]]], size: tuple[int, int], names: list[str]) -> np.ndarray:
    w, h = size
    image = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(image)
    for name, points in shapes:
        draw.polygon(points, fill=names.index(SKIN_LOOK[name]))
    return np.asarray(image)


# --- slides with GeoJSON --------------------------------------------------------------------


def _blob(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float, n: int = 40) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    k = 1 + 0.12 * np.sin(2 * t + rng.uniform(0, 6)) + 0.06 * np.sin(5 * t + rng.uniform(0, 6))
    return np.stack([cx + rx * np.cos(t) * k, cy + ry * np.sin(t) * k], axis=1).round(1)


def slide_layout(seed: int, size: tuple[int, int]) -> dict[str, list[tuple[np.ndarray, list[np.ndarray]]]]:
    """Class -> polygons (exterior, holes) in level-0 pixels."""
    w, h = size
    rng = np.random.default_rng(seed)
    fat = _blob(rng, 0.68 * w, 0.6 * h, 0.11 * w, 0.12 * h)  # a hole well inside the stroma: a valid polygon
    stroma = _blob(rng, 0.5 * w, 0.5 * h, 0.44 * w, 0.42 * h, n=64)
    tumors = [_blob(rng, 0.3 * w, 0.4 * h, 0.13 * w, 0.16 * h), _blob(rng, 0.5 * w, 0.72 * h, 0.09 * w, 0.08 * h)]
    immune = [_blob(rng, 0.62 * w, 0.3 * h, 0.09 * w, 0.07 * h)]
    return {
        "Stroma": [(stroma, [fat])],
        "Fat": [(fat, [])],
        "Tumor": [(t, []) for t in tumors],
        "Immune cells": [(i, []) for i in immune],
    }


SLIDE_LOOK = {"Stroma": "stroma", "Fat": "fat", "Tumor": "basaloid", "Immune cells": "immune"}


def _geojson(layout: dict[str, list[tuple[np.ndarray, list[np.ndarray]]]]) -> dict:  # type: ignore[type-arg]
    colours = {"Stroma": -6895466, "Fat": -3355444, "Tumor": -3670016, "Immune cells": -6710785}
    features = []
    for name, polygons in layout.items():
        for exterior, holes in polygons:
            rings = [[[float(x), float(y)] for x, y in np.vstack([r, r[:1]])] for r in (exterior, *holes)]
            features.append(
                {
                    "type": "Feature",
                    "id": f"{name.lower().replace(' ', '-')}-{len(features)}",
                    "geometry": {"type": "Polygon", "coordinates": rings},
                    "properties": {
                        "objectType": "annotation",
                        "classification": {"name": name, "color": colours[name]},
                        "isLocked": False,
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


def write_slide(root: Path, name: str, size: tuple[int, int], mpp: float | None, seed: int) -> None:
    w, h = size
    layout = slide_layout(seed, size)
    names = ["glass", *dict.fromkeys(SLIDE_LOOK.values())]
    image = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(image)
    for cls in ("Stroma", "Fat", "Tumor", "Immune cells"):  # parents first, nested children on top
        for exterior, holes in layout[cls]:
            draw.polygon([tuple(p) for p in exterior.tolist()], fill=names.index(SLIDE_LOOK[cls]))
            for hole in holes:
                draw.polygon([tuple(p) for p in hole.tolist()], fill=0)
    kinds = np.asarray(image)
    pixels = render_he(kinds, names, mpp or SLIDE_MPP, seed)
    write_pyramid_tiff(root / "slides" / f"{name}.tif", pyramid(pixels, (1, 2, 8)), tile=256, mpp=mpp)
    (root / "slides" / f"{name}.geojson").write_text(json.dumps(_geojson(layout), indent=1) + "\n", encoding="utf-8")


def write_histology_sample(dest: Path) -> Path:
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    write_slide(dest, "slide_001", (1280, 1024), SLIDE_MPP, SEED + 1)
    write_slide(dest, "slide_002", (640, 512), None, SEED + 2)
    for case in (1, 2, 3):
        write_skin_tile(dest, case, (720, 640))
    write_skin_tile(dest, 4, (512, 512))
    rows = [{"path": f"Images/skin_{c:03d}.tif", "mpp": f"{SKIN_MPP:g}", "anatomy": "skin"} for c in (1, 2, 3, 4)]
    rows.append({"path": "slides/slide_001.tif", "mpp": "", "anatomy": "breast"})
    rows.append({"path": "slides/slide_002.tif", "mpp": "", "anatomy": "breast"})
    with open(dest / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "mpp", "anatomy"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return dest
