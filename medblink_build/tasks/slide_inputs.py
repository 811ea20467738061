"""A histology item's inputs: which file is the slide and which its annotation, its resolution, and
the annotation opened on the slide's grid. Format reading stays in readers/; this is the pairing."""

from __future__ import annotations

import json
import math
from pathlib import PurePosixPath
from typing import Any

from ..errors import RecipeError, SkipItem
from ..model import SourceItem
from ..readers.annotations import GEOJSON_SUFFIXES, MASK_SUFFIXES, Annotation, read_geojson, read_label_mask
from ..readers.wsi import WSI_SUFFIXES, Slide


def _positive_float(value: object, what: str) -> float | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        number = float(str(value))
    except ValueError:
        number = float("nan")
    if not (math.isfinite(number) and number > 0):
        raise RecipeError(f"{what}: mpp {value!r} is not a positive number of microns per pixel")
    return number


def slide_and_annotation(item: SourceItem) -> tuple[int, int]:
    """(image index, annotation index) among the item's files: a slide or tile and one label mask or
    GeoJSON beside it (either may be the primary file), or SkipItem naming what is missing or ambiguous."""
    suffixes = [PurePosixPath(f).suffix.lower() for f in item.files]
    if suffixes[0] in GEOJSON_SUFFIXES:
        images = [i for i in range(1, len(item.files)) if suffixes[i] in WSI_SUFFIXES]
        if not images:
            raise SkipItem("missing_image", f"{item.files[0]}: no slide or image with the same name beside it")
        if len(images) > 1:
            names = ", ".join(item.files[i] for i in images)
            raise SkipItem("ambiguous_image", f"{item.files[0]}: several images could be its slide: {names}")
        return images[0], 0
    if suffixes[0] not in WSI_SUFFIXES:
        raise SkipItem("not_an_image", f"{item.files[0]}: not a slide or image file")
    notes = [i for i in range(1, len(item.files)) if suffixes[i] in GEOJSON_SUFFIXES | MASK_SUFFIXES]
    if not notes:
        raise SkipItem("no_annotation", f"{item.files[0]}: no label mask or GeoJSON annotation found with it")
    if len(notes) > 1:
        names = ", ".join(item.files[i] for i in notes)
        raise SkipItem("ambiguous_annotation", f"{item.files[0]}: several annotations: {names}")
    return 0, notes[0]


def resolve_mpp(item: SourceItem, params: dict[str, Any], slide: Slide) -> None:
    """Set the slide's microns per pixel: a per-file `mpp` value, else the file's own, else the recipe
    parameter `mpp`; without any, SkipItem (`no_mpp`): a guess would change what the tile shows."""
    given = _positive_float(item.metadata.get("mpp"), f"{item.files[0]} (labels.csv / metadata)")
    if given is not None:
        slide.set_mpp(given, "labels table / metadata column mpp")
        return
    if slide.mpp is not None:
        return
    default = _positive_float(params.get("mpp"), "recipe parameter")
    if default is not None:
        slide.set_mpp(default, "recipe parameter mpp")
        return
    note = f" ({slide.mpp_note})" if slide.mpp_note else ""
    raise SkipItem(
        "no_mpp",
        f"{slide.path.name}: the slide records no microns per pixel{note}; give it as an `mpp` column in "
        "labels.csv, or pass --param mpp=VALUE - it is not guessed",
    )


def open_annotation(item: SourceItem, index: int, data: bytes, slide: Slide) -> Annotation:
    """The item's annotation file `index` on the slide's level-0 grid: GeoJSON, or a label mask named
    by the source's `mask_palette` or [label_map] (one of them is required to name its values)."""
    path = item.path(index)
    if path.suffix.lower() in GEOJSON_SUFFIXES:
        return read_geojson(path, data, slide_size=slide.dimensions)
    palette = item.metadata.get("mask_palette") or None
    codes = None
    if not palette and item.metadata.get("label_map"):
        try:
            codes = {int(k): str(v) for k, v in json.loads(item.metadata["label_map"]).items()}
        except (ValueError, TypeError, AttributeError) as exc:
            raise RecipeError(f"{item.files[index]}: label_map metadata is not a code table: {exc}") from exc
    if not palette and not codes:
        raise RecipeError(
            f"{item.files[index]}: the source defines neither a mask_palette nor a [label_map], so the mask's "
            "values cannot be named"
        )
    mask = read_label_mask(path, data, palette=palette, codes=codes)
    problem = mask.scale_to(slide.dimensions)
    if problem:
        raise SkipItem("mask_mismatch", f"{item.files[index]}: {problem}")
    return mask
