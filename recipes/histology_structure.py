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
   are drawn into the image, so the choices keep their order (`Question(shuffle=False)`) and the
   seeded generator decides which marker gets A, making the correct letter uniform over A/B.

Replay: the row image is `replay(transforms, region)`, where `region` is the level region named
in `provenance.details.region` (level, origin, size read) and the transforms are the resample to
the tile (Lanczos) and the marker drawing.
"""

from __future__ import annotations

import json
import math
from itertools import combinations
from pathlib import PurePosixPath
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.morphology import disk

from medblink_build.encode import png_bytes
from medblink_build.errors import RecipeError, SkipItem
from medblink_build.markers import Marker, draw_markers, fits, marker_radius, sample_positions
from medblink_build.model import Example, SourceItem
from medblink_build.questions import Question
from medblink_build.readers.annotations import (
    GEOJSON_SUFFIXES,
    MASK_SUFFIXES,
    Annotation,
    read_geojson,
    read_label_mask,
)
from medblink_build.readers.tissue import slide_tissue
from medblink_build.readers.wsi import WSI_SUFFIXES, Slide, open_slide, plan_region, read_plan, region_provenance
from medblink_build.recipe import ItemContext, Recipe, TaskInfo
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
#: The parameters a pinned release gives together (recorded in provenance for every row).
PLACEMENT = ("tile_origin", "markers", "asked")
#: Resolution of the overview used for tissue detection and tile screening.
OVERVIEW_MPP = 8.0
OVERVIEW_MAX_SIDE = 1024
#: Candidate tiles tried at full resolution before giving up on an image.
MAX_TILE_TRIES = 12

#: Class names (lower case) that are not tissue structures: never asked about, but still
#: boundaries that markers keep their distance from.
NOT_ASKED = frozenset(
    {
        "bkg",
        "background",
        "outside_roi",
        "exclude",
        "undetermined",
        "other",
        "ignore",
        "ignore*",
        "region*",
        "unknown",
        "unlabelled",
        "unlabeled",
    }
)

#: How the question names a class (keys: class names in lower case). Others are named by their
#: own name with underscores as spaces.
STRUCTURE_NAMES: dict[str, str] = {
    # skin cancer set (Thomas et al. 2021) palette codes
    "epi": "the epidermis",
    "gld": "a gland",
    "inf": "an inflammatory infiltrate",
    "ret": "the reticular dermis",
    "fol": "a hair follicle",
    "pap": "the papillary dermis",
    "hyp": "the hypodermis (subcutaneous fat)",
    "ker": "keratin",
    "bcc": "basal cell carcinoma",
    "scc": "squamous cell carcinoma",
    "iec": "intraepidermal carcinoma",
    # BCSS codes (meta/gtruth_codes.tsv)
    "tumor": "tumor tissue",
    "stroma": "stroma",
    "lymphocytic_infiltrate": "a lymphocytic infiltrate",
    "necrosis_or_debris": "necrosis or debris",
    "glandular_secretions": "glandular secretions",
    "blood": "blood",
    "metaplasia_nos": "metaplasia",
    "fat": "fat (adipose tissue)",
    "plasma_cells": "plasma cells",
    "other_immune_infiltrate": "an immune infiltrate other than lymphocytes",
    "mucoid_material": "mucoid material",
    "normal_acinus_or_duct": "a normal acinus or duct",
    "lymphatics": "a lymphatic vessel",
    "nerve": "a nerve",
    "skin_adnexa": "skin adnexa",
    "blood_vessel": "a blood vessel",
    "angioinvasion": "angioinvasion",
    "dcis": "ductal carcinoma in situ",
    # common QuPath class names
    "tumour": "tumor tissue",
    "immune cells": "immune cells",
    "necrosis": "necrosis",
    "epidermis": "the epidermis",
    "dermis": "the dermis",
}

QUESTION = "This is an H&E-stained histology image with two lettered markers. Which marker lies in {structure}?"
CHOICES = ("Marker A", "Marker B")


def structure_text(name: str) -> str:
    return STRUCTURE_NAMES.get(name.strip().lower(), name.strip().replace("_", " ").lower())


def askable(name: str) -> bool:
    return name.strip().lower() not in NOT_ASKED


def target_letter_index(rng: np.random.Generator) -> int:
    """Which letter (0 = A, 1 = B) the asked structure's marker gets: uniform, seeded."""
    return int(rng.integers(2))


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


class HistologyStructure(Recipe):
    name = "histology-structure"
    version = "1.0.0"
    description = (
        f"A {TILE_SIZE} x {TILE_SIZE} px tile at {TILE_MPP:g} um/px (or the image's own, coarser resolution) is read "
        "from a slide or tile with tissue-class annotations (label mask or GeoJSON polygons). Two classes present in "
        f"the tile are chosen and a lettered marker is placed in each, at least {MIN_BOUNDARY_PX} px "
        f"({MIN_BOUNDARY_PX * TILE_MPP:g} um) from any other class by a distance transform and on tissue (Otsu on "
        "saturation of a low-resolution overview). The label is the annotated class under each marker centre; the "
        "question names one of the two classes and the answer is the letter of the marker inside it (which marker "
        "gets which letter is seeded). Slides without a known resolution and tiles without two cleanly separated "
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

    # --- inputs ----------------------------------------------------------------------------

    @staticmethod
    def _files(item: SourceItem) -> tuple[int, int]:
        """(image index, annotation index) among the item's files, or SkipItem."""
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

    @staticmethod
    def _mpp(item: SourceItem, ctx: ItemContext, slide: Slide) -> None:
        given = _positive_float(item.metadata.get("mpp"), f"{item.files[0]} (labels.csv / metadata)")
        if given is not None:
            slide.set_mpp(given, "labels table / metadata column mpp")
            return
        if slide.mpp is not None:
            return
        default = _positive_float(ctx.params.get("mpp"), "recipe parameter")
        if default is not None:
            slide.set_mpp(default, "recipe parameter mpp")
            return
        note = f" ({slide.mpp_note})" if slide.mpp_note else ""
        raise SkipItem(
            "no_mpp",
            f"{slide.path.name}: the slide records no microns per pixel{note}; give it as an `mpp` column in "
            "labels.csv (or, from Python, the recipe parameter mpp in BuildOptions.params) - it is not guessed",
        )

    @staticmethod
    def _annotation(item: SourceItem, index: int, data: bytes, slide: Slide) -> Annotation:
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

    # --- the example -----------------------------------------------------------------------

    def build(self, item: SourceItem, ctx: ItemContext) -> Example:
        image_i, note_i = self._files(item)
        ctx.record(image_i)
        _, note_bytes = ctx.read_bytes(note_i)
        with open_slide(item.path(image_i)) as slide:
            self._mpp(item, ctx, slide)
            annotation = self._annotation(item, note_i, note_bytes, slide)
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
        origins, present = self._screen(annotation, tissue, asked, (w0, h0), extent, tile_mpp / min(mpp_x, mpp_y))
        rng = ctx.rng(TASK)
        if any(name in ctx.pinned for name in PLACEMENT):  # a pinned release: its tile, markers, question
            x0, y0, plan, target, other, letter_index = self._pinned(
                ctx.pinned, slide, annotation, tissue, asked, (tw, th), tile_mpp
            )
        else:
            order = rng.permutation(len(origins))[:MAX_TILE_TRIES] if origins else []
            found = None
            for k in order:
                x0, y0 = origins[int(k)]
                plan = plan_region(slide, x0, y0, tw, th, tile_mpp)
                found = self._markers(rng, annotation, tissue, asked, plan.box_level0, (th, tw))
                if found is not None:
                    break
            if found is None:
                raise SkipItem(
                    "no_two_classes",
                    f"{item.files[note_i]}: no {tw} x {th} px tile at {tile_mpp:g} um/px holds two annotated tissue "
                    f"classes with room for a marker {MIN_BOUNDARY_PX} px from any boundary ({len(origins)} candidate "
                    f"tiles; classes annotated: {', '.join(present) or 'none'})",
                )
            (code_a, pa, da), (code_b, pb, db) = found
            asked_first = int(rng.integers(2)) == 0
            target, other = (
                ((code_a, pa, da), (code_b, pb, db)) if asked_first else ((code_b, pb, db), (code_a, pa, da))
            )
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
        transforms.append(draw_markers(markers, MARKER_RADIUS))
        pixels = region
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
            question=Question(QUESTION.format(structure=structure_text(target_name)), CHOICES, letter_index, False),
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
                f"centres) gives class '{annotation.classes[target[0]]}' under marker {answer_letter} and "
                f"'{annotation.classes[other[0]]}' under marker {letters[1]}; each marker centre is at least "
                f"{MIN_BOUNDARY_PX} px ({MIN_BOUNDARY_PX * tile_mpp:g} um) from any other class or unannotated pixel "
                f"(distance transform) and its disc lies on tissue. The asked structure is "
                f"'{target_name}', so the answer is marker {answer_letter}."
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

    # --- tile screening and marker placement ---------------------------------------------------

    @staticmethod
    def _screen(
        annotation: Annotation,
        tissue: Any,
        asked: dict[int, str],
        size: tuple[int, int],
        extent: tuple[float, float],
        level0_per_tile_px: float,
    ) -> tuple[list[tuple[int, int]], list[str]]:
        """Level-0 origins of grid tiles whose overview shows two asked classes with clean interior,
        and the names of the classes present on the overview."""
        mask = tissue.mask
        d = tissue.downsample
        oh, ow = mask.shape
        labels = annotation.sample((0.0, 0.0, ow * d, oh * d), (oh, ow))
        present = sorted(annotation.classes[int(c)] for c in np.unique(labels) if int(c) in annotation.classes)
        # Relaxed (0.75) on the coarse overview; the exact test is made at tile resolution.
        need = 0.75 * MIN_BOUNDARY_PX * level0_per_tile_px / d
        inset = (MARKER_RADIUS + 2) * level0_per_tile_px / d
        sums = {}
        radius = max(0, math.floor(need))
        structure = disk(radius) if radius else None
        for code in asked:
            inside = labels == code
            if not inside.any():
                continue
            # erosion by a disc = "distance to another class >= radius", in one byte per pixel
            clean = ndimage.binary_erosion(inside, structure, border_value=1) if radius else inside
            clean &= mask
            if clean.any():
                sums[code] = np.pad(clean.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        if len(sums) < 2:
            return [], present
        w0, h0 = size
        ew, eh = extent
        stride_x, stride_y = ew / 4, eh / 4
        xs = sorted({round(min(i * stride_x, w0 - ew)) for i in range(int((w0 - ew) // stride_x) + 2)})
        ys = sorted({round(min(j * stride_y, h0 - eh)) for j in range(int((h0 - eh) // stride_y) + 2)})
        origins = []
        for y0 in ys:
            r0 = max(0, min(oh, math.ceil((y0) / d + inset)))
            r1 = max(0, min(oh, math.floor((y0 + eh) / d - inset)))
            if r1 <= r0:
                continue
            for x0 in xs:
                c0 = max(0, min(ow, math.ceil(x0 / d + inset)))
                c1 = max(0, min(ow, math.floor((x0 + ew) / d - inset)))
                if c1 <= c0:
                    continue
                hits = sum(1 for s in sums.values() if s[r1, c1] - s[r0, c1] - s[r1, c0] + s[r0, c0] > 0)
                if hits >= 2:
                    origins.append((max(0, x0), max(0, y0)))
        return origins, present

    @staticmethod
    def _pinned(
        pin: dict[str, Any],
        slide: Slide,
        annotation: Annotation,
        tissue: Any,
        asked: dict[int, str],
        tile: tuple[int, int],
        tile_mpp: float,
    ) -> tuple[int, int, Any, tuple[int, np.ndarray, float], tuple[int, np.ndarray, float], int]:
        """The pinned tile origin, markers and asked class, checked like drawn ones: each marker
        well inside one asked class on tissue, exactly one of them in the asked class."""
        if set(PLACEMENT) - set(pin):
            raise RecipeError(
                f"pin {', '.join(PLACEMENT)} together (got {', '.join(sorted(set(PLACEMENT) & set(pin)))})"
            )
        (tw, th), (x0, y0) = tile, (int(v) for v in pin["tile_origin"])
        plan = plan_region(slide, x0, y0, tw, th, tile_mpp)
        allowed = HistologyStructure._allowed(annotation, tissue, asked, plan.box_level0, (th, tw))
        marks = sorted(pin["markers"], key=lambda m: m["letter"])
        pts = np.array([[int(m["x"]), int(m["y"])] for m in marks])
        if [m["letter"] for m in marks] != ["A", "B"]:
            raise RecipeError(f"pinned marker letters {[m['letter'] for m in marks]} are not A and B")
        if not fits(pts, MARKER_RADIUS, (th, tw), MIN_SEPARATION_PX):
            raise SkipItem("pinned_markers_do_not_fit", "pinned markers overlap each other or the tile border")
        placed = []
        for (x, y), m in zip(pts, marks, strict=True):
            code = next((c for c, (ok, _) in allowed.items() if ok[y, x]), None)
            if code is None:
                raise SkipItem("pinned_marker_unclear", f"marker {m['letter']} is not well inside one asked class")
            placed.append((code, np.array([x, y]), float(allowed[code][1][y, x])))
        hits = [i for i, (code, _, _) in enumerate(placed) if annotation.classes[code] == pin["asked"]]
        if len(hits) != 1:
            raise SkipItem("pinned_question_unclear", f"{len(hits)} pinned markers lie in {pin['asked']!r}")
        return x0, y0, plan, placed[hits[0]], placed[1 - hits[0]], hits[0]

    @staticmethod
    def _allowed(
        annotation: Annotation,
        tissue: Any,
        asked: dict[int, str],
        box: tuple[int, int, int, int],
        shape: tuple[int, int],
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per asked class in the tile: where a marker centre may sit, and the boundary distance."""
        th, tw = shape
        x0, y0, x1, y1 = box
        sx, sy = (x1 - x0) / tw, (y1 - y0) / th
        pad = MIN_BOUNDARY_PX + 1
        padded_box = (x0 - pad * sx, y0 - pad * sy, x1 + pad * sx, y1 + pad * sy)
        labels = annotation.sample(padded_box, (th + 2 * pad, tw + 2 * pad))
        on_tissue = tissue.sample(box, shape)
        tissue_ok = ndimage.distance_transform_edt(np.pad(on_tissue, 1))[1:-1, 1:-1] >= MARKER_RADIUS
        allowed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for code in sorted(asked):
            inside = labels == code
            if not inside[pad:-pad, pad:-pad].any():
                continue
            dist = ndimage.distance_transform_edt(inside)[pad:-pad, pad:-pad]
            ok = (dist >= MIN_BOUNDARY_PX) & tissue_ok
            if ok.any():
                allowed[code] = (ok, dist)
        return allowed

    @staticmethod
    def _markers(
        rng: np.random.Generator,
        annotation: Annotation,
        tissue: Any,
        asked: dict[int, str],
        box: tuple[int, int, int, int],
        shape: tuple[int, int],
    ) -> tuple[tuple[int, np.ndarray, float], tuple[int, np.ndarray, float]] | None:
        """Two (class code, (x, y), boundary distance) placements in the tile, or None."""
        allowed = HistologyStructure._allowed(annotation, tissue, asked, box, shape)
        if len(allowed) < 2:
            return None
        pairs = list(combinations(sorted(allowed), 2))
        a, b = pairs[int(rng.integers(len(pairs)))]
        for _ in range(20):
            pa = sample_positions(rng, allowed[a][0], 1, MARKER_RADIUS, 0.0)
            pb = sample_positions(rng, allowed[b][0], 1, MARKER_RADIUS, 0.0)
            if pa is None or pb is None:
                return None
            pts = np.concatenate([pa, pb])
            if fits(pts, MARKER_RADIUS, shape, MIN_SEPARATION_PX):
                pa_i, pb_i = pa[0].astype(int), pb[0].astype(int)
                return (
                    (a, pa_i, float(allowed[a][1][pa_i[1], pa_i[0]])),
                    (b, pb_i, float(allowed[b][1][pb_i[1], pb_i[0]])),
                )
        return None
