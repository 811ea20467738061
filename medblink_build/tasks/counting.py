"""What a counting question counts: the rule for an annotation scheme, and the lettered count choices.

What is counted depends on the annotation scheme, recognised from the file itself:

- DENTEX (labels `category_id_1` = quadrant 0-3 -> FDI 1-4, `category_id_2` = tooth 0-7 -> 1-8):
  wisdom teeth, i.e. third molars, `category_id_2 == 7` (FDI 18/28/38/48). Only the
  quadrant+enumeration subset labels every tooth; a file whose annotations carry a diagnosis
  (`category_id_3`) labels only abnormal teeth and its images are skipped (`diagnosis_subset`).
- Tufts Dental Database (Labelbox rows, tooth `title` in Universal numbering 1-32, A-T primary):
  third molars are 1, 16, 17 and 32.
- COCO with one `category_id` whose category names are FDI tooth numbers: names 18, 28, 38, 48.
- Any COCO / Labelbox file, with the item metadata `count_category` (a category name or title,
  e.g. from labels.csv or a source.toml [defaults]) and optionally `count_noun` (plural, for the
  question): instances of that category, e.g. cells or glands. This rule wins when given.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import SkipItem
from ..hashing import sha256_bytes
from ..readers import read_instance_annotations
from ..readers.instances import Instance, InstanceAnnotations

N_CHOICES = 4
DENTAL_IMAGE = "panoramic dental X-ray"
WISDOM_TEETH = "wisdom teeth (third molars)"

#: Universal-numbering third molars (Tufts titles) and FDI third molars (category names).
UNIVERSAL_THIRD_MOLARS = {"1": "upper right", "16": "upper left", "17": "lower left", "32": "lower right"}
FDI_THIRD_MOLARS = {"18", "28", "38", "48"}


@dataclass(frozen=True)
class CountRule:
    """What to count in one annotation file: a name for each counted instance, None for the rest."""

    scheme: str  # how the structure was recognised, in words
    structure: str  # singular, for the label
    noun: str  # plural, for the question
    image: str  # what the image is, for the question
    max_count: int | None  # an anatomical maximum, if any
    unique_names: bool  # may one name occur only once per image (teeth)?
    name_of: Callable[[Instance], str | None]
    anatomy: str | None = None


def _dentex_name(instance: Instance) -> str | None:
    quadrant, tooth = instance.labels.get("category_id_1"), instance.labels.get("category_id_2")
    if tooth == 7 and isinstance(quadrant, int) and 0 <= quadrant <= 3:
        return f"FDI {quadrant + 1}8"
    return None


def choose_rule(annotations: InstanceAnnotations, metadata: dict[str, str], where: str = "") -> CountRule:
    """The counting rule for an annotation file, or SkipItem when none applies.

    `where` names the file in skip details (the source-relative path; the parsed path otherwise).
    """
    where = where or annotations.path
    fields = set(annotations.label_fields())
    wanted = metadata.get("count_category", "").strip()
    if wanted:
        field = "title" if annotations.format == "labelbox" else metadata.get("count_field", "category_id")

        def by_category(instance: Instance) -> str | None:
            value = instance.labels.get(field)
            name = annotations.category_name(field, value) if value is not None else None
            return wanted if name is not None and name.casefold() == wanted.casefold() else None

        noun = metadata.get("count_noun", "").strip() or f"instances of '{wanted}'"
        return CountRule(
            f"instances whose {field} names the category '{wanted}' (metadata count_category)",
            wanted,
            noun,
            metadata.get("count_image", "").strip() or "image",
            None,
            False,
            by_category,
        )
    if "category_id_3" in fields:
        raise SkipItem(
            "diagnosis_subset",
            f"{where}: annotations carry a diagnosis (category_id_3), so only abnormal teeth are "
            "labelled; counts need the quadrant+enumeration subset",
        )
    if {"category_id_1", "category_id_2"} <= fields:
        return CountRule(
            "DENTEX quadrant+enumeration labels: category_id_2 == 7 (tooth 8) in quadrant category_id_1 + 1",
            "third molar",
            WISDOM_TEETH,
            DENTAL_IMAGE,
            4,
            True,
            _dentex_name,
            "dental",
        )
    if annotations.format == "labelbox" and "title" in fields:

        def universal(instance: Instance) -> str | None:
            title = str(instance.labels.get("title", "")).strip()
            return f"Universal {title}" if title in UNIVERSAL_THIRD_MOLARS else None

        return CountRule(
            "tooth titles in Universal numbering: third molars are 1, 16, 17 and 32",
            "third molar",
            WISDOM_TEETH,
            DENTAL_IMAGE,
            4,
            True,
            universal,
            "dental",
        )
    names = annotations.categories.get("category_id", {})
    if "category_id" in fields and FDI_THIRD_MOLARS & {n.strip() for n in names.values()}:

        def fdi(instance: Instance) -> str | None:
            value = instance.labels.get("category_id")
            name = names.get(value, "").strip() if isinstance(value, int) else ""
            return f"FDI {name}" if name in FDI_THIRD_MOLARS else None

        return CountRule(
            "category names are FDI tooth numbers: third molars are 18, 28, 38 and 48",
            "third molar",
            WISDOM_TEETH,
            DENTAL_IMAGE,
            4,
            True,
            fdi,
            "dental",
        )
    raise SkipItem(
        "no_count_rule",
        f"{where}: no known tooth scheme (label fields {sorted(fields) or 'none'}) and no "
        "count_category in the item's metadata",
    )


def count_choices(
    truth: int, rng: np.random.Generator, max_count: int | None = None, start: int | None = None
) -> tuple[tuple[int, ...], int]:
    """N_CHOICES consecutive non-negative counts containing `truth`, the window start drawn by `rng`.

    Returns (choices ascending, index of the truth). With `max_count`, windows stay within
    0..max_count when that range is wide enough and contains the truth. A pinned `start` (a
    release's `count_window_start` parameter) replaces the draw.
    """
    if truth < 0:
        raise ValueError(f"a count cannot be negative, got {truth}")
    low = max(0, truth - (N_CHOICES - 1))
    high = truth
    if max_count is not None and truth <= max_count and max_count + 1 >= N_CHOICES:
        high = min(high, max_count - (N_CHOICES - 1))
    if start is None:
        start = int(rng.integers(low, high + 1))
    elif not low <= start <= high:  # a pinned window must still hold the truth
        raise SkipItem("pinned_choices_miss_truth", f"count window from {start} does not hold the count")
    return tuple(range(start, start + N_CHOICES)), truth - start


_PARSED: OrderedDict[str, InstanceAnnotations] = OrderedDict()
_PARSED_MAX = 8


def parsed_annotations(path: str, data: bytes, digest: str | None = None) -> InstanceAnnotations:
    """The annotation file parsed once per process (keyed by its digest): every image of DENTEX
    shares one JSON file of thousands of entries."""
    key = digest or sha256_bytes(data)
    if key in _PARSED:
        _PARSED.move_to_end(key)
        return _PARSED[key]
    annotations = read_instance_annotations(path, data)
    _PARSED[key] = annotations
    while len(_PARSED) > _PARSED_MAX:
        _PARSED.popitem(last=False)
    return annotations
