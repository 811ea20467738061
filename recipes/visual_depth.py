"""Visual depth: which lettered marker on an endoscopic frame is closest to / farthest from the camera?

Config `visual_depth_estimation`. An item is an RGB frame plus its per-pixel depth map (a companion
file, e.g. C3VD `12_color.png` + `0012_depth.tiff`); the source says how stored depth values become
millimetres with `depth_scale` (manifest [defaults] or labels.csv, read by `readers.depth_map`).

Markers go only where the label is certain:
- every depth pixel in the square around the marker disc (side 2r+1, r the marker radius in source
  pixels) is valid; no two neighbouring pixels there differ by more than EDGE_JUMP of the nearer
  depth (no depth edge or occlusion boundary under a marker: a smooth wall changes about 1 % per
  pixel, an occluding edge 5-100 %); and the square's depth range (max - min) is at most SMOOTHNESS
  of its minimum (a marker covers a narrow band of depth, even on a steep wall);
- between any two markers the depths (median under each disc) differ by at least MIN_RELATIVE_GAP
  of the nearer one, and every pixel under the farther marker is deeper than every pixel under the
  nearer one;
- centres are at least MIN_SEPARATION_RADII marker radii apart (discs never overlap) and clear of
  the border. 2-4 markers (seeded); fewer are tried when that many do not fit; a frame where even two
  do not fit is skipped with the reason. The label is the ordering of the measured depths.

A depth map that is a colour rendering (viridis/jet PNG, 8-bit RGB or palette) is not metric depth:
skipped (`depth_not_metric`). Degenerate frames (tiny, strips, constant) are skipped by
`ItemContext.read_image` (`degenerate_image`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from medblink_build.encode import png_bytes
from medblink_build.errors import RecipeError, SkipItem
from medblink_build.model import Example, SourceItem
from medblink_build.readers.depth_map import DepthNotMetric, DepthScale, read_depth_map
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
    source_index,
)
from medblink_build.tasks.depth_surface import depth_gap, disc_depth, local_range, unambiguous
from medblink_build.tasks.markers import Marker, marker_radius, slot
from medblink_build.transforms import Transform, apply, resize_to_fit

TASK = "visual_depth_estimation"
#: Output images are resized (Lanczos) so the longer side is at most this many pixels.
MAX_SIDE = 1024
#: Depths of two markers must differ by at least this fraction of the nearer depth.
MIN_RELATIVE_GAP = 0.15
#: Max - min depth in the square around a marker at most this fraction of its minimum depth.
SMOOTHNESS = 0.25
#: Neighbouring depth pixels differing by more than this fraction of the nearer one make a depth edge.
EDGE_JUMP = 0.05
#: Marker centres at least this many marker radii apart.
MIN_SEPARATION_RADII = 3.0
#: Tries of a full placement (each a seeded sequential draw) before fewer markers are tried.
VERIFY_ATTEMPTS = 5

QUESTIONS = {
    "closest": "{n} lettered markers are drawn on this endoscopic image. Which marker lies on the surface "
    "closest to the camera?",
    "farthest": "{n} lettered markers are drawn on this endoscopic image. Which marker lies on the surface "
    "farthest from the camera?",
}


def _depth_file(item: SourceItem) -> int:
    companions = list(range(1, len(item.files)))
    if not companions:
        raise SkipItem("no_depth_map", "the frame has no depth-map companion file")
    if len(companions) > 1:
        named = [i for i in companions if "depth" in item.files[i].rsplit("/", 1)[-1].lower()]
        if len(named) != 1:
            raise SkipItem("ambiguous_depth_map", f"several companions: {[item.files[i] for i in companions]}")
        return named[0]
    return companions[0]


def _scale(item: SourceItem) -> tuple[DepthScale, int | None]:
    text = item.metadata.get("depth_scale", "")
    if not text:
        raise SkipItem(
            "depth_scale_unknown", "no depth_scale for this source (manifest [defaults] or labels.csv column)"
        )
    try:
        scale = DepthScale.parse(text)
    except ValueError as exc:
        raise RecipeError(f"source {item.source_id}: {exc}") from None
    channel = item.metadata.get("depth_channel", "")
    try:
        return scale, int(channel) if channel else None
    except ValueError:
        raise RecipeError(f"source {item.source_id}: depth_channel {channel!r} is not an integer") from None


class VisualDepth(Recipe):
    name = "visual-depth"
    version = "1.1.0"  # 1.1.0: colour depth renderings and degenerate frames skipped, endoscopy only
    description = (
        "Two to four lettered markers (seeded) are drawn on an endoscopic frame where its depth map is valid "
        f"and smooth (no neighbouring depth pixels differing by more than {EDGE_JUMP:.0%} within the marker's "
        f"square, so no depth edge under a marker, and a depth range there of at most {SMOOTHNESS:.0%} of its "
        "minimum), at least "
        f"{MIN_SEPARATION_RADII:g} marker radii apart, with depths (median under each marker, in mm from the "
        f"source's documented depth scale) differing by at least {MIN_RELATIVE_GAP:.0%} of the nearer one and "
        "non-overlapping depth ranges. The question asks for the closest or the farthest marker (seeded); "
        "the answer is read from the depth map. Answer letters are balanced per task by the writer's plan. "
        f"Images are resized to at most {MAX_SIDE} px on the longer side. Frames without such a placement, "
        "with a depth map of another size, with no valid depth, or whose depth map is a colour rendering (not metric) "
        "are skipped with the reason."
    )
    tasks = (
        TaskInfo(
            TASK,
            "endoscopy",
            "colon",
            "Relative depth of lettered markers on an endoscopic frame, from its ground-truth depth map.",
            QUESTIONS["closest"].format(n="<n>") + " / ... farthest from the camera?",
        ),
    )
    sample_sources = ("medblink-sample-endoscopy",)
    #: Endoscopy frames (RGB + depth); depth needs no human anatomy.
    accepts = Accepts({"endoscopy"}, human=False)
    align_markers = "markers"
    align_question_family: ClassVar[dict[str, tuple[str, ...]]] = {"ask": tuple(QUESTIONS)}

    def build(self, item: SourceItem, ctx: ItemContext) -> Example:
        depth_index = _depth_file(item)
        scale, channel = _scale(item)
        frame = ctx.read_image(0)
        path, data = ctx.read_bytes(depth_index)
        try:
            depth = read_depth_map(path, data, scale=scale, channel=channel)
        except DepthNotMetric as exc:
            raise SkipItem("depth_not_metric", f"{item.files[depth_index]}: {exc.problem}") from None
        h, w = frame.pixels.shape[:2]
        if depth.shape != (h, w):
            raise SkipItem(
                "depth_size_mismatch",
                f"{item.files[depth_index]} is {depth.shape[1]}x{depth.shape[0]}, the frame {w}x{h}",
            )
        if not depth.valid.any():
            raise SkipItem("no_valid_depth", f"all {h * w} pixels of {item.files[depth_index]} are invalid")

        rng = ctx.rng(TASK)
        wanted = ctx.choice("marker_count", lambda: int(MARKER_COUNTS[int(rng.integers(len(MARKER_COUNTS)))]))
        ask = ctx.choice("ask", lambda: "closest" if rng.integers(2) == 0 else "farthest", tuple(QUESTIONS))

        transforms: list[Transform] = []
        resize = resize_to_fit((h, w), MAX_SIDE)
        if resize is not None:
            transforms.append(resize)
        out_w, out_h = resize.params["size"] if resize is not None else (w, h)
        radius = marker_radius((out_h, out_w))
        src_radius = math.ceil((radius + 1) * max(w / out_w, h / out_h))
        lo, hi, all_valid = local_range(depth, src_radius, EDGE_JUMP)
        smooth = all_valid & (hi - lo <= SMOOTHNESS * lo)
        rows, cols = source_index(out_h, h), source_index(out_w, w)
        allowed = clear_border(resample_nearest(smooth, (out_h, out_w)), radius)
        compatible = depth_gap(depth, lo, hi, (out_h, out_w), MIN_RELATIVE_GAP)
        if allowed.sum() < 2:
            raise SkipItem(
                "no_smooth_valid_area",
                f"{depth.valid.mean():.0%} of the depth is valid, but no {2 * src_radius + 1}-px square is "
                f"all valid, edge-free, with a depth range under {SMOOTHNESS:.0%}",
            )

        def place() -> list[dict[str, Any]]:
            found = None
            for count in range(wanted, 1, -1):
                for _ in range(VERIFY_ATTEMPTS):
                    points = choose_positions(rng, allowed, count, MIN_SEPARATION_RADII * radius, compatible)
                    if points is None:
                        break
                    centres = [(int(cols[int(x)]), int(rows[int(y)])) for x, y in points]
                    discs = [disc_depth(depth, cx, cy, src_radius) for cx, cy in centres]
                    if unambiguous(discs, MIN_RELATIVE_GAP):
                        found = points, centres, discs
                        break
                if found:
                    break
            if found is None:
                raise SkipItem(
                    "no_unambiguous_markers",
                    f"no 2..{wanted} markers on smooth valid depth with a {MIN_RELATIVE_GAP:.0%} depth gap "
                    f"({int(allowed.sum())} candidate pixels)",
                )
            points, _, discs = found
            letters, _ = assign_letters(rng, [d[0] for d in discs], nearest=ask == "closest")
            return marker_params(points, letters)

        placed = ctx.choice("markers", place)
        points, letters = pinned_marker_points(placed, (out_h, out_w), radius, MIN_SEPARATION_RADII * radius)
        centres = [(int(cols[int(x)]), int(rows[int(y)])) for x, y in points]
        if not all(all_valid[cy, cx] for cx, cy in centres):  # reachable only with pinned markers
            raise SkipItem("marker_on_unclear_depth", "a pinned marker sits on invalid depth or a depth edge")
        discs = [disc_depth(depth, cx, cy, src_radius) for cx, cy in centres]
        if not unambiguous(discs, MIN_RELATIVE_GAP):
            raise SkipItem("markers_ambiguous", "the pinned markers' depths are not clearly ordered")
        order = sorted(range(len(letters)), key=lambda i: letters[i])
        markers = [Marker(float(points[i][0]), float(points[i][1]), letters[i]) for i in order]
        pixels = frame.pixels  # the writer draws the markers, with the letters of its balanced plan
        for t in transforms:
            pixels = apply(t, pixels)

        answer = letters[
            int(np.argmin([d[0] for d in discs]) if ask == "closest" else np.argmax([d[0] for d in discs]))
        ]
        correct = MARKER_LETTERS.index(answer)
        label_markers = [
            {
                "letter": letters[i],
                "x": int(points[i][0]),
                "y": int(points[i][1]),
                "source_x": centres[i][0],
                "source_y": centres[i][1],
                "depth_mm": round(discs[i][0], 4),
                "depth_min_mm": round(discs[i][1], 4),
                "depth_max_mm": round(discs[i][2], 4),
            }
            for i in order
        ]
        near_to_far = [letters[i] for i in sorted(range(len(discs)), key=lambda i: discs[i][0])]
        return Example(
            task=TASK,
            key=item.key,
            images=[png_bytes(pixels)],
            question=marker_question(
                QUESTIONS[ask].format(n=len(markers)), len(markers), correct, markers=markers, radius=radius
            ),
            label={
                "ask": ask,
                "answer_marker": answer,
                "markers": label_markers,
                "near_to_far": near_to_far,
                "marker_radius_px": radius,
                "source_disc_radius_px": src_radius,
                "depth_map": item.files[depth_index],
                "depth_units": "mm",
                "depth_scale": scale.describe(),
                "min_relative_gap": MIN_RELATIVE_GAP,
                "smoothness": SMOOTHNESS,
                "edge_jump": EDGE_JUMP,
            },
            inputs=list(ctx.inputs),
            transforms=[t.to_json() for t in transforms],
            derivation=(
                f"Depth under each marker = median of the depth map ({scale.describe()}) over the marker disc "
                f"of radius {src_radius} source px; order near to far {''.join(map(slot, near_to_far))}; asked "
                f"for the {ask} marker, so the answer is {slot(answer)}."
            ),
            details={"frame_decode": frame.decode, "depth_decode": depth.decode},
            modality="endoscopy",
            anatomy=item.metadata.get("anatomy", ""),
        )
