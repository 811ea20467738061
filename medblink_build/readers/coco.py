"""Instance annotations in COCO-style JSON: images, and per image its boxes / polygons with labels.

Format knowledge only: which instances an image has, where, and with which category values. What
to count (and what a category means) is a recipe's business.

Accepted: the COCO object detection layout (`images`, `annotations`, `categories`) and its
multi-label variants such as DENTEX, where each annotation carries `category_id_1`,
`category_id_2`, ... with matching `categories_1`, `categories_2`, ... lists. Boxes are COCO
`[x, y, width, height]` in pixels; polygons are flat `[x0, y0, x1, y1, ...]` lists. RLE masks are
not decoded: an annotation with only an RLE mask and no `bbox` is refused. A JSON array of
Labelbox rows (the Tufts Dental Database layout) is read by `readers/labelbox.py` into the same
types (`readers/instances.py`; `readers.read_instance_annotations` picks the format).

Annotations are indexed by the base name of each image's `file_name`, which is how a source's
image files are matched to them. Every problem is a ReaderError naming the JSON file and the entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ReaderError
from .instances import AnnotatedImage, Instance, InstanceAnnotations, base_name, is_number, polygon_bbox

#: Annotation fields holding a category id: `category_id`, `category_id_1`, `category_id_2`, ...
LABEL_FIELD = re.compile(r"category_id(_\d+)?")
#: Top-level category lists: `categories`, `categories_1`, ...
CATEGORY_SET = re.compile(r"categories(_\d+)?")


def _entry_id(value: Any) -> int | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, str)):
        return value
    return None


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
