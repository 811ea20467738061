"""Where an ultrasound frame images tissue, how deep each pixel is, and what is burned in.

Three steps, each usable alone:

1. `segment_imaging_area`: the visible imaging area (the fan of a sector/curvilinear probe or the
   rectangle of a linear one) from the pixels, with scikit-image/scipy: grey pixels above a low echo
   threshold, kept only in connected pieces of at least 4 % of the searched area (the speckle of
   imaged tissue is one large connected network; burned-in text, ruler ticks and calipers break
   into small pieces), closed, the largest region with its holes filled (anechoic structures such
   as cysts or heart chambers lie inside the area), then trimmed to the convex hull of its echo
   pixels so its edge is the true edge. Colour pixels (Doppler, colour bars, logos) never seed it.
   Within a DICOM region box the search is confined to the box.
2. `fit_probe_geometry`: linear or sector, from what is stated first: DICOM TransducerType, else
   the probe model named in TransducerData (L12-5 linear; C5-1, S5-1, P4-2 sector), else the
   source's `probe` metadata; a DICOM region whose rectangle the imaging area fills to both sides
   and its top is a linear probe's image. The pixels confirm (a stated kind they contradict is
   unclear) or, when nothing is stated, decide: the lateral edges are fitted by total least squares
   with outliers rejected (bumps: text or arrows touching an edge), their angles from the vertical
   taken modulo pi (a line fitted "upwards", at -pi, is vertical), on the rows 8-45 % down the area
   and then on bands nearer the top (where a phased-array fan is filled with echo to its edges),
   traced both along the echo's convex hull (bridges dents where an overlay covers the edge, never
   chords across dark tissue) and along the area's own row extents. Parallel vertical edges mean a
   linear probe, diverging ones a sector whose apex is their intersection (for a curvilinear probe
   the virtual apex above the transducer face), within 3 area heights. An area reaching the sides
   of the frame or of its region shows the crop, not the probe: unclear unless stated. A DICOM
   reference pixel with physical value (0, 0) lying at or above the fan's top is taken as the apex
   when it agrees with the fitted one.
3. Annotations: bright or colour components outside the area (text, rulers, colour bars, logos)
   and small near-white components inside it (calipers, cursors). Markers must avoid all of them.

Depth along the beam (`ProbeGeometry.depth_px`): linear, the distance below the top edge of the
region (the transducer face); sector, the radial distance from the apex. Millimetres only where the
DICOM region calibrates both directions in cm.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import MedblinkError
from .ultrasound import UltrasoundRegion

#: Grey level (0-255 display) above which a pixel counts as echo.
TISSUE_THRESHOLD = 10.0
#: Max-min channel difference above which a pixel is colour (Doppler, colour bars, logos).
COLOUR_CHROMA = 40
#: Radius (px) of the closing that joins the area before its holes are filled.
CLOSING_RADIUS = 3
#: Echo pieces (8-connected) must cover at least this fraction of the searched pixels to count as
#: imaged tissue: speckle is one large connected network, burned-in text breaks into small pieces.
MIN_AREA_FRACTION = 0.04
#: Fewer distinct grey levels than this in the searched pixels: a mask or label image, not B-mode.
MIN_GREY_LEVELS = 16
#: Standard deviation of the fine-scale grey (image minus its Gaussian blur, sigma 1.5 px) below which
#: the area has no speckle texture (a flat fill or smooth drawing, not an ultrasound image).
MIN_TEXTURE_STD = 3.0
#: Grey level from which a component outside the area counts as burned-in text or graphics.
ANNOTATION_GREY = 60.0
#: Components outside the area smaller than this (px) are noise, not annotations.
MIN_ANNOTATION_PIXELS = 3
#: Near-white components inside the area up to this size (px) are overlay graphics (calipers).
OVERLAY_WHITE = 245.0
MAX_OVERLAY_PIXELS = 400
#: Lateral-edge fit: rows between these fractions of the area's height.
EDGE_ROWS = (0.08, 0.45)
#: |dx/dy| of both edges at most this: linear; left <= -SECTOR_MIN_SLOPE and right >= it: sector.
LINEAR_MAX_SLOPE = 0.04
SECTOR_MIN_SLOPE = 0.08
#: At least this fraction of the fitted rows must lie on each straight edge (the rest: bumps, text).
MIN_EDGE_INLIERS = 0.7
#: Row windows (fractions of the area's height) tried in turn for the edge fit: the upper band, then
#: bands nearer the apex, where a phased-array fan is filled with echo to its edges (lower down, dark
#: lung or blood pools beside the heart hide the fan's edges).
EDGE_WINDOWS = ((0.08, 0.45), (0.08, 0.30), (0.05, 0.22))
#: An area pixel within this many px of the searched box's side (the DICOM region or the frame) is
#: on that side; when at least BORDER_ROWS of the upper band's rows are, that edge is the box's border.
BORDER_PX = 2
BORDER_ROWS = 0.6
#: A hull edge point is supported when area or overlay pixels lie within this many px of it
#: (compression blurs the edge by a few px; a chord across a dark cyst or an empty corner is far).
SUPPORT_PX = 4
#: Fraction of the area's height whose rows must span the whole box for the area to be its rectangle.
TOP_BAND = 0.03
#: A fitted sector apex farther above the area's top than this many area heights is no probe's
#: (nearly parallel edges that diverge by noise): the fit is unclear.
APEX_MAX_HEIGHTS = 3.0
#: A DICOM reference pixel is the apex when within this many px (or 10 % of the fan depth) of the fit.
APEX_AGREEMENT_PX = 6.0

_SECTOR_WORDS = ("SECTOR", "CURVED", "PHASED", "VECTOR", "ENDOCAV_PA", "ENDOCAV_CLA", "ENDOCAV_MECH")


class RegionNotFound(MedblinkError):
    """The frame shows no imaging area this module can find (a recipe skips such frames)."""


class GeometryUnclear(MedblinkError):
    """The imaging area is neither clearly a rectangle nor clearly a fan."""


@dataclass
class ImagingArea:
    """The visible imaging area of a frame, its bounding box, and what must stay unmarked."""

    mask: np.ndarray  # bool (H, W)
    box: tuple[int, int, int, int]  # half-open (x0, y0, x1, y1) of mask
    echo: np.ndarray  # bool (H, W): unsmoothed echo pixels of the area, whose hull gives the edges
    annotations: np.ndarray  # bool (H, W): text, rulers, colour bars outside; overlay graphics inside
    colour: np.ndarray  # bool (H, W): colour pixels anywhere (Doppler, bars)
    text_components: int  # annotation components outside the area
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeGeometry:
    """How depth along the beam maps onto pixels: linear (top edge) or sector (apex)."""

    kind: str  # "linear" or "sector"
    evidence: str
    top_y: float | None = None  # linear: row of the transducer face
    apex: tuple[float, float] | None = None  # sector: (x, y) of the (virtual) apex
    face_radius_px: float | None = None  # sector: radial distance of the transducer face from the apex
    mm_per_px: tuple[float, float] | None = None  # (x, y), from the DICOM region calibration

    def depth_px(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if self.kind == "linear":
            return y - float(self.top_y)  # type: ignore[arg-type]
        ax, ay = self.apex  # type: ignore[misc]
        return np.hypot(x - ax, y - ay)

    def depth_mm(self, x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        if self.mm_per_px is None:
            return None
        mx, my = self.mm_per_px
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if self.kind == "linear":
            return (y - float(self.top_y)) * my  # type: ignore[arg-type]
        ax, ay = self.apex  # type: ignore[misc]
        return np.hypot((x - ax) * mx, (y - ay) * my)

    def moved(self, offset: tuple[float, float], scale: tuple[float, float]) -> ProbeGeometry:
        """The same geometry in an image cropped at `offset` (x, y) and then resized by `scale`."""
        sx, sy = scale

        def fx(v: float) -> float:
            return (v - offset[0] + 0.5) * sx - 0.5

        def fy(v: float) -> float:
            return (v - offset[1] + 0.5) * sy - 0.5

        return replace(
            self,
            top_y=None if self.top_y is None else fy(self.top_y),
            apex=None if self.apex is None else (fx(self.apex[0]), fy(self.apex[1])),
            face_radius_px=None if self.face_radius_px is None else self.face_radius_px * (sx + sy) / 2,
            mm_per_px=None if self.mm_per_px is None else (self.mm_per_px[0] / sx, self.mm_per_px[1] / sy),
        )

    def to_json(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(float(v), 3)

        return {
            "probe": self.kind,
            "evidence": self.evidence,
            "depth_definition": (
                "distance below the top edge of the imaging region (transducer face)"
                if self.kind == "linear"
                else "radial distance from the sector apex"
            ),
            "top_edge_y_px": r(self.top_y),
            "apex_px": None if self.apex is None else [r(self.apex[0]), r(self.apex[1])],
            "face_radius_px": r(self.face_radius_px),
            "mm_per_px": None if self.mm_per_px is None else [round(v, 6) for v in self.mm_per_px],
        }


def _disk(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return xx * xx + yy * yy <= radius * radius


def _morph(op: Callable[..., np.ndarray], mask: np.ndarray, radius: int) -> np.ndarray:
    """A binary morphology op with the image edge replicated (no border erosion artefacts)."""
    if radius <= 0:
        return mask.copy()
    pad = radius + 1
    padded = np.pad(mask, pad, mode="edge")
    return op(padded, structure=_disk(radius))[pad:-pad, pad:-pad]


def dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within `radius` (Euclidean) of `mask`: a dilation by a disc, via a distance transform."""
    from scipy import ndimage

    if not mask.any():
        return np.zeros(mask.shape, bool)
    return ndimage.distance_transform_edt(~mask) <= radius


def erode(mask: np.ndarray, radius: float) -> np.ndarray:
    """Pixels farther than `radius` from outside `mask` (the image edge replicated): an erosion by a disc."""
    from scipy import ndimage

    padded = np.pad(mask, 1, mode="edge")
    if padded.all():
        return mask.copy()
    return ndimage.distance_transform_edt(padded)[1:-1, 1:-1] > radius


def grey_and_colour(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grey level (float, 0-255) and the colour-pixel mask of a display image."""
    if pixels.ndim == 2:
        return pixels.astype(np.float32), np.zeros(pixels.shape, bool)
    rgb = pixels[..., :3].astype(np.int16)
    chroma = rgb.max(axis=2) - rgb.min(axis=2)
    return rgb.mean(axis=2, dtype=np.float32), chroma > COLOUR_CHROMA


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy import ndimage

    labels, _n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels, sizes


def segment_imaging_area(
    pixels: np.ndarray, box: tuple[int, int, int, int] | None = None, *, box_is_area: bool = False
) -> ImagingArea:
    """Find the imaging area (within `box` if given; the whole box when `box_is_area`)."""
    from scipy import ndimage
    from skimage.morphology import convex_hull_image

    grey, colour = grey_and_colour(pixels)
    h, w = grey.shape
    x0, y0, x1, y1 = box if box is not None else (0, 0, w, h)
    search = np.zeros((h, w), bool)
    search[y0:y1, x0:x1] = True
    n_search = int(search.sum())
    if n_search == 0:
        raise RegionNotFound(f"search box {box} is empty in a {w}x{h} image")
    levels = np.unique(np.rint(grey[search])).size
    if levels < MIN_GREY_LEVELS:
        raise RegionNotFound(f"only {levels} distinct grey levels: a mask or label image, not a B-mode frame")
    detail: dict[str, Any] = {"search_box": [x0, y0, x1, y1]}
    if box_is_area:
        area = echo = search
        detail["method"] = "DICOM region box"
    else:
        raw = (grey > TISSUE_THRESHOLD) & search & ~colour
        labels, sizes = _components(raw)
        if sizes.max(initial=0) < MIN_AREA_FRACTION * n_search:
            raise RegionNotFound(
                f"largest connected echo piece has {int(sizes.max(initial=0))} px, under "
                f"{MIN_AREA_FRACTION:.0%} of the {n_search} px searched"
            )
        body = (sizes >= MIN_AREA_FRACTION * n_search)[labels] & raw  # text and ticks are small pieces
        labels, sizes = _components(_morph(ndimage.binary_closing, body, CLOSING_RADIUS))
        k = int(np.argmax(sizes))
        area = ndimage.binary_fill_holes(labels == k) & search
        # Closing grows the area a little past the true edge: trim it to the convex hull of the echo
        # pixels themselves, which stop exactly at the edge (speckle's dark pixels lie inside).
        echo = area & raw
        area &= convex_hull_image(echo)
        echo &= area
        detail["method"] = (
            "pixels: echo above grey level 10 in connected pieces of at least 4 % of the searched area, "
            "closed, largest region with holes filled, trimmed to the convex hull of its echo pixels"
        )
    detail_grey = grey - ndimage.gaussian_filter(grey, 1.5)  # speckle lives in the fine scales
    texture = detail_grey[area & ~colour]
    if texture.size == 0 or float(texture.std()) < MIN_TEXTURE_STD:
        raise RegionNotFound(f"no speckle texture in the candidate area (fine-scale grey std < {MIN_TEXTURE_STD:g})")

    ys, xs = np.nonzero(area)
    area_box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    outside = ((grey >= ANNOTATION_GREY) | colour) & ~dilate(area, CLOSING_RADIUS)
    labels, sizes = _components(outside)
    keep = sizes >= MIN_ANNOTATION_PIXELS
    outside = keep[labels] & outside
    white = (grey >= OVERLAY_WHITE) & area & ~colour
    wl, ws = _components(white)
    small = (ws > 0) & (ws <= MAX_OVERLAY_PIXELS)
    overlay = small[wl] & white
    detail.update(area_px=int(area.sum()), overlay_px=int(overlay.sum()), colour_px=int((colour & area).sum()))
    return ImagingArea(
        mask=area,
        box=area_box,
        echo=echo,
        annotations=outside | overlay,
        colour=colour,
        text_components=int(keep.sum()),
        detail=detail,
    )


@dataclass(frozen=True)
class _EdgeFit:
    kind: str  # linear, sector, unclear, or fills (the area reaches both sides of the searched box)
    apex: tuple[float, float] | None
    angles: tuple[float, float]  # of the left and right edges from the vertical, radians, modulo pi
    residual: float
    note: str
    flat_top: bool = False  # (fills only) the area's first rows span the whole box: a rectangle


def edge_angle(dx: float, dy: float) -> float:
    """Angle of the line along (dx, dy) from the image vertical, in [-pi/2, pi/2).

    A line has no direction: (dx, dy) and (-dx, -dy) are the same line, so angles are taken modulo
    pi. An edge fitted pointing up, at -pi (or pi), is vertical like one pointing down at 0.
    """
    theta = math.atan2(dx, dy)
    return (theta + math.pi / 2) % math.pi - math.pi / 2


def _robust_edge(y: np.ndarray, x: np.ndarray) -> tuple[float, tuple[float, float], float, float]:
    """A straight edge through points (x, y) by total least squares with outlier rejection (3 robust
    sigmas, 3 rounds): its angle from the vertical (modulo pi), a point on it, the rms distance of
    the inliers and the inlier fraction. Bumps where text or markers touch an edge become outliers."""
    pts = np.column_stack([x, y]).astype(np.float64)
    keep = np.ones(len(pts), bool)
    for _ in range(4):
        centre = pts[keep].mean(axis=0)
        _w, vectors = np.linalg.eigh(np.cov((pts[keep] - centre).T))
        direction = vectors[:, -1]  # principal axis: the edge direction, of either sign
        normal = np.array([-direction[1], direction[0]])
        res = (pts - centre) @ normal
        scale = max(0.7, 1.4826 * float(np.median(np.abs(res[keep]))))
        new_keep = np.abs(res) <= 3.0 * scale
        if new_keep.sum() < 3 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    rms = float(np.sqrt(np.mean(res[keep] ** 2))) if keep.any() else math.inf
    angle = edge_angle(float(direction[0]), float(direction[1]))
    return angle, (float(centre[0]), float(centre[1])), rms, float(keep.mean())


def _extents(mask: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of `rows` where `mask` has pixels, with the leftmost and rightmost column on each."""
    rows = rows[mask[rows].any(axis=1)]
    band = mask[rows]
    left = np.argmax(band, axis=1).astype(np.float64)
    right = (band.shape[1] - 1 - np.argmax(band[:, ::-1], axis=1)).astype(np.float64)
    return rows, left, right


def _supported(support: np.ndarray, rows: np.ndarray, left: np.ndarray, right: np.ndarray) -> float:
    """Smaller fraction (left or right) of rows whose traced edge pixel has area or overlay within
    SUPPORT_PX: a hull edge bridging a dent is supported where the dent is an overlay (colour, bars, text), not where
    it is a chord across dark tissue or an empty corner."""
    w = support.shape[1]
    fractions = []
    for cols in (left, right):
        lo = np.clip(cols.astype(int) - SUPPORT_PX, 0, w - 1)
        hi = np.clip(cols.astype(int) + SUPPORT_PX, 0, w - 1)
        cum = np.concatenate([np.zeros((len(rows), 1), np.int32), np.cumsum(support[rows], axis=1)], axis=1)
        hits = cum[np.arange(len(rows)), hi + 1] - cum[np.arange(len(rows)), lo]
        fractions.append(float(np.mean(hits > 0)))
    return min(fractions)


def _fit_band(mask: np.ndarray, rows: np.ndarray, height: int, support: np.ndarray | None = None) -> _EdgeFit:
    """Fit both lateral edges of `mask` over `rows` and say what they show; with `support`, the
    traced edges must also lie on supported pixels (see `_supported`)."""
    rows, left, right = _extents(mask, rows)
    if len(rows) < 5:
        return _EdgeFit("unclear", None, (0.0, 0.0), 0.0, f"only {len(rows)} rows to fit the lateral edges on")
    if support is not None and _supported(support, rows, left, right) < MIN_EDGE_INLIERS:
        return _EdgeFit(
            "unclear", None, (0.0, 0.0), 0.0, "the echo's convex hull bridges dark or missing area at a lateral edge"
        )
    yy = rows.astype(np.float64)
    al, pl, res_l, in_l = _robust_edge(yy, left)
    ar, pr, res_r, in_r = _robust_edge(yy, right)
    residual = max(res_l, res_r)
    angles = (al, ar)
    if min(in_l, in_r) < MIN_EDGE_INLIERS:
        return _EdgeFit(
            "unclear", None, angles, residual, f"only {min(in_l, in_r):.0%} of the rows lie on a straight lateral edge"
        )
    if residual > max(1.5, 0.01 * height):
        return _EdgeFit("unclear", None, angles, residual, f"lateral edges are not straight (rms {residual:.1f} px)")
    linear, sector = math.atan(LINEAR_MAX_SLOPE), math.atan(SECTOR_MIN_SLOPE)
    if abs(al) <= linear and abs(ar) <= linear:
        return _EdgeFit("linear", None, angles, residual, "parallel vertical lateral edges")
    if al <= -sector and ar >= sector:
        tl, tr = math.tan(al), math.tan(ar)  # x = px + t (y - py) on each edge
        y = (pr[0] - pl[0] + tl * pl[1] - tr * pr[1]) / (tl - tr)
        apex = (pl[0] + tl * (y - pl[1]), y)
        above = float(rows[0]) - y
        if above > APEX_MAX_HEIGHTS * height:
            return _EdgeFit(
                "unclear",
                None,
                angles,
                residual,
                f"lateral edges diverge slightly, but their apex would lie {above:.0f} px above the area "
                f"(over {APEX_MAX_HEIGHTS:g} times its height): no probe's fan",
            )
        return _EdgeFit("sector", apex, angles, residual, "diverging straight lateral edges")
    return _EdgeFit(
        "unclear",
        None,
        angles,
        residual,
        f"lateral edges at {math.degrees(al):.1f} and {math.degrees(ar):.1f} degrees from vertical fit neither probe",
    )


def _on_border(mask: np.ndarray, rows: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float]:
    """Fractions of `rows` whose leftmost / rightmost area pixel lies on the searched box's side."""
    rows, left, right = _extents(mask, rows)
    if len(rows) == 0:
        return 0.0, 0.0
    x0, _y0, x1, _y1 = box
    return float(np.mean(left <= x0 + BORDER_PX)), float(np.mean(right >= x1 - 1 - BORDER_PX))


def _fit_edges(area: ImagingArea) -> _EdgeFit:
    """Linear, sector, unclear, or `fills` (lateral edges on the searched box's sides), from the area.

    Each row window of EDGE_WINDOWS is tried with two edge tracings, the convex hull of the echo
    pixels (bridges dents: dropout, colour bars over an edge) and the area's own row extents
    (unbent by a far-off bump); the first window and tracing that shows a straight-edged linear or
    sector area gives the geometry, else the first fit's reason is returned.
    """
    from skimage.morphology import convex_hull_image

    mask = area.echo
    rows_any = np.nonzero(mask.any(axis=1))[0]
    top, bottom = int(rows_any[0]), int(rows_any[-1])
    height = bottom - top + 1
    if height < 20:
        return _EdgeFit("unclear", None, (0.0, 0.0), 0.0, f"imaging area only {height} rows tall")
    box = tuple(area.detail.get("search_box") or (0, 0, mask.shape[1], mask.shape[0]))
    upper = np.arange(top + round(EDGE_ROWS[0] * height), top + round(EDGE_ROWS[1] * height) + 1)
    # colour overlays (bars, Doppler) over an edge hide it: they count as reaching the side too
    on_left, on_right = _on_border(area.mask | area.colour, upper, box)  # type: ignore[arg-type]
    if max(on_left, on_right) >= BORDER_ROWS:
        sides = " and ".join(s for s, f in (("left", on_left), ("right", on_right)) if f >= BORDER_ROWS)
        x0, _y0, x1, _y1 = box
        first = area.mask[top : top + max(2, round(TOP_BAND * height))]
        flat = bool(min(on_left, on_right) >= BORDER_ROWS and first[:, x0:x1].mean() >= 0.9)
        return _EdgeFit(
            "fills",
            None,
            (0.0, 0.0),
            0.0,
            f"the imaging area reaches the {sides} side(s) of the searched area: those edges are its border, "
            "not the probe's",
            flat_top=flat,
        )
    hull = convex_hull_image(mask)
    support = area.mask | area.colour | area.annotations  # overlays hide an edge; dark tissue does not
    fits = []
    for lo, hi in EDGE_WINDOWS:
        rows = np.arange(top + round(lo * height), top + round(hi * height) + 1)
        for traced, needs in ((hull, support), (area.mask, None)):
            fit = _fit_band(traced, rows, height, needs)
            if fit.kind != "unclear":
                return fit
            fits.append(fit)
    return fits[0]


def _kind_of_transducer(transducer_type: str | None) -> str | None:
    if not transducer_type:
        return None
    if "LINEAR" in transducer_type and "CURVED" not in transducer_type:
        return "linear"
    if any(word in transducer_type for word in _SECTOR_WORDS):
        return "sector"
    return None


#: Probe model names in TransducerData, by the vendors' naming: L12-5, VF13-5, HFL38, 9L, M12L are
#: linear arrays; C5-1, CA430, 4C curved and S5-1, P4-2, X5-1, 3S, M5Sc phased arrays (both "sector"
#: here: depth is radial from an apex).
_LINEAR_MODELS = re.compile(r"^(?:(?:L|HL|ML|SL|VF|LA|HFL|EL|LF|LV|BL)\d|M?\d+L(?:-\w+)?$)")
_SECTOR_MODELS = re.compile(r"^(?:(?:C|CA|CL|AB|EC|IC|BC|CH|CX|EV|S|P|PA|SP|X|XS)\d|M?\d+[CS][CD]?(?:-\w+)?$)")


def _kind_of_model(transducer_data: str | None) -> str | None:
    token = (transducer_data or "").strip().upper()
    if _LINEAR_MODELS.match(token):
        return "linear"
    if _SECTOR_MODELS.match(token):
        return "sector"
    return None


def stated_probe(
    transducer_type: str | None, transducer_data: str | None = None, source_probe: str | None = None
) -> tuple[str | None, str]:
    """(linear / sector / None, evidence) from what the file or source says about the probe, in this
    order: DICOM TransducerType, the probe model named in TransducerData, the source's `probe`.
    The evidence names the attribute and the probe class, never the header text."""
    kind = _kind_of_transducer(transducer_type)
    if kind:
        return kind, f"TransducerType {transducer_type}"
    kind = _kind_of_model(transducer_data)
    if kind:
        what = "linear-array" if kind == "linear" else "curved or phased-array"
        return kind, f"TransducerData names a {what} probe model"
    probe = (source_probe or "").strip().lower()
    if probe in ("linear", "sector", "curved", "phased"):
        kind = "linear" if probe == "linear" else "sector"
        return kind, f"the source states a {probe} probe"
    return None, ""


def fit_probe_geometry(
    area: ImagingArea,
    region: UltrasoundRegion | None = None,
    transducer_type: str | None = None,
    *,
    transducer_data: str | None = None,
    source_probe: str | None = None,
) -> ProbeGeometry:
    """Linear or sector geometry of the imaging area: the DICOM region and the stated probe first,
    the pixels to confirm (or, when nothing is stated, to decide)."""
    fit = _fit_edges(area)
    stated, said = stated_probe(transducer_type, transducer_data, source_probe)
    if fit.kind == "fills":
        if region is not None and fit.flat_top and stated in (None, "linear"):
            kind = "linear"
            source = (f"{said}; " if stated else "") + (
                "the imaging area fills the rectangular DICOM region (RegionLocationMin/Max) to its sides and top"
            )
        elif stated:
            kind, source = stated, f"{said} (the pixels cannot confirm: {fit.note})"
        else:
            where = "DICOM region" if region is not None else "frame"
            raise GeometryUnclear(f"{fit.note.replace('searched area', where)}; nothing states the probe's geometry")
    else:
        if stated and fit.kind not in (stated, "unclear"):
            raise GeometryUnclear(f"{said} says {stated}, the pixels show a {fit.kind} area")
        kind = stated or fit.kind
        if kind == "unclear":
            raise GeometryUnclear(fit.note)
        if stated:
            source = f"{said}, confirmed by the pixels ({fit.note})" if fit.kind == stated else said
        else:
            source = f"pixels: {fit.note}"
    mm = region.mm_per_pixel() if region is not None else None
    if kind == "linear":
        if region is not None:
            return ProbeGeometry(
                "linear", f"{source}; top edge = DICOM RegionLocationMinY0", float(region.y0), mm_per_px=mm
            )
        return ProbeGeometry("linear", f"{source}; top edge = first row of the imaging area", float(area.box[1]))

    ys, xs = np.nonzero(area.echo)
    apex = fit.apex
    evidence = f"{source}; apex = intersection of the fitted lateral edges"
    ref = region.reference_absolute() if region is not None else None
    if region is not None and ref is not None:
        zero = region.reference_value is None or all(abs(v) < 1e-9 for v in region.reference_value)
        above = region.x0 <= ref[0] <= region.x1 and ref[1] <= area.box[1] + 2
        depth = float(ys.max()) - ref[1]
        agrees = apex is None or np.hypot(apex[0] - ref[0], apex[1] - ref[1]) <= max(APEX_AGREEMENT_PX, 0.1 * depth)
        if zero and above and agrees:
            apex = ref
            evidence = f"{source}; apex = DICOM reference pixel (physical value 0, 0), consistent with the fan edges"
    if apex is None:
        raise GeometryUnclear(f"{source}, but no apex: {fit.note}")
    face = float(np.hypot(xs - apex[0], ys - apex[1]).min())
    return ProbeGeometry("sector", evidence, apex=(float(apex[0]), float(apex[1])), face_radius_px=face, mm_per_px=mm)


def locate_imaging_area(
    pixels: np.ndarray,
    region: UltrasoundRegion | None = None,
    transducer_type: str | None = None,
    *,
    transducer_data: str | None = None,
    source_probe: str | None = None,
) -> tuple[ImagingArea, ProbeGeometry]:
    """The imaging area and probe geometry of a frame, using a DICOM region box when given.

    A linear region is its whole box (the calibrated area, dark structures included); a sector's
    area is the fan segmented inside the box.
    """
    box = region.box(pixels.shape) if region is not None else None
    stated, _said = stated_probe(transducer_type, transducer_data, source_probe)
    linear_box = region is not None and stated == "linear"
    area = segment_imaging_area(pixels, box, box_is_area=linear_box)
    geometry = fit_probe_geometry(
        area, region, transducer_type, transducer_data=transducer_data, source_probe=source_probe
    )
    if region is not None and geometry.kind == "linear" and not linear_box:
        area = segment_imaging_area(pixels, box, box_is_area=True)
    return area, geometry
