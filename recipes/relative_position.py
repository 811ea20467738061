"""Relative position of two organs on an axial CT slice, as seen in the image.

Config `relative_position`. Inputs: a CT volume and either one binary mask per structure (the
TotalSegmentator layout: `<subject>/ct.nii.gz` + `<subject>/segmentations/<class>.nii.gz`) or one
label map whose values the source manifest names in `[label_map]` (AMOS, BTCV), or a DICOM SEG
(HCC-TACE-Seg): if any file of the item is a DICOM SEG, the first one gives the structures (segment
labels normalised and mapped by SEG_LABELS) and the CT is the DICOM series among the item's other
files that the SEG references (ReferencedSeriesSequence), read with the SEG frames mapped onto it;
an item without that series is skipped (`seg_reference_missing`).
Every reader returns volumes in LPS, so an axial slice is shown in the radiological convention
(anterior at the top, the patient's left on the image right) before the seeded view transform.

Candidates are (slice, structure A, structure B, axis) where both structures are one connected
component of at least MIN_AREA_MM2 on that slice and their extents along the axis are separated
by at least MIN_GAP_MM (so no overlap, and the relation holds for every pixel, not only the
centroids). One candidate is drawn with the item's seeded generator, a view transform is drawn
from VIEW_TRANSFORMS, and the answer is read from the structures' positions after that transform.
Subjects with no candidate are skipped (`no_clear_pair`); masks that do not match the CT grid are
skipped (`mask_mismatch`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np

from medblink_build.encode import png_bytes
from medblink_build.errors import SkipItem
from medblink_build.model import Example, SourceItem
from medblink_build.questions import Question
from medblink_build.readers import read_volume
from medblink_build.readers.dicom_seg import is_dicom_seg, read_dicom_seg, referenced_series_files
from medblink_build.readers.volume_dicom import group_series
from medblink_build.recipe import ItemContext, Recipe, TaskInfo
from medblink_build.subject import Accepts
from medblink_build.tasks.ct_windows import ct_window
from medblink_build.tasks.masks import SliceRegion, gap_mm, measure_slices
from medblink_build.transforms import Transform, apply, dihedral, dihedral_map_points
from medblink_build.volume import Volume

TASK = "relative_position"
MIN_AREA_MM2 = 150.0
MIN_GAP_MM = 10.0
WINDOW = "soft_tissue"
VIEW_TRANSFORMS = ("identity", "flip_h", "flip_v", "rot180")

#: Structures asked about (TotalSegmentator class names) and how the question names them.
STRUCTURES: dict[str, str] = {
    "liver": "liver",
    "spleen": "spleen",
    "kidney_left": "left kidney",
    "kidney_right": "right kidney",
    "stomach": "stomach",
    "aorta": "aorta",
    "inferior_vena_cava": "inferior vena cava",
    "gallbladder": "gallbladder",
    "pancreas": "pancreas",
    "urinary_bladder": "urinary bladder",
    "esophagus": "oesophagus",
    "duodenum": "duodenum",
    "adrenal_gland_left": "left adrenal gland",
    "adrenal_gland_right": "right adrenal gland",
    "heart": "heart",
    "lung_upper_lobe_left": "left upper lung lobe",
    "lung_upper_lobe_right": "right upper lung lobe",
    "portal_vein": "portal vein",
    "liver_mass": "liver tumour",
}

#: DICOM SEG segment labels (normalised: lower case, spaces -> "_") that differ from STRUCTURES keys.
SEG_LABELS: dict[str, str] = {"mass": "liver_mass", "tumor": "liver_mass", "tumour": "liver_mass"}

CHOICES = {
    "x": ("To the left of it in the image", "To the right of it in the image"),
    "y": ("Above it in the image", "Below it in the image"),
}

RELATION_WORDS = {"left": "left of", "right": "right of", "above": "above", "below": "below"}

QUESTION = (
    "In this axial CT image, where is the {a} relative to the {b}, as seen in the image "
    "(the image's own left, right, top and bottom, not the patient's sides)?"
)


def _mask_name(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    for suffix in (".nii.gz", ".nii", ".nrrd", ".mha"):
        name = name.removesuffix(suffix)
    return name


def _inside(data: np.ndarray, value: int | None) -> np.ndarray:
    """Where a binary mask is > 0 (value None) or a label map equals `value`; an unsigned binary
    mask is used as it is (non-zero is > 0), without a volume-sized boolean copy."""
    if value is not None:
        return data == value
    return data if data.dtype.kind in "ub" else data > 0


def _same_grid(ct: Volume, mask: Volume) -> str | None:
    if ct.shape != mask.shape:
        return f"shape {mask.shape} differs from the CT's {ct.shape}"
    if not np.allclose(ct.affine(), mask.affine(), atol=1e-3):
        return "affine differs from the CT's"
    return None


def _seg_reference_ct(item: SourceItem, ctx: ItemContext, segs: list[int]) -> tuple[Volume, list[Path]]:
    """The CT series the item's first DICOM SEG references, among its other (non-SEG) files."""
    others = {item.path(i): i for i in range(len(item.files)) if i not in segs}
    groups, _problems = group_series(list(others))
    files = referenced_series_files(item.path(segs[0]), groups)
    if files is None:
        raise SkipItem("seg_reference_missing", f"{item.files[segs[0]]}: its CT series is not among the item's files")
    for path in files:
        ctx.record(others[path])
    ct = read_volume(files)
    ctx.check_subject(ct.subject, others[files[0]])
    return ct, files


class RelativePosition(Recipe):
    name = "relative-position"
    version = "1.2.0"  # 1.1.0: DICOM SEG masks, label maps, portal vein and liver tumour structures; 1.2.0: accepts
    description = (
        "An axial CT slice (soft-tissue window W400/L40, radiological convention) is chosen where two "
        f"segmented structures are each one connected component of at least {MIN_AREA_MM2:g} mm^2 and "
        f"their extents are separated by at least {MIN_GAP_MM:g} mm along the asked axis. A seeded view "
        f"transform ({', '.join(VIEW_TRANSFORMS)}) is applied, and the answer is read from the structures' "
        "mask positions after it. Ambiguous subjects are skipped with a reason."
    )
    tasks = (
        TaskInfo(
            TASK,
            "CT",
            "abdomen",
            "Relative position of two organs in an axial CT slice, as seen in the image.",
            QUESTION.format(a="<structure A>", b="<structure B>"),
        ),
    )
    sample_sources = ("medblink-sample-ct-seg",)
    #: A CT of a human (the structures asked about are human organs); masks are not checked.
    accepts = Accepts({"ct"}, human=True)
    align_family: ClassVar[dict[str, tuple[str, ...]]] = {"view_transform": VIEW_TRANSFORMS}

    def build(self, item: SourceItem, ctx: ItemContext) -> Example:
        segs = [i for i in range(len(item.files)) if is_dicom_seg(item.path(i))]
        ct, ct_files = _seg_reference_ct(item, ctx, segs) if segs else (ctx.read_volume(0), [])
        regions: dict[str, list[SliceRegion | None]] = {}
        sources: dict[str, str] = {}
        label_map = {int(k): v for k, v in json.loads(item.metadata.get("label_map", "{}")).items()}
        spacing = (ct.spacing[1], ct.spacing[2])
        if segs:  # one DICOM SEG: its segments, mapped frame by frame onto the CT grid
            ctx.record(segs[0])
            masks = read_dicom_seg(item.path(segs[0]), ct, reference_files=ct_files)
            for label, mask in masks.items():
                name = SEG_LABELS.get(label, label)
                if name in STRUCTURES and name not in regions:
                    regions[name] = measure_slices(mask > 0, spacing)
                    sources[name] = f"{item.files[segs[0]]}#segment={masks.numbers[label]}"
        for index in range(1, len(item.files) if not segs else 1):
            # One binary mask per structure (named by its file), or one label map (named by the manifest).
            structures = {1: _mask_name(item.files[index])} if not label_map else label_map
            if not any(name in STRUCTURES for name in structures.values()):
                continue
            mask = ctx.read_volume(index)
            problem = _same_grid(ct, mask)
            if problem:
                raise SkipItem("mask_mismatch", f"{item.files[index]}: {problem}")
            for value, name in structures.items():
                if name in STRUCTURES:
                    regions[name] = measure_slices(_inside(mask.data, None if not label_map else value), spacing)
                    sources[name] = item.files[index] + ("" if not label_map else f"#label={value}")
        candidates = self._candidates(regions, ct.shape[0])
        if not candidates:
            raise SkipItem("no_clear_pair", f"{len(regions)} structure mask(s), no slice with a clearly separated pair")
        rng = ctx.rng(TASK)
        k, a, b, axis = ctx.choice("pair", lambda: list(candidates[int(rng.integers(len(candidates)))]))
        if (k, a, b, axis) not in candidates:  # a pinned pair: still only where the relation is clear
            raise SkipItem("pinned_pair_unclear", f"slice {k}: {a} and {b} are not clearly separated along {axis}")
        view = ctx.choice(
            "view_transform", lambda: VIEW_TRANSFORMS[int(rng.integers(len(VIEW_TRANSFORMS)))], VIEW_TRANSFORMS
        )
        if ctx.choice("swap", lambda: bool(rng.integers(2)), (True, False)):
            a, b = b, a  # which structure is asked about first is itself seeded

        hu = ct.data[k]
        transforms: list[Transform] = [ct_window(WINDOW)]
        sy, sx = ct.spacing[1], ct.spacing[2]
        scale = (1.0, 1.0)
        if abs(sy - sx) > 1e-6:  # square pixels for display
            h, w = hu.shape
            new_w, new_h = (w, round(h * sy / sx)) if sy > sx else (round(w * sx / sy), h)
            transforms.append(Transform("resize", {"size": [new_w, new_h], "filter": "lanczos"}))
            scale = (new_w / w, new_h / h)
        transforms.append(dihedral(view))
        pixels = hu
        for t in transforms:
            pixels = apply(t, pixels)

        shape_before_view = (round(hu.shape[0] * scale[1]), round(hu.shape[1] * scale[0]))
        centroids = {}
        for name in (a, b):
            region = regions[name][k]
            assert region is not None
            x, y = region.centroid_px
            centroids[name] = dihedral_map_points(view, np.array([[x * scale[0], y * scale[1]]]), shape_before_view)[0]
        # The axis asked about after the view transform (flips and 180 degrees keep axes).
        delta = centroids[a] - centroids[b]
        component = delta[0] if axis == "x" else delta[1]
        first = component < 0  # a is left of / above b in the displayed image
        choices = CHOICES[axis]
        correct = 0 if first else 1
        relation = {"x": ("left", "right"), "y": ("above", "below")}[axis][correct]

        return Example(
            task=TASK,
            key=item.key,
            images=[png_bytes(pixels)],
            question=Question(QUESTION.format(a=STRUCTURES[a], b=STRUCTURES[b]), choices, correct),
            label={
                "structure_a": a,
                "structure_b": b,
                "relation": relation,
                "axis": "horizontal" if axis == "x" else "vertical",
                "slice_index": k,
                "view_transform": view,
                "centroids_px": {n: [round(float(c), 2) for c in centroids[n]] for n in (a, b)},
                "mask_files": {n: sources[n] for n in (a, b)},
                "display_convention": "axial LPS slice: anterior up, patient's left on image right, then view",
            },
            inputs=list(ctx.inputs),
            transforms=[t.to_json() for t in transforms],
            derivation=(
                f"Slice {k}: '{a}' and '{b}' masks are single components separated by >= {MIN_GAP_MM:g} mm "
                f"along the image {'x' if axis == 'x' else 'y'} axis; after the view transform '{view}' the "
                f"{a} centroid lies {RELATION_WORDS[relation]} the {b} centroid in image coordinates."
            ),
            details={
                "volume": {"shape": list(ct.shape), "spacing_mm": list(ct.spacing), **ct.meta},
                "warnings": ct.warnings,
                "slice_index": k,
            },
            modality="CT",
            anatomy="abdomen",
        )

    @staticmethod
    def _candidates(regions: dict[str, list[SliceRegion | None]], depth: int) -> list[tuple[int, str, str, str]]:
        names = sorted(regions)
        found = []
        for k in range(depth):
            ok = {n: regions[n][k] for n in names}
            good = [n for n in names if (r := ok[n]) is not None and r.components == 1 and r.area_mm2 >= MIN_AREA_MM2]
            for i, a in enumerate(good):
                for b in good[i + 1 :]:
                    for axis in ("x", "y"):
                        if abs(gap_mm(ok[a], ok[b], axis)) >= MIN_GAP_MM:  # type: ignore[arg-type]
                            found.append((k, a, b, axis))
        return found
