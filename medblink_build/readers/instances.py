"""Instance annotations as the readers return them, whatever the file format (COCO, Labelbox).

The shared types and the JSON helpers of `coco.py` and `labelbox.py`, so neither format module
imports the other; `readers.read_instance_annotations` picks the format from the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ReaderError


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


def base_name(path: str | Path, file_name: Any, where: str) -> str:
    if not isinstance(file_name, str) or not file_name.strip():
        raise ReaderError(path, f"{where}: file_name must be a non-empty string, got {file_name!r}")
    name = PurePosixPath(file_name.replace("\\", "/")).name
    if not name or name in (".", ".."):
        raise ReaderError(path, f"{where}: file_name {file_name!r} names no file")
    return name


def polygon_bbox(polygons: tuple[tuple[tuple[float, float], ...], ...]) -> tuple[float, float, float, float]:
    xs = [p[0] for poly in polygons for p in poly]
    ys = [p[1] for poly in polygons for p in poly]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
