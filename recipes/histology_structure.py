"""Which of two markers lies in a named tissue structure, on an H&E tile with class annotations.

Config `histology_structure`. Inputs: a whole-slide image or a plain tile, plus its tissue-class
annotation: an RGB-coded label mask (the skin cancer set: `Images/x.tif` + `Masks/x.png`,
palette named by the manifest's `mask_palette`), an integer-coded label mask (BCSS, codes from
the manifest's [label_map]) or a QuPath GeoJSON export (`x.geojson` beside `x.svs`/`x.tif`).

How an example is made:

1. Resolution: the slide's microns per pixel come from a per-file `mpp` value (labels.csv or a
   metadata table), else the file itself (OpenSlide properties, TIFF resolution tags, an `MPP-`
   token in the name), else the recipe parameter `mpp`. Without any, the item is skipped
   (`no_mpp`): a wrong guess would change what the tile shows.
2. Tissue: Otsu on saturation of a low-resolution overview (OVERVIEW_MPP um/px; see
   medblink_build/readers/tissue.py).
3. Tile: TILE_SIZE x TILE_SIZE pixels at TILE_MPP um/px (10x-equivalent: tissue compartments and
   their cells are both visible; 512 um across), or at the image's own resolution when that is
   coarser (never upsampled); smaller images give a smaller tile down to MIN_TILE_SIZE. Candidate
   tiles on a grid (stride a quarter tile) are pre-screened on the overview for two classes with
   clean interior on tissue, then tried in a seeded order at full tile resolution.
4. Markers: two classes present in the tile are drawn (seeded), and one marker centre is drawn in
   each class where the Euclidean distance transform of that class (distance to the nearest pixel
   of any other class, unannotated or conflicting pixel) is at least MIN_BOUNDARY_PX tile pixels
   (32 um at TILE_MPP): the whole marker disc (MARKER_RADIUS px) and a rim around it lie inside
   the class, and the disc lies on tissue. Tiles without two such classes are skipped
   (`no_two_classes`).
5. Question: "Which marker lies in <structure>?" for one of the two classes (seeded). Letters
   are drawn into the image: the recipe gives the markers with provisional letters
   (`bound_markers`) and the writer letters and draws them to its plan, so A/B are balanced.

Replay: the row image is `replay(transforms, region)`, where `region` is the level region named
in `provenance.details.region` (level, origin, size read) and the transforms are the resample to
the tile (Lanczos) and the marker drawing.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from medblink_build.encode import png_bytes
from medblink_build.errors import SkipItem
from medblink_build.model import Example, SourceItem
from medblink_build.questions import Question
from medblink_build.readers.annotations import (
    Annotation,
)
from medblink_build.readers.tissue import slide_tissue
from medblink_build.readers.wsi import Slide, open_slide, read_plan, region_provenance
from medblink_build.recipe import ItemContext, Param, Recipe, TaskInfo
from medblink_build.subject import Accepts
from medblink_build.tasks.markers import Marker, bound_markers, marker_radius, slot
from medblink_build.tasks.slide_inputs import open_annotation, resolve_mpp, slide_and_annotation
from medblink_build.tasks.tissue_classes import askable, structure_text
from medblink_build.tasks.tissue_tiles import PINNED_PLACEMENT, draw_tile_markers, pinned_class_markers, screen_tiles
from medblink_build.transforms import Transform, apply

TASK = "histology_structure"
#: Microns per pixel of the output tile (10x-equivalent).
TILE_MPP = 1.0
#: Output tile side in pixels (so 512 um of tissue at TILE_MPP).
TILE_SIZE = 512
#: Images smaller than this (pixels at the tile resolution) on either side are skipped.
MIN_TILE_SIZE = 256
#: Marker disc radius in tile pixels (the toolkit's default for a 512-pixel image).
MARKER_RADIUS = marker_radius((TILE_SIZE, TILE_SIZE))
#: Minimum distance of a marker centre from any other class, in tile pixels (32 um at TILE_MPP).
MIN_BOUNDARY_PX = 32
#: Minimum distance between the two marker centres, in tile pixels.
MIN_SEPARATION_PX = 3 * MARKER_RADIUS
#: (boundary distance, marker radius, separation) in tile pixels, as the tile helpers take them.
MARKER_RULES = (MIN_BOUNDARY_PX, MARKER_RADIUS, MIN_SEPARATION_PX)
#: The parameters a pinned release gives together (recorded in provenance for every row).
#: Resolution of the overview used for tissue detection and tile screening.
OVERVIEW_MPP = 8.0
OVERVIEW_MAX_SIDE = 1024
#: Candidate tiles tried at full resolution before giving up on an image.
MAX_TILE_TRIES = 12

QUESTION = "This is an H&E-stained histology image with two lettered markers. Which marker lies in {structure}?"
CHOICES = ("Marker A", "Marker B")


def target_letter_index(rng: np.random.Generator) -> int:
    """Which letter (0 = A, 1 = B) the asked structure's marker gets: uniform, seeded."""
    return int(rng.integers(2))


class HistologyStructure(Recipe):
    name = "histology-structure"
    version = "1.1.0"  # 1.1.0: shapely-validated polygons; histology only (metadata modality checked)
    params: ClassVar[dict[str, Param]] = {
        "mpp": Param(float, None, "microns per pixel for slides that record none (else skipped: no_mpp)")
    }
    description = (
        f"A {TILE_SIZE} x {TILE_SIZE} px tile at {TILE_MPP:g} um/px (or the image's own, coarser resolution) is read "
        "from a slide or tile with tissue-class annotations (label mask or GeoJSON polygons). Two classes present in "
        f"the tile are chosen and a lettered marker is placed in each, at least {MIN_BOUNDARY_PX} px "
        f"({MIN_BOUNDARY_PX * TILE_MPP:g} um) from any other class by a distance transform and on tissue (Otsu on "
        "saturation of a low-resolution overview). The label is the annotated class under each marker centre; the "
        "question names one of the two classes and the answer is the letter of the marker inside it (which marker "
        "gets which letter follows the writer's balanced plan). Slides without a known resolution and tiles without "
        "two cleanly separated "
        "classes are skipped with a reason."
    )
    tasks = (
        TaskInfo(
            TASK,
            "histology",
            "skin, breast (per source)",
            "Tissue structure under a marker in an H&E tile, from pathologists' class annotations.",
            QUESTION.format(structure="<structure>"),
        ),
    )
    sample_sources = ("medblink-sample-histology",)
    release_notes = {  # noqa: RUF012 - read-only class data, as on every recipe
        "1.1.0": "GeoJSON polygons are validated with shapely: an invalid one (bow-tie ring, hole crossing its "
        "shell) makes the item a recorded skip instead of label truth; the sample slides' stroma hole now lies "
        "inside its shell.",
    }
    #: Slides and tiles; the tissue classes come from the annotation, so no human anatomy is assumed.
    accepts = Accepts({"histology"}, human=False)

    # --- inputs ----------------------------------------------------------------------------

    # --- the example -----------------------------------------------------------------------

    def build(self, item: SourceItem, ctx: ItemContext) -> Example:
        image_i, note_i = slide_and_annotation(item)
        ctx.record(image_i)
        _, note_bytes = ctx.read_bytes(note_i)
        with open_slide(item.path(image_i)) as slide:
            resolve_mpp(item, ctx.params, slide)
            annotation = open_annotation(item, note_i, note_bytes, slide)
            return self._build(item, ctx, slide, annotation, image_i, note_i)

    def _build(
        self, item: SourceItem, ctx: ItemContext, slide: Slide, annotation: Annotation, image_i: int, note_i: int
    ) -> Example:
        assert slide.mpp is not None
        mpp_x, mpp_y = slide.mpp
        tile_mpp = max(TILE_MPP, mpp_x, mpp_y)
        w0, h0 = slide.dimensions
        tw = min(TILE_SIZE, math.floor(w0 * mpp_x / tile_mpp + 1e-6))
        th = min(TILE_SIZE, math.floor(h0 * mpp_y / tile_mpp + 1e-6))
        if min(tw, th) < MIN_TILE_SIZE:
            raise SkipItem(
                "too_small", f"{item.files[image_i]}: {tw} x {th} px at {tile_mpp:g} um/px, under {MIN_TILE_SIZE}"
            )
        asked = {code: name for code, name in annotation.classes.items() if askable(name)}
        if len(asked) < 2:
            raise SkipItem("no_two_classes", f"{item.files[note_i]}: annotates {len(asked)} tissue class(es)")

        tissue, _overview = slide_tissue(slide, OVERVIEW_MPP / min(mpp_x, mpp_y), OVERVIEW_MAX_SIDE)
        extent = (tw * tile_mpp / mpp_x, th * tile_mpp / mpp_y)  # tile size in level-0 pixels
        scale = tile_mpp / min(mpp_x, mpp_y)  # level-0 pixels per tile pixel
        origins, present = screen_tiles(annotation, tissue, asked, (w0, h0), extent, scale, *MARKER_RULES[:2])
        rng = ctx.rng(TASK)
        if any(name in ctx.pinned for name in PINNED_PLACEMENT):  # a pinned release: its tile, markers, question
            x0, y0, plan, target, other, letter_index = pinned_class_markers(
                ctx.pinned, slide, annotation, tissue, asked, (tw, th), tile_mpp, *MARKER_RULES
            )
        else:
            drawn = draw_tile_markers(
                rng, slide, annotation, tissue, asked, origins, (tw, th), tile_mpp, MAX_TILE_TRIES, *MARKER_RULES
            )
            if drawn is None:
                raise SkipItem(
                    "no_two_classes",
                    f"{item.files[note_i]}: no {tw} x {th} px tile at {tile_mpp:g} um/px holds two annotated tissue "
                    f"classes with room for a marker {MIN_BOUNDARY_PX} px from any boundary ({len(origins)} candidate "
                    f"tiles; classes annotated: {', '.join(present) or 'none'})",
                )
            x0, y0, plan, target, other = drawn
            letter_index = target_letter_index(rng)
        letters = ("A", "B") if letter_index == 0 else ("B", "A")
        placed = sorted(zip(letters, (target, other), strict=True))  # A first
        ctx.chosen["tile_origin"] = [int(x0), int(y0)]
        ctx.chosen["markers"] = [{"x": int(p[0]), "y": int(p[1]), "letter": letter} for letter, (_, p, _) in placed]
        ctx.chosen["asked"] = annotation.classes[target[0]]
        markers = [Marker(float(p[0]), float(p[1]), letter) for letter, (_, p, _) in placed]

        region = read_plan(slide, plan)
        transforms: list[Transform] = []
        resize = plan.resize()
        if resize is not None:
            transforms.append(resize)
        pixels = region  # the writer draws the markers, with the letters of its balanced plan
        for t in transforms:
            pixels = apply(t, pixels)

        target_name = annotation.classes[target[0]]
        region_info = region_provenance(slide, plan, tile_mpp)
        effective = region_info["effective_mpp"]
        marker_info = [
            {
                "letter": letter,
                "x": int(p[0]),
                "y": int(p[1]),
                "class": annotation.classes[code],
                "class_text": structure_text(annotation.classes[code]),
                "boundary_distance_px": round(float(d), 2),
            }
            for letter, (code, p, d) in placed
        ]
        answer_letter = letters[0]
        annotation_file = item.files[note_i]
        return Example(
            task=TASK,
            key=item.key,
            images=[png_bytes(pixels)],
            question=Question(
                QUESTION.format(structure=structure_text(target_name)),
                CHOICES,
                letter_index,
                shuffle=False,
                bound=bound_markers(markers, MARKER_RADIUS),
            ),
            label={
                "structure": target_name,
                "structure_text": structure_text(target_name),
                "answer_marker": answer_letter,
                "markers": marker_info,
                "tile_size": [tw, th],
                "tile_mpp": effective,
                "tile_box_level0": list(plan.box_level0),
                "min_boundary_distance_px": MIN_BOUNDARY_PX,
                "min_boundary_distance_um": round(MIN_BOUNDARY_PX * tile_mpp, 3),
                "annotation_file": annotation_file,
                "annotation_kind": annotation.kind,
            },
            inputs=list(ctx.inputs),
            transforms=[t.to_json() for t in transforms],
            derivation=(
                f"The {annotation.kind} '{annotation_file}' sampled on the tile's pixel grid (nearest, at pixel "
                f"centres) gives class '{annotation.classes[target[0]]}' under marker {slot(answer_letter)} and "
                f"'{annotation.classes[other[0]]}' under marker {slot(letters[1])}; each marker centre is at least "
                f"{MIN_BOUNDARY_PX} px ({MIN_BOUNDARY_PX * tile_mpp:g} um) from any other class or unannotated pixel "
                f"(distance transform) and its disc lies on tissue. The asked structure is "
                f"'{target_name}', so the answer is marker {slot(answer_letter)}."
            ),
            details={
                "slide": slide.describe(),
                "region": region_info,
                "tissue": tissue.describe(),
                "annotation": annotation.describe(),
                "candidate_tiles": len(origins),
            },
            modality="histology",
            anatomy=item.metadata.get("anatomy", ""),
        )
