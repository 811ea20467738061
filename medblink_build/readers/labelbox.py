"""Labelbox export rows (a JSON array), the layout of the Tufts Dental Database annotation files.

Facts [3P, one third-party converter, unverified against a downloaded copy]: each row has
`External ID` (the image file name) and `Label.objects`, a list of objects with a `title` (the
tooth name) and a `bounding box` given as `[x_min, y_min, x_max, y_max]` (not COCO's width and
height); the polygon file gives a `polygon` instead, read here as a list of `[x, y]` pairs or
`{"x": .., "y": ..}` points. Rows become the same `InstanceAnnotations` as COCO files, with each
instance's label under the field `title` (a string).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ReaderError
from .instances import AnnotatedImage, Instance, InstanceAnnotations, base_name, is_number, polygon_bbox


def _points(path: str | Path, value: Any, where: str) -> tuple[tuple[float, float], ...]:
    points = []
    if isinstance(value, list):
        for p in value:
            if isinstance(p, Mapping) and is_number(p.get("x")) and is_number(p.get("y")):
                points.append((float(p["x"]), float(p["y"])))
            elif isinstance(p, list) and len(p) == 2 and all(is_number(v) for v in p):
                points.append((float(p[0]), float(p[1])))
            else:
                points = []
                break
    if len(points) < 3:
        raise ReaderError(path, f"{where}: polygon must be at least 3 points [x, y] or {{x, y}}")
    return tuple(points)


def parse_labelbox(path: str | Path, rows: Any) -> InstanceAnnotations:
    if not isinstance(rows, list):
        raise ReaderError(path, f"a Labelbox export must be a JSON array, got {type(rows).__name__}")
    images: dict[str, AnnotatedImage] = {}
    for k, row in enumerate(rows):
        where = f"row {k}"
        if not isinstance(row, Mapping):
            raise ReaderError(path, f"{where}: must be an object")
        if "External ID" not in row:
            raise ReaderError(path, f"{where}: missing key 'External ID' (the image file name)")
        name = base_name(path, row["External ID"], where)
        where = f"row {k} ({name})"
        if name in images:
            raise ReaderError(path, f"{where}: the image {name!r} has two rows")
        label = row.get("Label")
        if not isinstance(label, Mapping) or not isinstance(label.get("objects", []), list):
            raise ReaderError(path, f"{where}: 'Label' must be an object with an 'objects' list")
        instances = []
        for j, obj in enumerate(label.get("objects", [])):
            here = f"{where} object {j}"
            if not isinstance(obj, Mapping) or not isinstance(obj.get("title"), str):
                raise ReaderError(path, f"{here}: needs a string 'title'")
            polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
            if obj.get("polygon") is not None:
                polygons = (_points(path, obj["polygon"], here),)
            box = obj.get("bounding box")
            if box is not None:
                if not isinstance(box, list) or len(box) != 4 or not all(is_number(v) for v in box):
                    raise ReaderError(path, f"{here}: 'bounding box' must be 4 numbers [x_min, y_min, x_max, y_max]")
                x0, y0, x1, y1 = (float(v) for v in box)
                if x1 < x0 or y1 < y0:
                    raise ReaderError(path, f"{here}: 'bounding box' has x_max < x_min or y_max < y_min")
                bbox = (x0, y0, x1 - x0, y1 - y0)
            elif polygons:
                bbox = polygon_bbox(polygons)
            else:
                raise ReaderError(path, f"{here}: has neither 'bounding box' nor 'polygon'")
            instances.append(Instance(id=f"{k}.{j}", bbox=bbox, polygons=polygons, labels={"title": obj["title"]}))
        images[name] = AnnotatedImage(
            file_name=str(row["External ID"]), width=None, height=None, instances=tuple(instances)
        )
    return InstanceAnnotations(str(path), "labelbox", dict(sorted(images.items())), {})
