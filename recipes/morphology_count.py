"""Morphology quantification: how many of a named structure are visible in an image?

Config `morphology_quantification`. Each image comes with instance annotations (boxes or polygons)
in an annotation file beside it (a manifest `companions` glob, e.g. DENTEX's
`../train_quadrant_enumeration.json`); the answer is the number of annotated instances of the
structure, after an explicit border and size rule. What is counted depends on the annotation
scheme, recognised from the file itself:

- DENTEX (labels `category_id_1` = quadrant 0-3 -> FDI 1-4, `category_id_2` = tooth 0-7 -> 1-8):
  wisdom teeth, i.e. third molars, `category_id_2 == 7` (FDI 18/28/38/48). Only the
  quadrant+enumeration subset labels every tooth; a file whose annotations carry a diagnosis
  (`category_id_3`) labels only abnormal teeth and its images are skipped (`diagnosis_subset`).
- Tufts Dental Database (Labelbox rows, tooth `title` in Universal numbering 1-32, A-T primary):
  third molars are 1, 16, 17 and 32 [3P].
- COCO with one `category_id` whose category names are FDI tooth numbers: names 18, 28, 38, 48.
- Any COCO / Labelbox file, with the item metadata `count_category` (a category name or title,
  e.g. from labels.csv or a source.toml [defaults]) and optionally `count_noun` (plural, for the
  question): instances of that category, e.g. cells or glands. This rule wins when given.

Border and size rule, for the instances of the counted structure only (the image is not cropped,
so an instance is "cut" when its box reaches past the image edge):

- at least 50 % of its box area inside the image -> counted, provided the visible part of the
  box covers at least 64 pixels (8 x 8) in the shown (resized) image; a smaller one skips the
  item (`instance_too_small`): whether a reader would count it is unclear;
- less than 20 % inside -> outside the image, not counted;
- 20-50 % inside -> the item is skipped (`ambiguous_border_instance`).

Choices are 4 distinct consecutive non-negative counts containing the truth; the window's start
is drawn by the item's seeded generator among the windows that contain the truth (and, for
teeth, stay within 0-4 third molars). The choices are given with `shuffle=True`, so the writer
places the correct count at a letter planned per config (letters balanced exactly). Ascending
order was not chosen because it cannot be balanced: a count of 0 would always be choice A.

An annotation entry whose image file is not in the source is a recorded skip
(`image_missing`, naming the annotation file and the image), as is an image with no entry
(`not_annotated`) or an entry with no annotation at all (`no_annotations`: unlabelled, not
"zero teeth").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from medblink_build.encode import png_bytes
from medblink_build.errors import ReaderError, SkipItem
from medblink_build.hashing import sha256_bytes
from medblink_build.model import Example, SourceItem
from medblink_build.questions import Question
from medblink_build.readers.coco import AnnotatedImage, Instance, InstanceAnnotations, read_instance_annotations
from medblink_build.recipe import ItemContext, Recipe, TaskInfo
from medblink_build.transforms import Transform, apply, resize_to_fit

TASK = "morphology_quantification"

#: Output images are resized (Lanczos) so the longer side is at most this many pixels.
MAX_SIDE = 1024
#: An instance whose box lies at least this much inside the image is counted ...
COUNT_INSIDE_FRACTION = 0.5
#: ... one below this is outside the image (not counted); in between, the item is skipped.
OUTSIDE_FRACTION = 0.2
#: A counted instance's visible box must cover at least this many pixels of the shown image.
MIN_SHOWN_AREA_PX = 64
N_CHOICES = 4

#: Marks the placeholder items `select` makes for annotation entries whose image is missing.
MISSING_IMAGE = "annotated_image_missing"

QUESTION = "How many {noun} are visible in this {image}?"
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


# --- reading annotation files once per process --------------------------------------------------

_PARSED: OrderedDict[str, InstanceAnnotations] = OrderedDict()
_PARSED_MAX = 8


def _parsed(path: str, data: bytes, digest: str | None = None) -> InstanceAnnotations:
    key = digest or sha256_bytes(data)
    if key in _PARSED:
        _PARSED.move_to_end(key)
        return _PARSED[key]
    annotations = read_instance_annotations(path, data)
    _PARSED[key] = annotations
    while len(_PARSED) > _PARSED_MAX:
        _PARSED.popitem(last=False)
    return annotations


def _annotation_indices(item: SourceItem) -> list[int]:
    return [i for i, rel in enumerate(item.files) if i > 0 and rel.lower().endswith(".json")]


def _primary_name(item: SourceItem) -> str:
    return PurePosixPath(item.files[0]).name


class MorphologyCount(Recipe):
    name = "morphology-count"
    version = "1.0.0"
    description = (
        "Counts come from instance annotations (COCO-style JSON or Labelbox rows) beside each image. "
        "DENTEX quadrant+enumeration labels give wisdom teeth as category_id_2 == 7 (FDI 18/28/38/48); "
        "Tufts titles in Universal numbering give 1/16/17/32; FDI-named COCO categories give 18/28/38/48; "
        "a `count_category` in the item metadata counts any named category (cells, glands). Files whose "
        "annotations carry a diagnosis (DENTEX category_id_3) label only abnormal teeth and are skipped. "
        f"Border/size rule for the counted structure: an instance counts when at least "
        f"{COUNT_INSIDE_FRACTION:.0%} of its box lies inside the image and the visible box covers at least "
        f"{MIN_SHOWN_AREA_PX} px of the shown image (else the item is skipped: instance_too_small); under "
        f"{OUTSIDE_FRACTION:.0%} inside it is outside and not counted; between, the item is skipped "
        "(ambiguous_border_instance). Two instances with the same tooth name skip the item "
        f"(duplicate_label). Choices: {N_CHOICES} consecutive counts containing the truth (window start "
        "seeded per item, within 0-4 for third molars), placed by the writer's balanced letter plan. "
        f"Images are resized to at most {MAX_SIDE} px on the longer side. Annotation entries whose image "
        "file is missing, images without an entry and entries without annotations are skipped with a reason."
    )
    tasks = (
        TaskInfo(
            TASK,
            "X-ray",
            "dental",
            "Count the annotated instances of a named structure (e.g. wisdom teeth on a panoramic X-ray).",
            QUESTION.format(noun=WISDOM_TEETH, image=DENTAL_IMAGE),
        ),
    )
    sample_sources = ("medblink-sample-dental",)

    def select(self, items: Iterable[SourceItem]) -> Iterator[SourceItem]:
        """Every image, plus a placeholder item for each annotation entry whose image is missing.

        The placeholders only carry the annotation file; `build` turns each into a recorded skip,
        so a dangling annotation is reported by name instead of vanishing. Annotation files that
        cannot be read are left to `build`, which reports them per image.
        """
        items = list(items)
        present: dict[tuple[str, str], set[str]] = {}
        owners: dict[tuple[str, str], SourceItem] = {}
        for item in items:
            yield item
            for index in _annotation_indices(item):
                key = (str(item.root), item.files[index])
                present.setdefault(key, set()).add(_primary_name(item).casefold())
                owners.setdefault(key, item)
        for (root, rel), names in sorted(present.items()):
            owner = owners[(root, rel)]
            path = owner.root / rel
            try:
                annotations = _parsed(str(path), path.read_bytes())
            except (OSError, ReaderError):
                continue
            for name in annotations.images:
                if name.casefold() in names:
                    continue
                yield SourceItem(
                    key=f"{owner.source_id}/{rel}#{name}",
                    source_id=owner.source_id,
                    root=owner.root,
                    files=(rel,),
                    metadata={MISSING_IMAGE: name},
                )

    def build(self, item: SourceItem, ctx: ItemContext) -> Example:
        if MISSING_IMAGE in item.metadata:
            raise SkipItem(
                "image_missing",
                f"{item.files[0]} annotates image {item.metadata[MISSING_IMAGE]!r}, which is not among the "
                "source's images beside the other images it annotates",
            )
        indices = _annotation_indices(item)
        if not indices:
            raise SkipItem("no_annotation_file", f"{item.files[0]}: no annotation JSON found beside it")
        # First, so inputs[0] is the image as in every recipe; BurnedInAnnotation = YES is skipped there.
        image = ctx.read_image(0)
        found: list[tuple[str, InstanceAnnotations, AnnotatedImage]] = []
        for index in indices:
            path, data = ctx.read_bytes(index)
            annotations = _parsed(str(path), data, ctx.inputs[-1].sha256)
            entry = annotations.find(_primary_name(item))
            if entry is not None:
                found.append((item.files[index], annotations, entry))
        if not found:
            names = ", ".join(item.files[i] for i in indices)
            raise SkipItem("not_annotated", f"{item.files[0]} has no entry in {names}")
        if len(found) > 1:
            raise SkipItem("annotated_twice", f"{item.files[0]} has entries in {', '.join(f[0] for f in found)}")
        ann_rel, annotations, entry = found[0]
        if not entry.instances:
            raise SkipItem("no_annotations", f"{ann_rel}: the entry for {entry.file_name!r} has no annotations")
        rule = choose_rule(annotations, item.metadata, ann_rel)

        height, width = image.pixels.shape[:2]
        if entry.width is not None and entry.height is not None and (entry.width, entry.height) != (width, height):
            raise SkipItem(
                "annotation_size_mismatch",
                f"{ann_rel} gives {entry.width}x{entry.height} px for {entry.file_name!r}, "
                f"the image is {width}x{height}",
            )
        transforms: list[Transform] = []
        resize = resize_to_fit(image.pixels.shape, MAX_SIDE)
        scale = 1.0
        if resize is not None:
            transforms.append(resize)
            scale = resize.params["size"][0] / width

        counted: list[dict[str, object]] = []
        outside: list[dict[str, object]] = []
        seen: dict[str, str] = {}
        for instance in entry.instances:
            name = rule.name_of(instance)
            if name is None:
                continue
            if rule.unique_names:
                if name in seen:
                    raise SkipItem(
                        "duplicate_label",
                        f"{ann_rel}: {name} is annotated twice on {entry.file_name!r} "
                        f"(annotations {seen[name]} and {instance.id})",
                    )
                seen[name] = instance.id
            inside = instance.inside_fraction(width, height)
            record = {"name": name, "annotation": instance.id, "inside_fraction": round(inside, 4)}
            if inside < OUTSIDE_FRACTION:
                outside.append(record)
                continue
            if inside < COUNT_INSIDE_FRACTION:
                raise SkipItem(
                    "ambiguous_border_instance",
                    f"{ann_rel}: {name} (annotation {instance.id}) on {entry.file_name!r} has {inside:.0%} of its "
                    f"box inside the image, between {OUTSIDE_FRACTION:.0%} and {COUNT_INSIDE_FRACTION:.0%}",
                )
            shown = instance.visible_box_area(width, height) * scale * scale
            if shown < MIN_SHOWN_AREA_PX:
                raise SkipItem(
                    "instance_too_small",
                    f"{ann_rel}: {name} (annotation {instance.id}) on {entry.file_name!r} covers {shown:.1f} px "
                    f"of the shown image, below {MIN_SHOWN_AREA_PX}",
                )
            counted.append(record)
        truth = len(counted)

        pixels = image.pixels
        for t in transforms:
            pixels = apply(t, pixels)
        values, correct = count_choices(truth, ctx.rng(TASK), rule.max_count, ctx.pinned.get("count_window_start"))
        ctx.chosen["count_window_start"] = values[0]
        question = QUESTION.format(noun=rule.noun, image=rule.image)
        return Example(
            task=TASK,
            key=item.key,
            images=[png_bytes(pixels)],
            question=Question(question, tuple(str(v) for v in values), correct, shuffle=True),
            label={
                "count": truth,
                "structure": rule.structure,
                "scheme": rule.scheme,
                "counted": counted,
                "outside_not_counted": outside,
                "annotation_file": ann_rel,
                "rule": {
                    "count_if_inside_fraction_at_least": COUNT_INSIDE_FRACTION,
                    "outside_if_inside_fraction_below": OUTSIDE_FRACTION,
                    "min_shown_box_area_px": MIN_SHOWN_AREA_PX,
                },
            },
            inputs=list(ctx.inputs),
            transforms=[t.to_json() for t in transforms],
            derivation=(
                f"Counted the {rule.structure} instances annotated for this image in {ann_rel} ({rule.scheme}): "
                f"{truth} with at least {COUNT_INSIDE_FRACTION:.0%} of the box inside the image and at least "
                f"{MIN_SHOWN_AREA_PX} px shown, {len(outside)} outside the image not counted."
            ),
            details={
                "decode": image.decode,
                "annotations": {"file": ann_rel, "format": annotations.format, "instances": len(entry.instances)},
            },
            modality=item.metadata.get("modality") or "X-ray",
            anatomy=rule.anatomy or item.metadata.get("anatomy") or "dental",
        )
