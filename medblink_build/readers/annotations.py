"""Tissue-class annotations of slides and tiles: label masks and GeoJSON polygons.

Both kinds give the same thing: `annotation.sample(box, shape)`, an int16 class-code raster over
any level-0 box of the slide at any output size, with UNLABELLED (-1) where nothing (or a
"don't care" code) is annotated and CONFLICT (-2) where annotations of different classes overlap
without one nesting inside the other. `annotation.classes` maps codes to class names.

Label masks (PNG / TIFF, decoded with Pillow, never resized on reading):

- RGB-coded masks with a palette (e.g. PALETTES["skin-nmsc"], the non-melanoma skin cancer set):
  anti-aliased edges hold blended colours, so every pixel is snapped to the nearest palette colour
  (Euclidean distance in RGB, ties to the earlier palette entry). A mask whose pixels are mostly
  off-palette (> MAX_OFF_PALETTE) is refused: it is not a mask of that palette.
- Integer-coded masks with a code table (e.g. BCSS: 1 tumor, 2 stroma, ...; from the manifest's
  [label_map]): codes not in the table (such as BCSS's 0 = outside_roi) are UNLABELLED.

A mask may be smaller than its image by a uniform factor (`scale_to`); it is sampled by nearest
pixel.

GeoJSON (QuPath's export: a FeatureCollection, a Feature, or a plain list of Features) of Polygon
and MultiPolygon geometries in level-0 pixel coordinates, classed by `properties.classification.name`
(or a plain string `classification`). Features without a class or of other geometry types are
counted and ignored. Interior rings are holes. Every polygon is built and validated with shapely: an
invalid one (a self-intersecting "bow-tie" ring, a hole crossing its shell) is a ReaderError naming
the feature and shapely's reason, never label truth. Polygons are rasterised on the requested region
only (skimage.draw.polygon2mask on each polygon's bounding box clipped to the region; a pixel is
inside when its centre is). Where polygons of different classes overlap, the pixel takes the class
of the polygon nested inside the other (QuPath's child annotations lie inside their parents);
overlaps without nesting are CONFLICT. Malformed files and polygons reaching outside the slide
raise ReaderError naming the file.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import ReaderError
from .files import input_bytes
from .limits import MAX_IMAGE_PIXELS
from .tissue import sample_grid

UNLABELLED = -1
CONFLICT = -2

#: RGB palettes of colour-coded masks, by name (the manifest's `mask_palette` default names one).
PALETTES: dict[str, dict[str, tuple[int, int, int]]] = {
    # Thomas et al. 2021, non-melanoma skin cancer segmentation (University of Queensland).
    "skin-nmsc": {
        "EPI": (73, 0, 106),
        "GLD": (108, 0, 115),
        "INF": (145, 1, 122),
        "RET": (181, 9, 130),
        "FOL": (216, 47, 148),
        "PAP": (236, 85, 157),
        "HYP": (254, 246, 242),
        "KER": (248, 123, 168),
        "BKG": (0, 0, 0),
        "BCC": (127, 255, 255),
        "SCC": (127, 255, 142),
        "IEC": (255, 127, 127),
    },
}
#: A palette mask may have at most this fraction of pixels off the palette (anti-aliased edges).
MAX_OFF_PALETTE = 0.25
#: A polygon vertex may lie this many pixels outside the slide (rounding in exports) and no more.
BOUNDS_TOLERANCE = 1.0
#: Largest mask (pixels) decoded.
MAX_MASK_PIXELS = MAX_IMAGE_PIXELS
MASK_SUFFIXES = frozenset({".png", ".tif", ".tiff"})
GEOJSON_SUFFIXES = frozenset({".geojson", ".json"})


class Annotation:
    """Common interface: class codes -> names, and a class raster over any region."""

    kind: str
    classes: dict[int, str]

    def sample(self, box: tuple[float, float, float, float], shape: tuple[int, int]) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError  # pragma: no cover


@dataclass
class LabelMask(Annotation):
    labels: np.ndarray  # int16 codes, UNLABELLED for don't care
    classes: dict[int, str]
    decode: dict[str, Any]
    downsample: tuple[float, float] = (1.0, 1.0)  # level-0 pixels per mask pixel (x, y)
    kind: str = "label mask"

    @property
    def size(self) -> tuple[int, int]:
        return int(self.labels.shape[1]), int(self.labels.shape[0])

    def scale_to(self, image_size: tuple[int, int], tolerance: float = 0.01) -> str | None:
        """Fit the mask to an image of `image_size` (w, h): same size, or smaller by one uniform
        factor (within `tolerance`). Returns the problem, or None when it fits."""
        mw, mh = self.size
        iw, ih = image_size
        sx, sy = iw / mw, ih / mh
        if sx < 1 - 1e-9 or sy < 1 - 1e-9:
            return f"mask is {mw} x {mh} pixels, larger than its image ({iw} x {ih})"
        if abs(sx - sy) > tolerance * max(sx, sy):
            return f"mask is {mw} x {mh} pixels, not a uniform scaling of its image ({iw} x {ih})"
        self.downsample = (sx, sy)
        return None

    def sample(self, box: tuple[float, float, float, float], shape: tuple[int, int]) -> np.ndarray:
        return sample_grid(self.labels, self.downsample, box, shape, fill=UNLABELLED).astype(np.int16, copy=False)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "size": list(self.size),
            "downsample": [round(v, 6) for v in self.downsample],
            **self.decode,
        }


def _open_mask(path: Path, data: bytes | None) -> Image.Image:
    if path.suffix.lower() not in MASK_SUFFIXES:
        raise ReaderError(path, f"label masks must be lossless PNG or TIFF, not {path.suffix or 'no suffix'}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data) if data is not None else path)
            w, h = image.size
            if w * h > MAX_MASK_PIXELS:
                raise ReaderError(path, f"mask declares {w}x{h} pixels, more than {MAX_MASK_PIXELS}")
            image.load()
    except ReaderError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ReaderError(path, f"not a readable PNG/TIFF label mask: {exc}") from exc
    return image


def snap_to_palette(rgb: np.ndarray, palette: Mapping[str, tuple[int, int, int]]) -> tuple[np.ndarray, dict[str, Any]]:
    """Index (int16, into the palette's order) of the nearest palette colour of every pixel, and
    how many pixels were off the palette. Works on the distinct colours, so it is cheap."""
    colours = np.array(list(palette.values()), np.int32)
    arr = np.asarray(rgb, np.uint8)[..., :3]
    packed = (arr[..., 0].astype(np.uint32) << 16) | (arr[..., 1].astype(np.uint32) << 8) | arr[..., 2]
    unique, inverse = np.unique(packed.ravel(), return_inverse=True)
    u_rgb = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=1).astype(np.int32)
    d2 = ((u_rgb[:, None, :] - colours[None, :, :]) ** 2).sum(-1)
    nearest = d2.argmin(axis=1).astype(np.int16)
    exact = d2.min(axis=1) == 0
    index = nearest[inverse].reshape(packed.shape)
    off = int((~exact[inverse]).sum())
    return index, {
        "off_palette_pixels": off,
        "off_palette_fraction": round(off / max(1, packed.size), 6),
        "max_snap_distance": round(float(np.sqrt(d2.min(axis=1).max())), 3) if len(unique) else 0.0,
    }


def read_label_mask(
    path: str | Path,
    data: bytes | None = None,
    *,
    palette: str | Mapping[str, tuple[int, int, int]] | None = None,
    codes: Mapping[int, str] | None = None,
) -> LabelMask:
    """Decode a label mask: RGB-coded with `palette` (a PALETTES name or a mapping class -> RGB),
    or integer-coded with `codes` (value -> class name; other values are don't care)."""
    path = Path(path)
    if (palette is None) == (codes is None):
        raise ReaderError(path, "a label mask needs exactly one of a colour palette or an integer code table")
    image = _open_mask(path, data)
    mode = image.mode
    if palette is not None:
        if isinstance(palette, str):
            if palette not in PALETTES:
                raise ReaderError(path, f"unknown mask palette {palette!r}; known: {', '.join(sorted(PALETTES))}")
            name, table = palette, PALETTES[palette]
        else:
            name, table = "custom", dict(palette)
        if mode not in ("RGB", "RGBA", "P", "PA"):
            raise ReaderError(path, f"palette mask ({name}) must be RGB, got Pillow mode {mode}")
        index, stats = snap_to_palette(np.asarray(image.convert("RGB")), table)
        if stats["off_palette_fraction"] > MAX_OFF_PALETTE:
            raise ReaderError(
                path,
                f"{stats['off_palette_fraction']:.0%} of the pixels are not colours of the {name} palette "
                f"(at most {MAX_OFF_PALETTE:.0%} allowed for anti-aliased edges): not a mask of this palette",
            )
        classes = {i: cls for i, cls in enumerate(table)}
        decode = {"format": image.format, "mode": mode, "palette": name, "snapped": "nearest palette colour", **stats}
        return LabelMask(index, classes, decode)
    assert codes is not None
    if mode in ("RGB", "RGBA"):
        rgb = np.asarray(image.convert("RGB"))
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])):
            raise ReaderError(path, "integer-coded mask expected (one channel), got colour RGB values")
        values = rgb[..., 0].astype(np.int64)
    elif mode in ("L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N", "1"):
        values = np.asarray(image).astype(np.int64)
    else:
        raise ReaderError(path, f"integer-coded mask must be greyscale or palette-indexed, got Pillow mode {mode}")
    lut_keys = sorted(int(k) for k in codes)
    labels = np.full(values.shape, UNLABELLED, np.int16)
    for k in lut_keys:
        labels[values == k] = k
    present = np.unique(values)
    unlisted = sorted(int(v) for v in present if int(v) not in codes)
    decode = {"format": image.format, "mode": mode, "codes": "integer values", "unlisted_values": unlisted}
    return LabelMask(labels, {int(k): str(v) for k, v in sorted(codes.items())}, decode)


# --- GeoJSON ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Polygon:
    code: int
    feature: int  # index of the feature in the file
    exterior: np.ndarray  # (n, 2) float64 x, y
    holes: tuple[np.ndarray, ...]
    shape: Any = field(compare=False, repr=False)  # the shapely Polygon, validated

    @property
    def bbox(self) -> tuple[float, float, float, float]:  # x0, y0, x1, y1
        return tuple(float(v) for v in self.shape.bounds)  # type: ignore[return-value]

    @property
    def area(self) -> float:
        return float(self.shape.area)


def _valid_polygon(exterior: np.ndarray, holes: tuple[np.ndarray, ...], path: Path, where: str) -> Any:
    """The rings as a shapely Polygon, refused when invalid: a self-intersecting (bow-tie) ring or a
    hole crossing its shell has no one inside, so it cannot be label truth (shapely says why)."""
    import shapely

    shape = shapely.Polygon(exterior, holes)
    if not shapely.is_valid(shape):
        raise ReaderError(path, f"{where} is not a valid polygon ({shapely.is_valid_reason(shape)}): not used as truth")
    return shape


@dataclass
class PolygonAnnotation(Annotation):
    polygons: list[Polygon]
    classes: dict[int, str]
    decode: dict[str, Any]
    kind: str = "geojson"
    _nested: dict[tuple[int, int], bool] = field(default_factory=dict, repr=False)

    def _inside(self, inner: int, outer: int) -> bool:
        """Whether polygon `inner` lies within the exterior of polygon `outer` (shapely `covers`)."""
        key = (inner, outer)
        if key not in self._nested:
            import shapely

            a, b = self.polygons[inner], self.polygons[outer]
            self._nested[key] = bool(shapely.Polygon(b.shape.exterior).covers(a.shape))
        return self._nested[key]

    def sample(self, box: tuple[float, float, float, float], shape: tuple[int, int]) -> np.ndarray:
        from skimage.draw import polygon2mask

        x0, y0, x1, y1 = (float(v) for v in box)
        h, w = int(shape[0]), int(shape[1])
        sx, sy = (x1 - x0) / w, (y1 - y0) / h
        owner = np.full((h, w), -1, np.int32)
        conflict = np.zeros((h, w), bool)

        def to_rc(ring: np.ndarray, c0: int, r0: int) -> np.ndarray:
            cols = (ring[:, 0] - x0) / sx - 0.5 - c0
            rows = (ring[:, 1] - y0) / sy - 0.5 - r0
            return np.stack([rows, cols], axis=1)

        order = sorted(range(len(self.polygons)), key=lambda i: (-self.polygons[i].area, i))
        for i in order:
            poly = self.polygons[i]
            bx0, by0, bx1, by1 = poly.bbox
            c0 = max(0, math.floor((bx0 - x0) / sx - 0.5))
            c1 = min(w, math.ceil((bx1 - x0) / sx - 0.5) + 1)
            r0 = max(0, math.floor((by0 - y0) / sy - 0.5))
            r1 = min(h, math.ceil((by1 - y0) / sy - 0.5) + 1)
            if c1 <= c0 or r1 <= r0:
                continue
            sub = (r1 - r0, c1 - c0)
            inside = polygon2mask(sub, to_rc(poly.exterior, c0, r0))
            for hole in poly.holes:
                inside &= ~polygon2mask(sub, to_rc(hole, c0, r0))
            if not inside.any():
                continue
            window = owner[r0:r1, c0:c1]
            previous = np.unique(window[inside])
            for q in previous:
                q = int(q)
                if q < 0 or self.polygons[q].code == poly.code or self._inside(i, q):
                    continue
                clash = inside & (window == q)
                conflict[r0:r1, c0:c1] |= clash
            window[inside] = i
        codes = np.array([p.code for p in self.polygons] + [UNLABELLED], np.int16)
        out = codes[owner]  # owner -1 picks the trailing UNLABELLED
        out[conflict] = CONFLICT
        return out

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "polygons": len(self.polygons), **self.decode}


def _positions(ring: object, path: Path, where: str) -> np.ndarray:
    if not isinstance(ring, list) or len(ring) < 3:
        raise ReaderError(path, f"{where}: a ring must be a list of at least 3 [x, y] positions")
    try:
        arr = np.array([[float(p[0]), float(p[1])] for p in ring], np.float64)
    except (TypeError, ValueError, IndexError, KeyError):
        raise ReaderError(path, f"{where}: a ring position is not a pair of numbers") from None
    if not np.isfinite(arr).all():
        raise ReaderError(path, f"{where}: a ring position is not a finite number")
    if len(arr) > 1 and np.array_equal(arr[0], arr[-1]):
        arr = arr[:-1]
    if len(arr) < 3:
        raise ReaderError(path, f"{where}: a ring needs at least 3 distinct positions")
    return arr


def _class_name(feature: dict[str, Any]) -> str | None:
    props = feature.get("properties")
    if not isinstance(props, dict):
        return None
    cls = props.get("classification")
    if isinstance(cls, dict):
        cls = cls.get("name")
    if isinstance(cls, str) and cls.strip():
        return cls.strip()
    return None


def _polygon_parts(geometry: Any, path: Path, where: str) -> tuple[list[Any], str | None]:
    """The polygons (each a list of rings) of a geometry, or ([], type) when it is not polygonal."""
    if not isinstance(geometry, dict) or "type" not in geometry:
        raise ReaderError(path, f"{where}: geometry is not a GeoJSON geometry object")
    kind = geometry["type"]
    coords = geometry.get("coordinates")
    if kind == "Polygon":
        if not isinstance(coords, list) or not coords:
            raise ReaderError(path, f"{where}: Polygon coordinates must be a non-empty list of rings")
        return [coords], None
    if kind == "MultiPolygon":
        if not isinstance(coords, list) or not all(isinstance(p, list) and p for p in coords):
            raise ReaderError(path, f"{where}: MultiPolygon coordinates must be a list of polygons")
        return list(coords), None
    if kind == "GeometryCollection":
        parts: list[Any] = []
        for j, g in enumerate(geometry.get("geometries") or []):
            sub, _ = _polygon_parts(g, path, f"{where} geometry {j}")
            parts.extend(sub)
        return parts, None
    return [], str(kind)


def read_geojson(
    path: str | Path, data: bytes | None = None, *, slide_size: tuple[int, int] | None = None
) -> PolygonAnnotation:
    """Parse a QuPath-style GeoJSON export; with `slide_size` (w, h) every vertex must lie on the
    slide (within BOUNDS_TOLERANCE pixels)."""
    path = Path(path)
    data = input_bytes(path, data, "annotation file")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ReaderError(path, f"GeoJSON is not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ReaderError(path, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise ReaderError(path, "FeatureCollection has no 'features' list")
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    elif isinstance(doc, list):
        features = doc
    else:
        raise ReaderError(path, "expected a GeoJSON FeatureCollection, a Feature or a list of Features")
    names: dict[str, int] = {}
    raw: list[tuple[str, int, np.ndarray, tuple[np.ndarray, ...], Any]] = []
    ignored: dict[str, int] = {}
    for i, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.get("type", "Feature") != "Feature":
            raise ReaderError(path, f"feature {i} is not a GeoJSON Feature object")
        name = _class_name(feature)
        geometry = feature.get("geometry")
        if geometry is None:
            ignored["no geometry"] = ignored.get("no geometry", 0) + 1
            continue
        where = f"feature {i}" + (f" ({name})" if name else "")
        parts, other = _polygon_parts(geometry, path, where)
        if other is not None:
            ignored[f"{other} geometry"] = ignored.get(f"{other} geometry", 0) + 1
            continue
        if name is None:
            ignored["unclassified"] = ignored.get("unclassified", 0) + 1
            continue
        for j, rings in enumerate(parts):
            if not isinstance(rings, list) or not rings:
                raise ReaderError(path, f"{where} polygon {j}: no rings")
            exterior = _positions(rings[0], path, f"{where} polygon {j}")
            holes = tuple(_positions(r, path, f"{where} polygon {j} hole {k}") for k, r in enumerate(rings[1:], 1))
            if slide_size is not None:
                w, h = slide_size
                for ring in (exterior, *holes):
                    bad = (ring[:, 0] < -BOUNDS_TOLERANCE) | (ring[:, 0] > w + BOUNDS_TOLERANCE)
                    bad |= (ring[:, 1] < -BOUNDS_TOLERANCE) | (ring[:, 1] > h + BOUNDS_TOLERANCE)
                    if bad.any():
                        x, y = ring[int(np.argmax(bad))]
                        raise ReaderError(
                            path,
                            f"{where} has a vertex at ({x:g}, {y:g}), outside the slide's {w} x {h} pixels: the "
                            "annotation is not of this slide or not in level-0 pixel coordinates",
                        )
            shape = _valid_polygon(exterior, holes, path, f"{where} polygon {j}")
            names.setdefault(name, 0)
            raw.append((name, i, exterior, holes, shape))
    codes = {name: k for k, name in enumerate(sorted(names), start=1)}
    polygons = []
    for name, i, exterior, holes, shape in raw:
        polygons.append(Polygon(codes[name], i, exterior, holes, shape))
    decode = {
        "format": "GeoJSON",
        "features": len(features),
        "classes": sorted(codes),
        "ignored_features": dict(sorted(ignored.items())),
        "overlaps": "nested polygon wins; overlaps of different classes without nesting are conflicts",
    }
    return PolygonAnnotation(polygons, {k: name for name, k in codes.items()}, decode)
