"""Wave-based depth: which lettered marker on an ultrasound image is deepest / shallowest?

Config `wave_based_depth_estimation`. An item is one ultrasound file: a DICOM US image (its middle
frame when multi-frame) or a PNG/JPEG screen. Depth is the distance from the transducer along the
beam (`readers.ultrasound_region`): for a linear probe the distance below the top edge of the
imaging region, for a sector/curvilinear probe the radial distance from the apex. The region comes
from the DICOM SequenceOfUltrasoundRegions when the file has a usable one, else it is segmented from
the pixels; millimetres are reported where the region calibrates PhysicalDeltaX/Y in cm.

The probe geometry comes from what the file states first: TransducerType, else the probe model in
TransducerData (L12-5 linear, C5-1 / S5-1 sector), else the source's `probe` metadata, and a DICOM
region that the imaging area fills to its sides and flat top is a linear probe's rectangle; the
pixels confirm (straight parallel or diverging lateral edges). An area that reaches the sides of the
frame (or of its region) without such a statement has no visible probe edges: skipped as
`probe_geometry_unclear`. A region with NaN/inf or non-positive cm deltas is skipped
(`invalid_ultrasound_calibration`); degenerate frames too (`degenerate_image`).

Markers sit only inside the imaging area (the whole disc, with ANNOTATION_CLEARANCE px to spare),
never on burned-in text, rulers, colour bars, colour Doppler or overlay graphics, at least
MIN_SEPARATION_RADII marker radii apart. Any two markers differ in depth by at least
MIN_DEPTH_GAP_FRACTION of the imaging area's depth extent and by more than a marker diameter (so
every pixel of the deeper disc is deeper than every pixel of the shallower one).

A frame with burned-in annotation (BurnedInAnnotation YES, or bright/colour components found
outside the imaging area) is cropped to the imaging area's bounding box before anything is drawn;
the label records that choice. Frames whose area is smaller than MIN_AREA_SIDE px are skipped.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from medblink_build.encode import png_bytes
from medblink_build.errors import SkipItem
from medblink_build.model import Example, SourceItem
from medblink_build.readers.ultrasound import read_ultrasound
from medblink_build.readers.ultrasound_region import (
    GeometryUnclear,
    RegionNotFound,
    dilate,
    erode,
    locate_imaging_area,
)
from medblink_build.recipe import ItemContext, Recipe, TaskInfo
from medblink_build.subject import Accepts
from medblink_build.tasks.depth_markers import LETTERS as MARKER_LETTERS
from medblink_build.tasks.depth_markers import (
    MARKER_COUNTS,
    assign_letters,
    choose_positions,
    clear_border,
    marker_params,
    marker_question,
    pinned_marker_points,
    resample_nearest,
)
from medblink_build.tasks.markers import Marker, marker_radius, slot
from medblink_build.transforms import Transform, apply, crop, resize_to_fit

TASK = "wave_based_depth_estimation"
#: Output images are resized (Lanczos) so the longer side is at most this many pixels.
MAX_SIDE = 1024
#: Two markers' depths differ by at least this fraction of the imaging area's depth extent.
MIN_DEPTH_GAP_FRACTION = 0.12
#: Marker centres at least this many marker radii apart.
MIN_SEPARATION_RADII = 3.0
#: Extra pixels kept between a marker disc and the area's edge or any annotation.
ANNOTATION_CLEARANCE = 4
#: An imaging area (or the crop to it) narrower or shorter than this is skipped.
MIN_AREA_SIDE = 64

QUESTIONS = {
    "deepest": "{n} lettered markers are drawn on this ultrasound image. Which marker is deepest, that is, "
    "farthest from the transducer along the ultrasound beam?",
    "shallowest": "{n} lettered markers are drawn on this ultrasound image. Which marker is shallowest, that is, "
    "closest to the transducer along the ultrasound beam?",
}
_VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


class WaveDepth(Recipe):
    name = "wave-depth"
    version = "1.1.0"  # 1.1.0: DICOM region/probe model first, frame-filling areas unclear, bad frames skipped, US only
    description = (
        "Two to four lettered markers (seeded) are drawn inside the imaging area of an ultrasound frame (the "
        "DICOM SequenceOfUltrasoundRegions region when usable, else the fan or rectangle segmented from the "
        "pixels), never on burned-in text, rulers, colour bars or colour Doppler. Depth is the distance from "
        "the transducer along the beam: below the region's top edge for a linear probe, radially from the apex "
        "(DICOM reference pixel or the intersection of the fan's edges) for a sector or curvilinear probe; in mm "
        "where the region is calibrated. Any two markers differ in depth by at least "
        f"{MIN_DEPTH_GAP_FRACTION:.0%} of the area's depth extent and by more than a marker diameter. The question "
        "asks for the deepest or the shallowest marker (seeded); answer letters are balanced per task by the "
        "writer's plan. "
        "Frames with burned-in annotation are cropped to the imaging area; multi-frame files give their middle "
        f"frame. Images are at most {MAX_SIDE} px on the longer side."
    )
    tasks = (
        TaskInfo(
            TASK,
            "ultrasound",
            "various",
            "Relative depth (distance from the transducer along the beam) of lettered markers on an ultrasound image.",
            QUESTIONS["deepest"].format(n="<n>") + " / ... shallowest ...?",
        ),
    )
    sample_sources = ("medblink-sample-ultrasound",)
    #: Ultrasound, including screens exported as Secondary Capture; depth needs no human anatomy.
    accepts = Accepts({"us"}, human=False, secondary_capture=True)
    align_markers = "markers"
    align_question_family: ClassVar[dict[str, tuple[str, ...]]] = {"ask": tuple(QUESTIONS)}

    def build(self, item: SourceItem, ctx: ItemContext) -> Example:
        if item.files[0].lower().endswith(_VOLUME_SUFFIXES):
            raise SkipItem("unsupported_format", f"{item.files[0]}: ultrasound volumes (e.g. NIfTI) are not read yet")
        path, data = ctx.read_bytes(0)
        us = read_ultrasound(path, data)
        ctx.check_subject(us.image.subject)
        pixels = us.image.pixels
        ctx.check_image(pixels)
        problem = us.region.calibration_problem() if us.region is not None else None
        if problem:
            raise SkipItem("invalid_ultrasound_calibration", f"DICOM ultrasound region: {problem}")
        try:
            area, probe = locate_imaging_area(
                pixels,
                us.region,
                us.transducer_type,
                transducer_data=us.transducer_data,
                source_probe=item.metadata.get("probe"),
            )
        except RegionNotFound as exc:
            raise SkipItem("no_imaging_region", str(exc)) from None
        except GeometryUnclear as exc:
            raise SkipItem("probe_geometry_unclear", str(exc)) from None
        x0, y0, x1, y1 = area.box
        if min(x1 - x0, y1 - y0) < MIN_AREA_SIDE:
            raise SkipItem("imaging_region_too_small", f"imaging area {x1 - x0}x{y1 - y0} px, under {MIN_AREA_SIDE}")

        reasons = []
        if us.burned_in_annotation == "YES":
            reasons.append("BurnedInAnnotation YES")
        if area.text_components:
            reasons.append(f"{area.text_components} bright or colour component(s) outside the imaging area")
        transforms: list[Transform] = []
        h, w = pixels.shape[:2]
        box = (0, 0, w, h)
        if reasons:
            box = area.box
            transforms.append(crop(box))
        bx0, by0, bx1, by1 = box
        cur_h, cur_w = by1 - by0, bx1 - bx0
        resize = resize_to_fit((cur_h, cur_w), MAX_SIDE)
        if resize is not None:
            transforms.append(resize)
        out_w, out_h = resize.params["size"] if resize is not None else (cur_w, cur_h)
        sx, sy = out_w / cur_w, out_h / cur_h

        inside = resample_nearest(area.mask[by0:by1, bx0:bx1], (out_h, out_w))
        blocked = resample_nearest((area.annotations | area.colour)[by0:by1, bx0:bx1], (out_h, out_w))
        radius = marker_radius((out_h, out_w))
        clearance = radius + ANNOTATION_CLEARANCE
        allowed = clear_border(erode(inside, clearance) & ~dilate(blocked, clearance), radius)
        geometry = probe.moved((bx0, by0), (sx, sy))
        yy, xx = np.mgrid[0:out_h, 0:out_w]
        depth = geometry.depth_px(xx, yy)
        extent = float(depth[inside].max() - depth[inside].min())
        min_gap = max(MIN_DEPTH_GAP_FRACTION * extent, 2 * radius + 2)

        rng = ctx.rng(TASK)
        wanted = ctx.choice("marker_count", lambda: int(MARKER_COUNTS[int(rng.integers(len(MARKER_COUNTS)))]))
        ask = ctx.choice("ask", lambda: "deepest" if rng.integers(2) == 0 else "shallowest", tuple(QUESTIONS))

        def compatible(y: int, x: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
            return np.abs(depth[ys, xs] - depth[y, x]) >= min_gap

        def place() -> list[dict[str, Any]]:
            points = None
            for count in range(wanted, 1, -1):
                points = choose_positions(rng, allowed, count, MIN_SEPARATION_RADII * radius, compatible)
                if points is not None:
                    break
            if points is None:
                raise SkipItem(
                    "no_marker_placement",
                    f"no 2..{wanted} markers {min_gap:.0f} px apart in depth inside the imaging area "
                    f"({int(allowed.sum())} candidate pixels)",
                )
            drawn_depth = [float(depth[int(y), int(x)]) for x, y in points]
            letters, _ = assign_letters(rng, drawn_depth, nearest=ask == "shallowest")
            return marker_params(points, letters)

        placed = ctx.choice("markers", place)
        points, letters = pinned_marker_points(placed, (out_h, out_w), radius, MIN_SEPARATION_RADII * radius)
        if not all(allowed[int(y), int(x)] for x, y in points):  # reachable only with pinned markers
            raise SkipItem("marker_outside_imaging_area", "a pinned marker is not inside the clear imaging area")
        depth_px = [float(depth[int(y), int(x)]) for x, y in points]
        if min(abs(p - q) for i, p in enumerate(depth_px) for q in depth_px[i + 1 :]) < min_gap:
            raise SkipItem("markers_ambiguous", f"pinned markers closer than {min_gap:.0f} px in depth")
        src_x = (points[:, 0] + 0.5) / sx - 0.5 + bx0
        src_y = (points[:, 1] + 0.5) / sy - 0.5 + by0
        mm = probe.depth_mm(src_x, src_y)
        if mm is not None and list(np.argsort(mm)) != list(np.argsort(depth_px)):
            raise SkipItem("anisotropic_calibration", "depth order in mm differs from the order in pixels")

        order = sorted(range(len(letters)), key=lambda i: letters[i])
        markers = [Marker(float(points[i][0]), float(points[i][1]), letters[i]) for i in order]
        out = pixels  # the writer draws the markers, with the letters of its balanced plan
        for t in transforms:
            out = apply(t, out)

        by_depth = sorted(range(len(letters)), key=lambda i: depth_px[i])
        answer = letters[by_depth[0] if ask == "shallowest" else by_depth[-1]]
        correct = MARKER_LETTERS.index(answer)
        action = "cropped_to_imaging_region" if reasons else "none"
        return Example(
            task=TASK,
            key=item.key,
            images=[png_bytes(out)],
            question=marker_question(
                QUESTIONS[ask].format(n=len(markers)), len(markers), correct, markers=markers, radius=radius
            ),
            label={
                "ask": ask,
                "answer_marker": answer,
                "markers": [
                    {
                        "letter": letters[i],
                        "x": int(points[i][0]),
                        "y": int(points[i][1]),
                        "source_x": round(float(src_x[i]), 3),
                        "source_y": round(float(src_y[i]), 3),
                        "depth_px": round(depth_px[i], 3),
                        "depth_mm": None if mm is None else round(float(mm[i]), 3),
                    }
                    for i in order
                ],
                "shallow_to_deep": [letters[i] for i in by_depth],
                "probe_geometry": geometry.to_json(),
                "probe_geometry_source_px": probe.to_json(),
                "imaging_area": {"method": area.detail["method"], "box_source_px": list(area.box)},
                "dicom_region": us.region_note,
                "annotations": {
                    "burned_in_annotation": us.burned_in_annotation,
                    "components_outside_area": area.text_components,
                    "action": action,
                    "why": reasons,
                    "annotation_px_left_in_image": int(area.annotations[by0:by1, bx0:bx1].sum()),
                },
                "frame": us.frame,
                "frames": us.frames,
                "marker_radius_px": radius,
                "min_depth_gap_px": round(min_gap, 3),
            },
            inputs=list(ctx.inputs),
            transforms=[t.to_json() for t in transforms],
            derivation=(
                f"{probe.kind} probe ({probe.evidence}); depth along the beam of each marker centre, "
                f"shallow to deep {''.join(slot(letters[i]) for i in by_depth)}; asked for the {ask} marker, so "
                f"the answer is {slot(answer)}. Burned-in annotation: {action}."
            ),
            details={"decode": us.image.decode, "ultrasound": us.to_json(), "imaging_area": area.detail},
            modality="ultrasound",
            anatomy=item.metadata.get("anatomy", ""),
        )
