"""Instance annotations in COCO-style JSON: images, and per image its boxes / polygons with labels.

Format knowledge only: which instances an image has, where, and with which category values. What
to count (and what a category means) is a recipe's business.

Accepted: the COCO object detection layout (`images`, `annotations`, `categories`) and its
multi-label variants such as DENTEX, where each annotation carries `category_id_1`,
`category_id_2`, ... with matching `categories_1`, `categories_2`, ... lists. Boxes are COCO
`[x, y, width, height]` in pixels; polygons are flat `[x0, y0, x1, y1, ...]` lists. RLE masks are
not decoded: an annotation with only an RLE mask and no `bbox` is refused. A JSON array of
Labelbox rows (the Tufts Dental Database layout) is read by `readers/labelbox.py` into the same
types (see `read_instance_annotations`).

Annotations are indexed by the base name of each image's `file_name`, which is how a source's
image files are matched to them. Every problem is a ReaderError naming the JSON file and the entry.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ReaderError

#: Annotation fields holding a category id: `category_id`, `category_id_1`, `category_id_2`, ...
LABEL_FIELD = re.compile(r"category_id(_\d+)?")
#: Top-level category lists: `categories`, `categories_1`, ...
CATEGORY_SET = re.compile(r"categories(_\d+)?")


@dataclass(frozen=True)
class Instance:
    """One annotated instance: its box, optional polygons, and its label values."""

    id: str
    bbox: tuple[float, float, float, float]  # x, y, width, height in image pixels (COCO convention)
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    labels: Mapping[str, int | str] = field(default_factory=dict)  # e.g. {"category_id_2": 7}
    iscrowd: bool = False

    @property
    def box_area(self) -> float:
        return self.bbox[2] * self.bbox[3]

    def inside_fraction(self, width: int, height: int) -> float:
        """The fraction of the box's area that lies inside a `width` x `height` image (0 for empty boxes)."""
        x, y, w, h = self.bbox
        if w <= 0 or h <= 0:
            return 0.0
        ix = max(0.0, min(x + w, width) - max(x, 0.0))
        iy = max(0.0, min(y + h, height) - max(y, 0.0))
        return (ix * iy) / (w * h)

    def visible_box_area(self, width: int, height: int) -> float:
        """Area of the part of the box inside the image, in image pixels."""
        return self.inside_fraction(width, height) * self.box_area


@dataclass(frozen=True)
class AnnotatedImage:
    """One image entry and the instances annotated on it."""

    file_name: str  # as written in the annotation file
    width: int | None
    height: int | None
    instances: tuple[Instance, ...]


@dataclass(frozen=True)
class InstanceAnnotations:
    """A parsed annotation file: images by base file name, and the category names per label field."""

    path: str
    format: str  # "coco" or "labelbox"
    images: Mapping[str, AnnotatedImage]  # base file name -> entry
    categories: Mapping[str, Mapping[int, str]] = field(default_factory=dict)  # label field -> id -> name

    def find(self, file_name: str) -> AnnotatedImage | None:
        """The entry for an image file name (its base name; case-insensitive if that is unambiguous)."""
        name = PurePosixPath(file_name.replace("\\", "/")).name
        entry = self.images.get(name)
        if entry is not None:
            return entry
        folded = [v for k, v in self.images.items() if k.casefold() == name.casefold()]
        return folded[0] if len(folded) == 1 else None

    def label_fields(self) -> tuple[str, ...]:
        """Every label field used by at least one instance, sorted."""
        return tuple(sorted({k for image in self.images.values() for i in image.instances for k in i.labels}))

    def category_name(self, label_field: str, value: int | str) -> str | None:
        if isinstance(value, str):
            return value
        return self.categories.get(label_field, {}).get(value)


# --- parsing ----------------------------------------------------------------------------------


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def load_json(path: str | Path, data: bytes) -> Any:
    """Parse JSON bytes as data (UTF-8, no NaN/Infinity), or raise ReaderError naming the file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReaderError(path, f"not UTF-8 text: {exc}") from exc
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ReaderError(path, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except (ValueError, RecursionError) as exc:
        raise ReaderError(path, f"not valid JSON: {exc}") from exc


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _entry_id(value: Any) -> int | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, str)):
        return value
    return None


def base_name(path: str | Path, file_name: Any, where: str) -> str:
    if not isinstance(file_name, str) or not file_name.strip():
        raise ReaderError(path, f"{where}: file_name must be a non-empty string, got {file_name!r}")
    name = PurePosixPath(file_name.replace("\\", "/")).name
    if not name or name in (".", ".."):
        raise ReaderError(path, f"{where}: file_name {file_name!r} names no file")
    return name


def _size(path: str | Path, entry: Mapping[str, Any], key: str, where: str) -> int | None:
    value = entry.get(key)
    if value is None:
        return None
    if not is_number(value) or value != int(value) or value <= 0:
        raise ReaderError(path, f"{where}: {key} must be a positive integer, got {value!r}")
    return int(value)


def parse_polygons(path: str | Path, segmentation: Any, where: str) -> tuple[tuple[tuple[float, float], ...], ...]:
    """COCO polygon segmentation (a list of flat coordinate lists) to point tuples; RLE gives ()."""
    if segmentation is None or isinstance(segmentation, Mapping):
        return ()  # absent, or an RLE mask (not decoded)
    if not isinstance(segmentation, list):
        raise ReaderError(path, f"{where}: segmentation must be a list of polygons or an RLE object")
    polygons = []
    for k, poly in enumerate(segmentation):
        if not isinstance(poly, list) or not all(is_number(v) for v in poly):
            raise ReaderError(path, f"{where}: segmentation[{k}] must be a flat list of numbers [x0, y0, x1, y1, ...]")
        if len(poly) % 2 or len(poly) < 6:
            raise ReaderError(
                path, f"{where}: segmentation[{k}] needs an even number of at least 6 coordinates, got {len(poly)}"
            )
        polygons.append(tuple((float(poly[i]), float(poly[i + 1])) for i in range(0, len(poly), 2)))
    return tuple(polygons)


def polygon_bbox(polygons: tuple[tuple[tuple[float, float], ...], ...]) -> tuple[float, float, float, float]:
    xs = [p[0] for poly in polygons for p in poly]
    ys = [p[1] for poly in polygons for p in poly]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def _bbox(path: str | Path, value: Any, where: str) -> tuple[float, float, float, float]:
    if not isinstance(value, list) or len(value) != 4 or not all(is_number(v) for v in value):
        raise ReaderError(path, f"{where}: bbox must be 4 numbers [x, y, width, height], got {value!r}")
    x, y, w, h = (float(v) for v in value)
    if w < 0 or h < 0:
        raise ReaderError(path, f"{where}: bbox width and height must be >= 0, got {value!r}")
    return x, y, w, h


def _categories(path: str | Path, doc: Mapping[str, Any]) -> dict[str, dict[int, str]]:
    found: dict[str, dict[int, str]] = {}
    for key in sorted(doc):
        match = CATEGORY_SET.fullmatch(key)
        if match is None:
            continue
        entries = doc[key]
        if not isinstance(entries, list):
            raise ReaderError(path, f"{key} must be a list of {{id, name}} objects")
        names: dict[int, str] = {}
        for k, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), int) or isinstance(entry["id"], bool):
                raise ReaderError(path, f"{key}[{k}]: needs an integer 'id'")
            if not isinstance(entry.get("name"), str):
                raise ReaderError(path, f"{key}[{k}]: needs a string 'name'")
            names[entry["id"]] = entry["name"]
        found["category_id" + (match.group(1) or "")] = names
    return found


def parse_coco(path: str | Path, doc: Any) -> InstanceAnnotations:
    """Validate and index a parsed COCO-style document."""
    if not isinstance(doc, Mapping):
        raise ReaderError(path, f"a COCO annotation file must hold a JSON object, got {type(doc).__name__}")
    for key in ("images", "annotations"):
        if key not in doc:
            raise ReaderError(path, f"missing key {key!r} (a COCO file has images, annotations and categories)")
        if not isinstance(doc[key], list):
            raise ReaderError(path, f"{key!r} must be a list, got {type(doc[key]).__name__}")
    categories = _categories(path, doc)

    by_id: dict[int | str, tuple[str, Mapping[str, Any]]] = {}
    names: dict[str, int | str] = {}
    for k, entry in enumerate(doc["images"]):
        where = f"images[{k}]"
        if not isinstance(entry, Mapping):
            raise ReaderError(path, f"{where}: must be an object")
        image_id = _entry_id(entry.get("id"))
        if image_id is None:
            raise ReaderError(path, f"{where}: missing or non-integer 'id'")
        if image_id in by_id:
            raise ReaderError(path, f"{where}: image id {image_id!r} appears twice")
        name = base_name(path, entry.get("file_name"), where)
        if name in names:
            raise ReaderError(path, f"{where}: two images are named {name!r} (ids {names[name]!r} and {image_id!r})")
        names[name] = image_id
        by_id[image_id] = (name, entry)

    instances: dict[int | str, list[Instance]] = {i: [] for i in by_id}
    for k, ann in enumerate(doc["annotations"]):
        where = f"annotations[{k}]"
        if not isinstance(ann, Mapping):
            raise ReaderError(path, f"{where}: must be an object")
        ann_id = _entry_id(ann.get("id"))
        where = f"annotations[{k}] (id {ann_id!r})" if ann_id is not None else where
        image_id = _entry_id(ann.get("image_id"))
        if image_id is None:
            raise ReaderError(path, f"{where}: missing or non-integer 'image_id'")
        if image_id not in by_id:
            raise ReaderError(path, f"{where}: refers to image id {image_id!r}, which is not in 'images'")
        polygons = parse_polygons(path, ann.get("segmentation"), where)
        if ann.get("bbox") is not None:
            bbox = _bbox(path, ann["bbox"], where)
        elif polygons:
            bbox = polygon_bbox(polygons)
        else:
            raise ReaderError(path, f"{where}: has no bbox and no polygon (RLE masks are not decoded)")
        labels: dict[str, int | str] = {}
        for key, value in ann.items():
            if LABEL_FIELD.fullmatch(key):
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ReaderError(path, f"{where}: {key} must be an integer, got {value!r}")
                labels[key] = value
        instances[image_id].append(
            Instance(
                id=str(ann_id if ann_id is not None else k),
                bbox=bbox,
                polygons=polygons,
                labels=labels,
                iscrowd=bool(ann.get("iscrowd", 0)),
            )
        )

    images = {
        name: AnnotatedImage(
            file_name=str(entry["file_name"]),
            width=_size(path, entry, "width", f"images[{name!r}]"),
            height=_size(path, entry, "height", f"images[{name!r}]"),
            instances=tuple(instances[image_id]),
        )
        for image_id, (name, entry) in by_id.items()
    }
    return InstanceAnnotations(str(path), "coco", dict(sorted(images.items())), categories)


def read_instance_annotations(path: str | Path, data: bytes) -> InstanceAnnotations:
    """Parse an instance annotation file: a COCO-style object, or a Labelbox array (Tufts)."""
    doc = load_json(path, data)
    if isinstance(doc, list):
        from .labelbox import parse_labelbox

        return parse_labelbox(path, doc)
    return parse_coco(path, doc)
