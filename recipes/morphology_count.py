"""Morphology quantification: how many of a named structure are visible in an image?

Config `morphology_quantification`. Each image comes with instance annotations (boxes or polygons)
in an annotation file beside it (a manifest `companions` glob, e.g. DENTEX's
`../train_quadrant_enumeration.json`); the answer is the number of annotated instances of the
structure, after an explicit border and size rule. What is counted depends on the annotation
scheme, recognised from the file itself (DENTEX quadrant+enumeration, Tufts Universal numbering,
FDI category names, or a `count_category` in the item's metadata: see medblink_build/tasks/counting.py).

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

from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

from medblink_build.encode import png_bytes
from medblink_build.errors import ReaderError, SkipItem
from medblink_build.model import Example, SourceItem
from medblink_build.questions import Question
from medblink_build.readers.instances import AnnotatedImage, InstanceAnnotations
from medblink_build.recipe import ItemContext, Recipe, TaskInfo
from medblink_build.subject import Accepts
from medblink_build.tasks.counting import (
    DENTAL_IMAGE,
    N_CHOICES,
    WISDOM_TEETH,
    choose_rule,
    count_choices,
    parsed_annotations,
)
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

#: Marks the placeholder items `select` makes for annotation entries whose image is missing.
MISSING_IMAGE = "annotated_image_missing"

QUESTION = "How many {noun} are visible in this {image}?"


def _annotation_indices(item: SourceItem) -> list[int]:
    return [i for i, rel in enumerate(item.files) if i > 0 and rel.lower().endswith(".json")]


def _primary_name(item: SourceItem) -> str:
    return PurePosixPath(item.files[0]).name


class MorphologyCount(Recipe):
    name = "morphology-count"
    version = "1.1.0"  # 1.1.0: X-ray or histology of a human subject only (accepts)
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
    #: Dental radiographs (FDI / Universal tooth numbers are human), or histology with count_category.
    accepts = Accepts({"xray", "histology"}, human=True)

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
                annotations = parsed_annotations(str(path), path.read_bytes())
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
            annotations = parsed_annotations(str(path), data, ctx.inputs[-1].sha256)
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
