"""Procedural synthetic radiograph phantoms: the built-in sample source.

The toolkit must build a benchmark with no downloads, so it ships these deterministic, drawn-from-
shapes radiographs as its sample images. Their job is the image-orientation task (is the image
upright, or turned 90/180/270 degrees?), so each phantom carries several unmistakable, anatomically
plausible orientation cues rather than photo-realism: a chest has the neck and shoulders at the top,
the heart towards the image right, the gastric bubble under the image-right hemidiaphragm; a pelvis
has the iliac wings at the top and the femoral shafts leaving through the bottom edge. Both carry a
radiopaque "R" side marker in the upper image-left corner.

Display convention (that of a standard PA/AP radiograph as read on a viewer):

* the patient's head is at the top of the image;
* the patient's RIGHT is on the image LEFT (as if facing the patient);
* pixel values are 12-bit (0..4095) in a ``numpy.uint16`` array, and HIGHER means more attenuation
  and is shown BRIGHTER (DICOM MONOCHROME2): air dark, soft tissue mid-grey, bone and metal bright.

`variant` only perturbs shape parameters (sizes, positions, body width, contrast, noise) through a
generator seeded with the variant, never numpy's global random state, so a given (variant, size)
gives the same bytes on every call and in every process.

These images are synthetic: no patient data is involved. They are released by the project under
CC0-1.0.
"""

from __future__ import annotations

import operator

import numpy as np
from skimage.draw import ellipse, line_aa, polygon2mask
from skimage.filters import gaussian

__all__ = ["chest_pa", "pelvis_ap"]

MAX_VALUE = 4095  # 12-bit
MIN_SIZE = 32
_MARKER_VALUE = 4000.0  # lead marker: brighter than any anatomy (which stays below ~3700)


def _check_args(variant: int, size: int) -> tuple[int, int]:
    """Validate early so a bad call fails with a clear message instead of a drawing error."""
    try:
        variant = operator.index(variant)
        size = operator.index(size)
    except TypeError as exc:
        raise TypeError(f"variant and size must be integers: {exc}") from None
    if variant < 0:
        raise ValueError(f"variant must be a non-negative integer, got {variant}")
    if size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE}, got {size}")
    return variant, size


def _qbez(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], n: int = 24) -> np.ndarray:
    """Points (n, 2) of a quadratic Bezier curve: smooth anatomical outlines from three numbers."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    a, b, c = (np.asarray(p, dtype=float) for p in (p0, p1, p2))
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * b + t**2 * c


def _fill_polygon(rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """A filled polygon over pixel centres as a (size, size) bool mask (skimage's even-odd rule)."""
    return polygon2mask((size, size), np.column_stack([rows, cols]))


class _Frame:
    """Maps canonical (u, v) body coordinates to pixels and rasterises shapes.

    Anatomy is described once in canonical units (u across, v down, both 0..1 over the image); the
    per-variant shift (cx, cy) and scale (sx, sy) of the body is applied here, so every shape moves
    and stretches together and the cues stay consistent.
    """

    def __init__(self, size: int, cx: float, cy: float, sx: float, sy: float) -> None:
        self.size = size
        self.cx, self.cy, self.sx, self.sy = cx, cy, sx, sy
        px = (np.arange(size, dtype=float) + 0.5) / size
        self.u = (px - cx) / sx + 0.5  # canonical u of each column
        self.v = (px - cy) / sy + 0.5  # canonical v of each row
        self.unit = size * 0.5 * (sx + sy)  # pixels per canonical unit (for widths)

    def to_px(self, pts: np.ndarray) -> np.ndarray:
        """Canonical (u, v) points -> pixel (col, row) coordinates (pixel centres at integers)."""
        pts = np.asarray(pts, dtype=float).reshape(-1, 2)
        col = (self.cx + (pts[:, 0] - 0.5) * self.sx) * self.size - 0.5
        row = (self.cy + (pts[:, 1] - 0.5) * self.sy) * self.size - 0.5
        return np.stack([col, row], axis=1)

    def zeros(self) -> np.ndarray:
        return np.zeros((self.size, self.size), dtype=float)

    def poly(self, pts: np.ndarray, out: np.ndarray | None = None, value: float = 1.0) -> np.ndarray:
        """Filled polygon; with `out`, its value is added (overlapping bones add, like X-rays)."""
        m = self.zeros() if out is None else out
        p = self.to_px(pts)
        m += value * _fill_polygon(p[:, 1], p[:, 0], self.size)
        return m

    def band(
        self, pts: np.ndarray, half_width: float, out: np.ndarray | None = None, value: float = 1.0, taper: float = 1.0
    ) -> np.ndarray:
        """A thick curve (clavicle, rib, femoral shaft) along canonical points.

        Rasterised by splatting a sub-pixel lattice of points laid across the curve, which is much
        faster than a polygon fill over a long, thin, curved shape. `taper` scales the half-width
        linearly from the first point (1) to the last (taper).
        """
        p = self.to_px(pts)
        arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
        n = int(arc[-1] / 0.4) + 2
        t = np.linspace(0.0, arc[-1], n)
        col, row = np.interp(t, arc, p[:, 0]), np.interp(t, arc, p[:, 1])
        dc, dr = np.gradient(col), np.gradient(row)
        norm = np.maximum(np.hypot(dc, dr), 1e-9)
        hw = half_width * self.unit * np.linspace(1.0, taper, n)
        k = np.linspace(-1.0, 1.0, int(2.0 * max(hw.max(), 0.5) / 0.4) + 2)
        cc = np.rint(col[:, None] - (dr / norm * hw)[:, None] * k).astype(np.intp).ravel()
        rr = np.rint(row[:, None] + (dc / norm * hw)[:, None] * k).astype(np.intp).ravel()
        ok = (rr >= 0) & (rr < self.size) & (cc >= 0) & (cc < self.size)
        m = self.zeros() if out is None else out
        m[rr[ok], cc[ok]] += value  # a pixel hit twice still gets `value` once (fancy indexing)
        return m

    def ellipse(
        self,
        u: float,
        v: float,
        ru: float,
        rv: float,
        rotation: float = 0.0,
        out: np.ndarray | None = None,
        value: float = 1.0,
    ) -> np.ndarray:
        """Filled ellipse centred at canonical (u, v); radii in canonical units."""
        m = self.zeros() if out is None else out
        c = self.to_px([(u, v)])[0]
        rr, cc = ellipse(
            c[1],
            c[0],
            max(rv * self.sy * self.size, 0.5),
            max(ru * self.sx * self.size, 0.5),
            shape=m.shape,
            rotation=rotation,
        )
        m[rr, cc] += value
        return m

    def tube(self, v_knots: list[float], centre_knots: list[float], half_width_knots: list[float]) -> np.ndarray:
        """Relative X-ray path length (0..1) through a roughly cylindrical body part.

        Centre and half-width are interpolated per row, so a torso or a limb gets rounded, fading
        edges like a real projection of an elliptical cross-section. Zero outside the v range.
        """
        c = np.interp(self.v, v_knots, centre_knots)
        hw = np.interp(self.v, v_knots, half_width_knots, left=0.0, right=0.0)
        inside = hw > 1e-6
        r2 = np.where(inside[:, None], ((self.u[None, :] - c[:, None]) / np.where(inside, hw, 1.0)[:, None]) ** 2, 2.0)
        return np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))

    def px_sigma(self, canonical: float) -> float:
        return max(canonical * self.unit, 0.5)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return gaussian(img, sigma=sigma, mode="nearest", preserve_range=True)


def _cortex(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Inner rim of a bone mask: compact cortical bone is denser than the medulla inside it."""
    m = np.minimum(mask, 1.0)
    return np.clip(m - _blur(m, sigma), 0.0, 1.0)


def _marker_r(size: int) -> np.ndarray:
    """A lead "R" side marker in the upper image-left corner (image coordinates, not the body's)."""
    frame = _Frame(size, 0.5, 0.5, 1.0, 1.0)
    x0, y0, w, h = 0.035, 0.03, 0.05, 0.07
    hw = max(0.0065, 1.0 / size)
    m = frame.band(np.array([(x0, y0), (x0, y0 + h)]), hw)  # stem
    bowl = np.concatenate(
        [
            np.array([(x0, y0), (x0 + 0.55 * w, y0)]),
            _qbez((x0 + 0.55 * w, y0), (x0 + 1.05 * w, y0 + 0.25 * h), (x0 + 0.55 * w, y0 + 0.5 * h), 12),
            np.array([(x0, y0 + 0.5 * h)]),
        ]
    )
    frame.band(bowl, hw, out=m)
    frame.band(np.array([(x0 + 0.35 * w, y0 + 0.5 * h), (x0 + w, y0 + h)]), hw, out=m)  # leg
    return np.minimum(m, 1.0)


def _finish(img: np.ndarray, size: int, noise_sd: float, rng: np.random.Generator) -> np.ndarray:
    """Stamp the marker, soften edges, add quantum-like noise and quantise to 12-bit uint16."""
    img = np.maximum(img, _marker_r(size) * _MARKER_VALUE)
    img = _blur(img, max(0.5, 1.0 * size / 512))
    img += rng.standard_normal((size, size)) * noise_sd
    return np.rint(np.clip(img, 0.0, MAX_VALUE)).astype(np.uint16)


def _mirror(pts: np.ndarray) -> np.ndarray:
    """Reflect canonical points across the midline (patient's right <-> left)."""
    pts = np.array(pts, dtype=float)
    pts[:, 0] = 1.0 - pts[:, 0]
    return pts


class _Bones:
    """Accumulates bone: densities add where bones overlap (as in a projection), and the union
    mask gets one shared cortical rim so every bone has a bright, crisp edge."""

    def __init__(self, frame: _Frame) -> None:
        self.fill = frame.zeros()
        self.mask = frame.zeros()

    def add(self, m: np.ndarray, value: float) -> None:
        m = np.clip(m, 0.0, 1.0)
        self.fill += value * m
        np.maximum(self.mask, m, out=self.mask)

    def render(self, rim: float, sigma: float, knee: float = 2000.0) -> np.ndarray:
        """Summed density, softly saturated (x / (1 + x/knee)) so that three overlapping bones
        do not burn out to white, plus the cortical rim."""
        fill = np.maximum(self.fill, 0.0)
        return fill / (1.0 + fill / knee) + rim * _cortex(self.mask, sigma)


def chest_pa(variant: int, size: int = 512) -> np.ndarray:
    """A synthetic PA chest radiograph, (size, size) uint16, 12-bit, MONOCHROME2.

    Orientation cues: neck, shoulders and clavicles at the top; abdomen at the bottom; the heart
    shadow and aortic knob towards the image right (patient's left), the gastric bubble under the
    image-right hemidiaphragm, the image-left hemidiaphragm slightly higher; an "R" marker in the
    upper image-left corner.
    """
    variant, size = _check_args(variant, size)
    rng = np.random.default_rng(variant)
    # Shape parameters: always drawn in this order so each variant is reproducible.
    cx, cy = 0.5 + rng.uniform(-0.015, 0.015), 0.5 + rng.uniform(-0.015, 0.015)
    sx, sy = rng.uniform(0.92, 1.04), rng.uniform(0.95, 1.03)
    contrast = rng.uniform(0.9, 1.1)
    air = rng.uniform(90.0, 160.0)
    heart_scale = rng.uniform(0.95, 1.1)
    heart_du = rng.uniform(-0.012, 0.02)
    dia = rng.uniform(-0.025, 0.025)  # both hemidiaphragms up/down (depth of inspiration)
    dia_left_drop = rng.uniform(0.01, 0.025)  # patient's left (image right) lies lower
    rib_step = 0.056 * rng.uniform(0.95, 1.05)
    rib_start = 0.165 + rng.uniform(-0.01, 0.01)
    clav_tilt = rng.uniform(-0.015, 0.015)
    lung_dark = rng.uniform(0.66, 0.74)
    noise_sd = rng.uniform(14.0, 24.0)

    f = _Frame(size, cx, cy, sx, sy)
    gain = 2500.0 * contrast
    vv = f.v[:, None]

    # Soft tissue: neck, shoulders, torso and the two arms beside it.
    body = f.tube(
        [-0.05, 0.06, 0.085, 0.11, 0.135, 0.16, 0.21, 0.32, 0.6, 1.05],
        [0.5] * 10,
        [0.105, 0.11, 0.15, 0.27, 0.37, 0.41, 0.425, 0.385, 0.375, 0.37],
    )
    arm_r = f.tube([0.15, 0.2, 0.6, 1.05], [0.095, 0.085, 0.06, 0.05], [0.0, 0.055, 0.05, 0.048])
    arm_l = f.tube([0.15, 0.2, 0.6, 1.05], [0.905, 0.915, 0.94, 0.95], [0.0, 0.055, 0.05, 0.048])
    thick = np.maximum(body, np.maximum(arm_r, arm_l) * 0.85) ** 0.6

    # Lungs (image-left = patient's right), outlined by lateral wall, diaphragm dome, mediastinum.
    def lung(apex: float, base: float, dome: float, cp: float) -> np.ndarray:
        return np.concatenate(
            [
                _qbez((0.31, apex), (0.15, apex + 0.035), (0.125, 0.50), 10),
                _qbez((0.125, 0.50), (0.118, 0.66), (0.145, cp), 8),
                _qbez((0.145, cp), (0.25, cp - dome), (0.445, base), 10),  # dome, peak mid-clavicular
                _qbez((0.445, base), (0.47, 0.33), (0.37, apex + 0.01), 10),
            ]
        )

    d_r = 0.735 + dia
    d_l = d_r + dia_left_drop
    lungs = f.poly(lung(0.135, d_r - 0.07, 0.17, d_r))
    f.poly(_mirror(lung(0.14, d_l - 0.06, 0.16, d_l)), out=lungs)

    # Heart (apex towards image right and down), right atrial border, mediastinum, aortic knob.
    hs = heart_scale
    heart = f.ellipse(0.575 + heart_du, d_l - 0.125, 0.18 * hs, 0.12 * hs, rotation=0.35)
    f.ellipse(0.455, d_r - 0.14, 0.045, 0.085, out=heart)
    heart = np.minimum(heart, 1.0)
    medi = f.poly(np.array([(0.445, 0.10), (0.555, 0.10), (0.575, 0.30), (0.56, 0.55), (0.44, 0.55), (0.425, 0.30)]))
    f.ellipse(0.585, 0.295, 0.038, 0.032, out=medi)  # aortic knob, patient's left
    lung_eff = np.minimum(lungs, 1.0) * (1.0 - np.minimum(heart + medi, 1.0))
    apex_fade = np.clip(0.75 + 0.55 * (vv - 0.15), 0.75, 1.0)  # apices overlap more soft tissue

    # Trachea and main bronchi: a dark air column in the midline splitting at the carina.
    airway = f.band(np.array([(0.5, -0.05), (0.5, 0.3)]), 0.016)
    f.band(_qbez((0.5, 0.29), (0.47, 0.33), (0.425, 0.37), 8), 0.011, out=airway)
    f.band(_qbez((0.5, 0.29), (0.535, 0.33), (0.585, 0.385), 8), 0.011, out=airway)

    # Gastric bubble under the image-right (patient's left) hemidiaphragm: dome on a fluid level.
    bubble = f.ellipse(0.64, d_l + 0.045, 0.055, 0.032) * (vv < d_l + 0.05)

    soft = (
        gain * thick
        - gain * lung_dark * lung_eff * apex_fade
        + 70.0 * contrast * heart
        - 380.0 * contrast * np.minimum(airway, 1.0)
        - 420.0 * contrast * bubble
    )

    # Pulmonary vessels: faint branching lines from each hilum, visible only over the lungs.
    vessels = f.zeros()
    for hilum, side in (((0.43, 0.41), -1.0), ((0.575, 0.43), 1.0)):
        for _ in range(9):
            ang = rng.uniform(-0.45, 1.25) * np.pi / 2  # 0 = sideways outwards, >0 = downwards
            length = rng.uniform(0.09, 0.2)
            mid = (hilum[0] + side * np.cos(ang) * length * 0.6, hilum[1] + np.sin(ang) * length * 0.6)
            segs = [(hilum, mid, 1.0)]
            for da in (-0.35, 0.35):
                a2 = ang + da + rng.uniform(-0.15, 0.15)
                end = (mid[0] + side * np.cos(a2) * length * 0.6, mid[1] + np.sin(a2) * length * 0.6)
                segs.append((mid, end, 0.6))
            for a, b, w in segs:
                p = f.to_px([a, b])
                r0, c0, r1, c1 = (int(x) for x in np.rint([p[0, 1], p[0, 0], p[1, 1], p[1, 0]]))
                rr, cc, val = line_aa(r0, c0, r1, c1)
                ok = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
                vessels[rr[ok], cc[ok]] = np.maximum(vessels[rr[ok], cc[ok]], val[ok] * w)
    soft += 230.0 * contrast * vessels * lung_eff
    img = air + _blur(soft, f.px_sigma(0.004))

    # Bones.
    bones = _Bones(f)
    # Spine: vertebral bodies with dark disc spaces and paired pedicles, period 0.061 down the
    # midline (computed on the few columns it covers).
    cols = np.abs(f.u - 0.5) < 0.04
    du = f.u[cols][None, :] - 0.5
    dv = np.mod(f.v[:, None] + 0.02, 0.061)
    spine = ((np.abs(du) < 0.034) & (dv < 0.046)).astype(float)
    spine += 0.6 * (((np.abs(du) - 0.027) / 0.008) ** 2 + ((dv - 0.02) / 0.012) ** 2 < 1.0)
    bones.fill[:, cols] += 270.0 * contrast * spine

    clav = np.concatenate(
        [  # clavicles: gently S-shaped oblique bars across the lung apices
            _qbez((0.455, 0.195), (0.36, 0.19 + clav_tilt), (0.30, 0.165), 8),
            _qbez((0.30, 0.165), (0.22, 0.14 - clav_tilt), (0.165, 0.13), 8)[1:],
        ]
    )
    for pts in (clav, _mirror(clav)):
        bones.add(f.band(pts, 0.0145, taper=0.8), 800.0 * contrast)
    scap = np.array([(0.215, 0.135), (0.12, 0.18), (0.155, 0.40)])
    bones.fill += 200.0 * contrast * (f.poly(scap) + f.poly(_mirror(scap)))  # faint scapulae
    for u_head, u_mid, u_low in ((0.098, 0.085, 0.062), (0.902, 0.915, 0.938)):
        hum = f.ellipse(u_head, 0.205, 0.05, 0.052)
        f.band(np.array([(u_head, 0.21), (u_mid, 0.4), (u_low, 1.05)]), 0.024, out=hum)
        bones.add(hum, 850.0 * contrast)  # humeral heads and shafts at the top corners
        acromion = f.ellipse(u_head + (0.03 if u_head < 0.5 else -0.03), 0.155, 0.035, 0.018)
        bones.add(acromion, 650.0 * contrast)

    ribs = f.zeros()
    for k in range(10):  # posterior ribs arc outwards-down; anterior ribs run down-medially
        y0 = rib_start + k * rib_step
        post = _qbez((0.47, y0), (0.20, y0 - 0.05), (0.125, y0 + 0.1))
        ante = _qbez((0.13, y0 + 0.1), (0.19, y0 + 0.19), (0.35, y0 + 0.215))
        for pts in (post, _mirror(post)):
            f.band(pts, 0.0105, out=ribs, taper=1.2)
        for pts in (ante, _mirror(ante)):
            f.band(pts, 0.0095, out=ribs, value=0.45)
    ribs *= 0.25 + 0.75 * lung_eff  # ribs stand out over aerated lung, fade over the abdomen
    bones.add(ribs, 400.0 * contrast)

    img += bones.render(550.0 * contrast, f.px_sigma(0.005))
    return _finish(img, size, noise_sd, rng)


def pelvis_ap(variant: int, size: int = 512) -> np.ndarray:
    """A synthetic AP pelvis radiograph, (size, size) uint16, 12-bit, MONOCHROME2.

    Orientation cues: L5 and the sacrum at the top centre, the iliac wings fanning out at the top,
    the pubic symphysis and the obturator foramina low in the middle, and the femoral necks and
    shafts leaving through the bottom edge; an "R" marker in the upper image-left corner.
    """
    variant, size = _check_args(variant, size)
    rng = np.random.default_rng(variant)
    cx, cy = 0.5 + rng.uniform(-0.02, 0.02), 0.5 + rng.uniform(-0.015, 0.015)
    sx, sy = rng.uniform(0.93, 1.04), rng.uniform(0.95, 1.03)
    contrast = rng.uniform(0.9, 1.1)
    air = rng.uniform(90.0, 160.0)
    flare = rng.uniform(-0.02, 0.02)  # iliac wing width
    crest = rng.uniform(-0.015, 0.015)  # iliac crest height
    head_r = 0.066 * rng.uniform(0.93, 1.07)
    neck_dx = rng.uniform(-0.012, 0.012)  # neck-shaft angle
    shaft_hw = 0.043 * rng.uniform(0.93, 1.07)
    n_gas = int(rng.integers(3, 7))
    noise_sd = rng.uniform(14.0, 24.0)

    f = _Frame(size, cx, cy, sx, sy)
    gain = 2150.0 * contrast

    # Soft tissue: lower abdomen widening to the hips, then the two thighs.
    trunk = f.tube(
        [-0.05, 0.2, 0.4, 0.55, 0.72, 0.82, 0.88, 0.93], [0.5] * 8, [0.42, 0.45, 0.465, 0.475, 0.46, 0.37, 0.22, 0.0]
    )
    thigh_r = f.tube([0.55, 1.05], [0.29, 0.30], [0.2, 0.175])
    thigh_l = f.tube([0.55, 1.05], [0.71, 0.70], [0.2, 0.175])
    soft = gain * np.maximum(trunk, np.maximum(thigh_r, thigh_l)) ** 0.6

    # Bowel gas: a few dark blobs over the upper pelvis (different in every variant).
    gas = f.zeros()
    for _ in range(n_gas):
        f.ellipse(
            rng.uniform(0.28, 0.72),
            rng.uniform(0.08, 0.42),
            rng.uniform(0.02, 0.045),
            rng.uniform(0.015, 0.03),
            rotation=rng.uniform(-1.0, 1.0),
            out=gas,
        )
    soft -= 200.0 * contrast * np.minimum(gas, 1.0)
    img = air + _blur(soft, f.px_sigma(0.005))

    bones = _Bones(f)
    c = contrast
    # L5: body with transverse processes; pedicles and spinous process seen end-on.
    l5 = f.poly(np.array([(0.43, -0.05), (0.57, -0.05), (0.575, 0.085), (0.425, 0.085)]))
    f.band(np.array([(0.44, 0.05), (0.345, 0.03)]), 0.016, out=l5, taper=0.8)
    f.band(np.array([(0.56, 0.05), (0.655, 0.03)]), 0.016, out=l5, taper=0.8)
    bones.add(l5, 850.0 * c)
    end_on = f.ellipse(0.455, 0.03, 0.014, 0.02) + f.ellipse(0.545, 0.03, 0.014, 0.02)
    f.ellipse(0.5, 0.068, 0.01, 0.022, out=end_on)
    bones.fill += 220.0 * c * end_on

    # Sacrum: an inverted triangle below the L5/S1 disc with two columns of dark foramina.
    sacrum = f.poly(
        np.array(
            [
                (0.385, 0.105),
                (0.615, 0.105),
                (0.60, 0.17),
                (0.565, 0.30),
                (0.525, 0.40),
                (0.5, 0.425),
                (0.475, 0.40),
                (0.435, 0.30),
                (0.40, 0.17),
            ]
        )
    )
    bones.add(sacrum, 750.0 * c)
    for i, v in enumerate((0.165, 0.225, 0.28, 0.33)):
        r = 0.013 - 0.0015 * i
        for u in (0.455 + 0.005 * i, 0.545 - 0.005 * i):
            f.ellipse(u, v, r, r * 0.8, out=bones.fill, value=-280.0 * c)

    # Right hemipelvis and femur (image left); the patient's left side is their mirror image.
    fl, cr = flare, crest
    head = (0.255, 0.525)
    troch = (0.158 + neck_dx, 0.6)
    roof = np.linspace(np.pi * 1.08, np.pi * 1.9, 12)  # acetabular roof, over the femoral head
    acetab = np.stack([head[0] + (head_r + 0.012) * np.cos(roof), head[1] + (head_r + 0.012) * np.sin(roof)], axis=1)
    ilium = np.concatenate(
        [
            _qbez((0.375, 0.125), (0.26 - fl, -0.01 + cr), (0.095 - fl, 0.165 + cr), 10),  # crest
            _qbez((0.095 - fl, 0.165 + cr), (0.075 - fl, 0.245), (0.115 - fl * 0.5, 0.29), 6),  # ASIS
            np.array([(0.135, 0.325), (0.14, 0.37), (0.155, 0.43)]),  # AIIS
            acetab,
            _qbez(acetab[-1], (0.37, 0.40), (0.425, 0.305), 6)[1:],  # up along the pelvic brim
            np.array([(0.395, 0.17)]),  # along the sacroiliac joint
        ]
    )
    brim = _qbez((0.405, 0.2), (0.30, 0.43), (0.40, 0.545), 12)  # iliopectineal line
    intertroch = np.array(
        [(troch[0] - 0.02, troch[1] - 0.03), (0.205, 0.585), (0.238, 0.715), (0.215, 0.76), (0.135, 0.76)]
    )
    for mirror in (False, True):

        def mp(pts: np.ndarray, _m: bool = mirror) -> np.ndarray:
            return _mirror(pts) if _m else np.asarray(pts, dtype=float)

        def mu(u: float, _m: bool = mirror) -> float:
            return 1.0 - u if _m else u

        wing = f.poly(mp(ilium))
        bones.add(wing, 800.0 * c)
        fossa = ((f.u[None, :] - mu(0.245)) / 0.09) ** 2 + ((f.v[:, None] - 0.23) / 0.085) ** 2
        bones.fill -= 230.0 * c * np.clip(1.0 - fossa, 0.0, 1.0) * wing  # thin iliac fossa
        bones.fill += 300.0 * c * f.band(mp(brim), 0.008)
        bones.fill += 350.0 * c * f.band(mp(acetab), 0.011)  # acetabular roof over the head

        # Pubis and ischium ring around the dark obturator foramen.
        ring = f.band(mp(np.array([(0.28, 0.505), (0.475, 0.585)])), 0.03)  # superior ramus
        f.ellipse(mu(0.465), 0.64, 0.03, 0.062, out=ring)  # pubic body at the symphysis
        f.band(mp(np.array([(0.468, 0.69), (0.335, 0.765)])), 0.023, out=ring)  # inferior ramus
        f.band(mp(_qbez((0.245, 0.55), (0.26, 0.68), (0.315, 0.765), 8)), 0.042, out=ring)
        f.ellipse(mu(0.32), 0.765, 0.045, 0.03, out=ring)  # ischial tuberosity
        foramen = f.ellipse(mu(0.37), 0.652, 0.05, 0.062, rotation=0.3 if mirror else -0.3)
        ring = np.minimum(ring, 1.0) * (1.0 - foramen)
        bones.add(ring, 800.0 * c)

        # Femur: head, neck, trochanters and the shaft leaving through the bottom edge.
        femur = f.ellipse(mu(head[0]), head[1], head_r, head_r)
        f.band(mp(np.array([head, (troch[0] + 0.03, troch[1] + 0.02)])), 0.038, out=femur)
        f.ellipse(mu(troch[0]), troch[1], 0.042, 0.05, out=femur)  # greater trochanter
        f.poly(mp(intertroch), out=femur)
        f.ellipse(mu(0.225), 0.71, 0.022, 0.028, out=femur)  # lesser trochanter
        f.band(mp(np.array([(troch[0] + 0.025, troch[1]), (0.18, 0.8), (0.19, 1.06)])), shaft_hw, out=femur, taper=0.92)
        bones.add(femur, 1000.0 * c)

    img += bones.render(750.0 * c, f.px_sigma(0.006))
    return _finish(img, size, noise_sd, rng)
