"""Deterministic synthetic abdominal CT phantoms: the built-in sample source for CT tasks.

The toolkit must build a benchmark with no downloads, so it ships these drawn-from-shapes CT
volumes with exact organ labels. They serve two tasks, so they carry unmistakable cues for both
rather than photo-realism:

* contrast-enhancement detection (was IV contrast given?): with ``contrast=True`` the phantom looks
  portal-venous: bright aorta (~200 HU), IVC, portal and hepatic veins, enhancing renal cortex, liver,
  spleen and pancreas; without it blood is ~40 HU, darker than the liver. Fat, bone, bile and gastric
  fluid do not change, exactly as on a real scan.
* relative position of organs: liver on the patient's right, spleen on the left and posterior,
  kidneys posterior either side of the spine (the left one a little higher), aorta anterior-left of
  the vertebral body, IVC anterior-right, stomach left anterior. Organs cover different z-ranges, so
  different slices hold different organ pairs.

Geometry follows `medblink_build.volume`: arrays indexed [k, j, i] = [z, y, x] in LPS+ (+x patient's
left, +y posterior, +z superior); an axial slice ``hu[k]`` shown with row 0 on top is radiological
(anterior up, the patient's left on the image right, so the liver sits on the image left).

The anatomy is laid out in millimetres for a reference field of view of 320 x 320 mm in-plane and
200 mm in z (the default ``shape`` and ``spacing``); another shape or spacing rescales the patient to
fill its field of view the same way, so every organ stays in view.

`variant` only perturbs sizes, positions and tissue values by a few percent through generators from
`medblink_build.seeding` (never numpy's global random state), so the same arguments give the same
bytes on every call and in every process. One variant has the same anatomy with and without contrast.

These volumes are synthetic: no patient data is involved. They are released by the project under
CC0-1.0.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np
from scipy import ndimage  # a hard dependency of scikit-image

from ..seeding import rng_for
from ..volume import Volume

__all__ = ["ORGANS", "CTPhantom", "abdomen"]

ORGANS: dict[int, str] = {
    1: "liver",
    2: "spleen",
    3: "kidney_right",
    4: "kidney_left",
    5: "aorta",
    6: "inferior_vena_cava",
    7: "stomach",
    8: "vertebrae",
    9: "gallbladder",
    10: "pancreas",
}
_ID = {name: i for i, name in ORGANS.items()}

HU_MIN, HU_MAX = -1024, 3071  # the 12-bit CT range
Z_CENTRE_MM = -150.0  # LPS z of the volume centre; x and y are centred on 0
_REF_FOV_XY = 320.0  # mm: the default 128 x 2.5 mm
_REF_FOV_Z = 200.0  # mm: the default 40 x 5 mm
_MIN_SHAPE = (8, 32, 32)
_SIGMA_MM = (2.0, 1.25, 1.25)  # edge smoothing (z, y, x) in reference mm (at least 0.4 voxel)

# Tissue classes: the phantom is first drawn as a tissue map, then turned into HU through a table
# that depends on the contrast state, so hu and labels can never disagree.
(
    _AIR,
    _FAT,
    _VFAT,
    _MUSCLE,
    _BONE,
    _MARROW,
    _CSF,
    _LIVER,
    _SPLEEN,
    _CORTEX,
    _MEDULLA,
    _ARTERY,
    _VEIN,
    _PORTAL,
    _GAS,
    _FLUID,
    _WALL,
    _BILE,
    _PANCREAS,
    _STOOL,
) = range(20)
_N_TISSUES = 20


@dataclass(frozen=True, eq=False)  # eq=False: array fields make value equality ambiguous; compare arrays instead
class CTPhantom:
    """One synthetic CT volume with its exact organ labels (see `ORGANS`)."""

    hu: np.ndarray  # int16 (nz, ny, nx), Hounsfield units, LPS+ as in `medblink_build.volume`
    labels: np.ndarray  # uint8 (nz, ny, nx), 0 = background, else a key of ORGANS
    spacing: tuple[float, float, float]  # (sz, sy, sx) mm
    origin: tuple[float, float, float]  # LPS mm (x, y, z) of voxel [0, 0, 0]
    contrast: bool  # IV contrast (portal-venous-like) or not

    def to_volume(self, *, labels: bool = False) -> Volume:
        """The HU (or label) array as a `Volume`, so phantoms go through the same code as read files."""
        return Volume(
            data=self.labels if labels else self.hu,
            spacing=self.spacing,
            origin=self.origin,
            meta={"synthetic": True, "phantom": "abdomen_ct", "contrast": self.contrast},
        )


def _tissue_hu(contrast: bool, rng: np.random.Generator) -> np.ndarray:
    """HU per tissue class. Both states are always drawn so the stream (and the anatomy) is shared."""
    plain = {
        _AIR: -1000.0,
        _FAT: rng.uniform(-110.0, -95.0),
        _VFAT: rng.uniform(-100.0, -85.0),
        _MUSCLE: rng.uniform(45.0, 55.0),
        _BONE: rng.uniform(800.0, 900.0),
        _MARROW: rng.uniform(600.0, 680.0),
        _CSF: 15.0,
        _LIVER: rng.uniform(55.0, 65.0),
        _SPLEEN: rng.uniform(43.0, 48.0),
        _CORTEX: rng.uniform(32.0, 35.0),
        _MEDULLA: rng.uniform(28.0, 31.0),
        _ARTERY: rng.uniform(40.0, 45.0),
        _VEIN: rng.uniform(38.0, 43.0),
        _PORTAL: rng.uniform(38.0, 43.0),
        _GAS: -1000.0,
        _FLUID: rng.uniform(5.0, 15.0),
        _WALL: rng.uniform(35.0, 45.0),
        _BILE: rng.uniform(5.0, 12.0),
        _PANCREAS: rng.uniform(38.0, 45.0),
        _STOOL: rng.uniform(-60.0, 10.0),
    }
    enhanced = dict(plain)
    enhanced.update(
        {
            _MUSCLE: plain[_MUSCLE] + rng.uniform(8.0, 15.0),
            _LIVER: rng.uniform(100.0, 120.0),
            _SPLEEN: rng.uniform(110.0, 130.0),
            _CORTEX: rng.uniform(170.0, 200.0),
            _MEDULLA: rng.uniform(135.0, 155.0),
            _ARTERY: rng.uniform(180.0, 250.0),
            _VEIN: rng.uniform(140.0, 160.0),
            _PORTAL: rng.uniform(160.0, 190.0),
            _WALL: rng.uniform(85.0, 105.0),
            _PANCREAS: rng.uniform(95.0, 115.0),
        }
    )
    table = enhanced if contrast else plain
    return np.array([table[t] for t in range(_N_TISSUES)], dtype=np.float32)


class _Canvas:
    """Tissue and label maps plus reference-mm coordinates; shapes are drawn on their bounding box only.

    Every `paint` sets tissue and label together, and later paints overwrite earlier ones, so the
    drawing order is the z-order of the anatomy.
    """

    def __init__(self, shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> None:
        nz, ny, nx = shape
        sz, sy, sx = spacing
        s_xy = min(nx * sx, ny * sy) / _REF_FOV_XY
        s_z = nz * sz / _REF_FOV_Z
        # Reference-mm coordinates of voxel centres, relative to the volume centre.
        self.z = (np.arange(nz) - (nz - 1) / 2.0) * sz / s_z
        self.y = (np.arange(ny) - (ny - 1) / 2.0) * sy / s_xy
        self.x = (np.arange(nx) - (nx - 1) / 2.0) * sx / s_xy
        self.tissue = np.full(shape, _AIR, dtype=np.uint8)
        self.labels = np.zeros(shape, dtype=np.uint8)
        self.inside = np.zeros(shape, dtype=bool)  # the abdominal cavity (viscera are clipped to it)
        self.vox_mm = (sz / s_z, sy / s_xy, sx / s_xy)  # voxel size in reference mm

    @staticmethod
    def _range(axis: np.ndarray, lo: float, hi: float) -> slice:
        a, b = np.searchsorted(axis, lo, side="left"), np.searchsorted(axis, hi, side="right")
        return slice(int(a), int(b))

    def box(
        self, lo: tuple[float, float, float], hi: tuple[float, float, float]
    ) -> tuple[tuple[slice, slice, slice], np.ndarray, np.ndarray, np.ndarray]:
        """Slices and broadcastable (z, y, x) coordinates of the voxels within [lo, hi] (z, y, x mm)."""
        sl = (
            self._range(self.z, lo[0], hi[0]),
            self._range(self.y, lo[1], hi[1]),
            self._range(self.x, lo[2], hi[2]),
        )
        return sl, self.z[sl[0]][:, None, None], self.y[sl[1]][None, :, None], self.x[sl[2]][None, None, :]

    def ellipsoid(
        self, c: tuple[float, float, float], r: tuple[float, float, float], angle: float = 0.0
    ) -> tuple[tuple[slice, slice, slice], np.ndarray]:
        """Normalised radius (<= 1 inside) of an ellipsoid; c, r as (x, y, z) mm, `angle` in degrees about z.

        r along z may be `inf` for a cylinder through the whole volume.
        """
        (cx, cy, cz), (rx, ry, rz) = c, r
        reach = max(rx, ry)
        sl, z, y, x = self.box((cz - rz, cy - reach, cx - reach), (cz + rz, cy + reach, cx + reach))
        dx, dy = x - cx, y - cy
        th = math.radians(angle)
        u = dx * math.cos(th) + dy * math.sin(th)
        v = -dx * math.sin(th) + dy * math.cos(th)
        rho = np.sqrt((u / rx) ** 2 + (v / ry) ** 2 + ((z - cz) / rz) ** 2)
        return sl, rho

    def tube(
        self, p0: tuple[float, float, float], p1: tuple[float, float, float], r0: float, r1: float | None = None
    ) -> tuple[tuple[slice, slice, slice], np.ndarray, np.ndarray]:
        """A (tapered) capsule from p0 to p1 (x, y, z mm): normalised radius (<= 1 inside) and the centreline y."""
        r1 = r0 if r1 is None else r1
        a, b = np.asarray(p0, dtype=float), np.asarray(p1, dtype=float)
        reach = max(r0, r1)
        lo, hi = np.minimum(a, b) - reach, np.maximum(a, b) + reach
        sl, z, y, x = self.box((lo[2], lo[1], lo[0]), (hi[2], hi[1], hi[0]))
        d = b - a
        dd = float(d @ d) or 1.0
        t = np.clip(((x - a[0]) * d[0] + (y - a[1]) * d[1] + (z - a[2]) * d[2]) / dd, 0.0, 1.0)
        dist = np.sqrt((x - a[0] - t * d[0]) ** 2 + (y - a[1] - t * d[1]) ** 2 + (z - a[2] - t * d[2]) ** 2)
        return sl, dist / (r0 + t * (r1 - r0)), a[1] + t * d[1]

    def paint(
        self,
        sl: tuple[slice, slice, slice],
        mask: np.ndarray,
        tissue: int,
        label: int = 0,
        *,
        clip: bool = True,
        within: int | None = None,
    ) -> None:
        """Set tissue and label where `mask` holds (inside the cavity if `clip`, on label `within` if given)."""
        if clip:
            mask = mask & self.inside[sl]
        if within is not None:
            mask = mask & (self.labels[sl] == within)
        self.tissue[sl][mask] = tissue
        self.labels[sl][mask] = label


def _check_args(
    variant: int, shape: tuple[int, int, int], spacing: tuple[float, float, float]
) -> tuple[int, tuple[int, int, int], tuple[float, float, float]]:
    """Validate early so a bad call fails with a clear message instead of a broadcasting error."""
    try:
        variant = operator.index(variant)
        shape_t = tuple(operator.index(s) for s in shape)
    except TypeError as exc:
        raise TypeError(f"variant and shape must be integers: {exc}") from None
    if variant < 0:
        raise ValueError(f"variant must be a non-negative integer, got {variant}")
    if len(shape_t) != 3 or any(s < m for s, m in zip(shape_t, _MIN_SHAPE, strict=True)):
        raise ValueError(f"shape must be (nz, ny, nx) of at least {_MIN_SHAPE}, got {tuple(shape)}")
    spacing_t = tuple(float(s) for s in spacing)
    if len(spacing_t) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing_t):
        raise ValueError(f"spacing must be three positive (sz, sy, sx) millimetres, got {tuple(spacing)}")
    return variant, shape_t, spacing_t  # type: ignore[return-value]


def _keep_largest(cv: _Canvas) -> None:
    """Each organ must be one 3-D component: stray fragments left by later organs become visceral fat."""
    for lab, sl in enumerate(ndimage.find_objects(cv.labels), start=1):
        if sl is None:
            continue
        block = cv.labels[sl] == lab
        comps, n = ndimage.label(block)
        if n > 1:
            sizes = np.bincount(comps.ravel())
            sizes[0] = 0
            stray = block & (comps != int(sizes.argmax()))
            cv.labels[sl][stray] = 0
            cv.tissue[sl][stray] = _VFAT


def _smooth_kernel_gain(sigma: tuple[float, ...]) -> float:
    """Factor by which `ndimage.gaussian_filter(sigma)` scales the sd of white noise (truncate=4)."""
    gain = 1.0
    for s in sigma:
        radius = int(4.0 * s + 0.5)
        w = np.exp(-0.5 * (np.arange(-radius, radius + 1) / s) ** 2)
        w /= w.sum()
        gain *= float(np.sqrt((w**2).sum()))
    return gain


def abdomen(
    variant: int,
    *,
    shape: tuple[int, int, int] = (40, 128, 128),
    spacing: tuple[float, float, float] = (5.0, 2.5, 2.5),
    contrast: bool = False,
) -> CTPhantom:
    """A synthetic upper-abdominal CT volume with organ labels, with or without IV contrast.

    `variant` (any non-negative int) chooses the patient: a few percent of size, position and
    tissue-value variation; the same variant with and without contrast is the same anatomy.
    """
    variant, shape, spacing = _check_args(variant, shape, spacing)
    rng = rng_for(variant, "phantoms_ct.abdomen", "anatomy")
    cv = _Canvas(shape, spacing)

    Vec = tuple[float, float, float]

    def jit(c: Vec, r: Vec, dc: float = 4.0, dr: float = 0.06) -> tuple[Vec, Vec]:
        """Per-variant jitter of a centre (mm) and semi-axes (relative); always draws 6 numbers."""
        u = rng.uniform(-1.0, 1.0, 6)
        c2 = (c[0] + dc * u[0], c[1] + dc * u[1], c[2] + dc * u[2])
        r2 = (r[0] * (1 + dr * u[3]), r[1] * (1 + dr * u[4]), r[2] * (1 + dr * u[5]))
        return c2, r2

    inf = math.inf
    body_ax, body_ay = 150.0 * rng.uniform(0.94, 1.04), 108.0 * rng.uniform(0.93, 1.05)
    fat = rng.uniform(12.0, 20.0)  # subcutaneous fat thickness
    wall = rng.uniform(8.0, 11.0)  # abdominal wall muscle thickness
    noise_sd = rng.uniform(8.0, 12.0)
    hu_table = _tissue_hu(contrast, rng)

    # --- body: skin/subcutaneous fat, muscular wall, visceral fat in the cavity -------------------
    sl, rho = cv.ellipsoid((0.0, 0.0, 0.0), (body_ax, body_ay, inf))
    cv.paint(sl, rho <= 1, _FAT, clip=False)
    sl, rho = cv.ellipsoid((0.0, 0.0, 0.0), (body_ax - fat, body_ay - fat, inf))
    cv.paint(sl, rho <= 1, _MUSCLE, clip=False)
    sl, rho = cv.ellipsoid((0.0, 0.0, 0.0), (body_ax - fat - wall, body_ay - fat - wall, inf))
    cv.inside[sl] = rho <= 1
    cv.paint(sl, rho <= 1, _VFAT)
    cav_ay = body_ay - fat - wall

    # Paraspinal muscles (posterior, outside the cavity but inside the wall) and psoas (lower slices).
    for side in (-1.0, 1.0):
        c, r = jit((side * 31.0, cav_ay + 2.0, 0.0), (22.0, 17.0, inf), dc=2.0, dr=0.05)
        sl, rho = cv.ellipsoid(c, r)
        cv.paint(sl, rho <= 1, _MUSCLE, clip=False)
        sl, rho, _ = cv.tube((side * 28.0, 42.0, 10.0), (side * 52.0, 22.0, -110.0), 6.0, 22.0)
        cv.paint(sl, rho <= 1, _MUSCLE)
    # Keep the paraspinal muscles within the muscular wall (re-draw the subcutaneous fat ring).
    sl, rho = cv.ellipsoid((0.0, 0.0, 0.0), (body_ax, body_ay, inf))
    sl2, rho2 = cv.ellipsoid((0.0, 0.0, 0.0), (body_ax - fat, body_ay - fat, inf))
    ring = np.zeros(cv.tissue.shape, dtype=bool)
    ring[sl] = rho <= 1
    ring[sl2] &= rho2 > 1
    cv.tissue[ring] = _FAT

    # Lower ribs: small bony sections in the wall, more anterior ones only higher up.
    nz = shape[0]
    for side in (-1.0, 1.0):
        for i, phi0 in enumerate((35.0, 58.0, 80.0, 102.0, 124.0, 146.0)):
            phi = np.radians(phi0 + 9.0 * np.sin(cv.z / 22.0 + 1.3 * i + side))  # ribs run obliquely
            rx, ry = body_ax - fat - wall / 2, body_ay - fat - wall / 2
            cx, cy = side * rx * np.sin(phi), ry * np.cos(phi)
            z_min = -45.0 + 1.1 * (phi0 - 35.0)
            present = cv.z >= z_min
            dx = (cv.x[None, None, :] - cx[:, None, None]) / 6.0
            dy = (cv.y[None, :, None] - cy[:, None, None]) / 5.0
            mask = (dx**2 + dy**2 <= 1) & present[:, None, None]
            cv.paint((slice(0, nz), slice(None), slice(None)), mask, _BONE, clip=False)

    # --- bowel (unlabelled): colon frame and small-bowel loops in the lower abdomen ---------------
    colon = [
        (-92.0, -5.0, -110.0),
        (-95.0, -8.0, -35.0),
        (-70.0, -55.0, -20.0),
        (0.0, -68.0, -28.0),
        (60.0, -55.0, -5.0),
        (98.0, 0.0, 5.0),
        (100.0, 12.0, -50.0),
        (96.0, 10.0, -110.0),
    ]
    colon = [(x + rng.uniform(-4, 4), y + rng.uniform(-4, 4), z + rng.uniform(-4, 4)) for x, y, z in colon]
    radii = [21.0, 20.0, 16.0, 15.0, 15.0, 16.0, 16.0, 16.0]
    for i in range(len(colon) - 1):
        sl, rho, yc = cv.tube(colon[i], colon[i + 1], radii[i], radii[i + 1])
        cv.paint(sl, rho <= 1, _WALL)
        lumen = rho <= 0.8
        y = cv.y[sl[1]][None, :, None]
        cv.paint(sl, lumen & (y < yc + 4.0), _GAS)
        cv.paint(sl, lumen & (y >= yc + 4.0), _STOOL)
    for _ in range(14):
        c = (rng.uniform(-55.0, 55.0), rng.uniform(-70.0, -12.0), rng.uniform(-100.0, -15.0))
        r = (rng.uniform(13.0, 20.0), rng.uniform(10.0, 16.0), rng.uniform(14.0, 24.0))
        sl, rho = cv.ellipsoid(c, r, angle=rng.uniform(0.0, 180.0))
        cv.paint(sl, rho <= 1, _WALL)
        cv.paint(sl, rho <= 0.72, _FLUID)

    # --- liver: right lobe, its inferolateral tip, left lobe; portal and hepatic veins (HU only) ---
    lobes = (
        jit((-68.0, -2.0, 52.0), (78.0, 86.0, 68.0)),
        jit((-92.0, -12.0, -2.0), (34.0, 52.0, 40.0), dc=3.0),
        jit((10.0, -52.0, 58.0), (58.0, 28.0, 36.0)),
    )
    for c, r in lobes:
        sl, rho = cv.ellipsoid(c, r)
        cv.paint(sl, rho <= 1, _LIVER, _ID["liver"])
    liver = _ID["liver"]
    vessels = (
        ((-8.0, 0.0, 0.0), (-38.0, -8.0, 30.0), 8.0),  # portal vein trunk to the porta hepatis
        ((-38.0, -8.0, 30.0), (-95.0, 5.0, 40.0), 6.0),  # right portal branch
        ((-38.0, -8.0, 30.0), (5.0, -40.0, 55.0), 5.0),  # left portal branch
        ((-105.0, -10.0, 60.0), (-28.0, 14.0, 85.0), 5.0),  # right, middle and left hepatic veins
        ((-60.0, -45.0, 60.0), (-28.0, 14.0, 85.0), 4.5),
        ((5.0, -45.0, 65.0), (-24.0, 12.0, 85.0), 4.0),
    )
    for p0, p1, r in vessels:
        sl, rho, _ = cv.tube(p0, p1, r)
        cv.paint(sl, rho <= 1, _PORTAL, liver, within=liver)

    # --- gallbladder under the liver, anterior ---------------------------------------------------
    c, r = jit((-55.0, -48.0, 2.0), (15.0, 16.0, 28.0), dc=3.0)
    sl, rho = cv.ellipsoid(c, r, angle=-30.0)
    cv.paint(sl, rho <= 1, _BILE, _ID["gallbladder"])

    # --- spleen: posterolateral left, upper abdomen ----------------------------------------------
    c, r = jit((86.0, 40.0, 52.0), (45.0, 26.0, 48.0))
    sl, rho = cv.ellipsoid(c, r, angle=-55.0)
    cv.paint(sl, rho <= 1, _SPLEEN, _ID["spleen"])

    # --- stomach: left anterior, fluid with an anterior gas cap and an enhancing wall ------------
    c, r = jit((52.0, -28.0, 52.0), (40.0, 32.0, 42.0))
    sl, rho = cv.ellipsoid(c, r, angle=25.0)
    cv.paint(sl, rho <= 1, _WALL, _ID["stomach"])
    y = cv.y[sl[1]][None, :, None]
    gas_level = c[1] - r[1] * rng.uniform(0.25, 0.5)  # supine: gas rises anteriorly (to -y)
    lumen = rho <= 1 - 4.0 / min(r)
    cv.paint(sl, lumen & (y >= gas_level), _FLUID, _ID["stomach"])
    cv.paint(sl, lumen & (y < gas_level), _GAS, _ID["stomach"])

    # --- pancreas: head (right) - body - tail (towards the splenic hilum) ------------------------
    c, r = jit((-30.0, -10.0, 2.0), (16.0, 14.0, 18.0), dc=2.0)
    sl, rho = cv.ellipsoid(c, r)
    cv.paint(sl, rho <= 1, _PANCREAS, _ID["pancreas"])
    path = [c]  # head, then neck, body and tail as one chain of tapered tubes (so one component)
    for x, y, z in ((-6.0, -22.0, 10.0), (22.0, -20.0, 16.0), (56.0, 4.0, 24.0)):
        path.append((x + rng.uniform(-2, 2), y + rng.uniform(-2, 2), z + rng.uniform(-2, 2)))
    widths = (12.0, 10.0, 9.0, 7.0)
    for i in range(3):
        sl, rho, _ = cv.tube(path[i], path[i + 1], widths[i], widths[i + 1])
        cv.paint(sl, rho <= 1, _PANCREAS, _ID["pancreas"])

    # --- kidneys: posterior either side of the spine, the left one higher; hilum anteromedial ----
    dz_left = rng.uniform(15.0, 25.0)
    for side, name, cz in ((-1.0, "kidney_right", -28.0), (1.0, "kidney_left", -28.0 + dz_left)):
        c, r = jit((side * 72.0, 47.0, cz), (31.0, 20.0, 52.0), dc=3.0, dr=0.05)
        ang = side * 35.0
        sl, rho = cv.ellipsoid(c, r, angle=ang)
        cv.paint(sl, rho <= 1, _CORTEX, _ID[name])
        cv.paint(sl, rho <= 0.7, _MEDULLA, _ID[name])
        th = math.radians(ang)  # the hilum is at the medial end of the in-plane long axis
        hc = (c[0] - side * 0.85 * r[0] * math.cos(th), c[1] - side * 0.85 * r[0] * math.sin(th), c[2])
        sl, rho = cv.ellipsoid(hc, (12.0, 9.0, 0.4 * r[2]), angle=ang)
        cv.paint(sl, rho <= 1, _VFAT)

    # --- great vessels: IVC anterior-right, aorta anterior-left of the vertebral body -----------
    c, r = jit((-22.0, 12.0, 0.0), (13.0, 10.0, inf), dc=2.0, dr=0.08)
    sl, rho = cv.ellipsoid(c, r)
    cv.paint(sl, rho <= 1, _VEIN, _ID["inferior_vena_cava"])
    c, r = jit((13.0, 14.0, 0.0), (11.0, 11.0, inf), dc=2.0, dr=0.08)
    sl, rho = cv.ellipsoid(c, r)
    cv.paint(sl, rho <= 1, _ARTERY, _ID["aorta"])

    # --- spine: vertebral bodies, pedicles/laminae around the canal, spinous + transverse processes
    vb = _ID["vertebrae"]
    vc, vr = jit((0.0, 46.0, 0.0), (22.0, 18.0, inf), dc=1.5, dr=0.05)
    sl, rho = cv.ellipsoid(vc, vr)
    cv.paint(sl, rho <= 1, _BONE, vb, clip=False)
    cv.paint(sl, rho <= 0.8, _MARROW, vb, clip=False)
    canal_y = vc[1] + vr[1] + 9.0
    for c, r in (
        ((0.0, canal_y, 0.0), (16.0, 15.0, inf)),  # neural arch
        ((0.0, canal_y + 20.0, 0.0), (4.5, 12.0, inf)),  # spinous process
        ((-27.0, canal_y - 1.0, 0.0), (14.0, 4.5, inf)),  # transverse processes, swept back a little
        ((27.0, canal_y - 1.0, 0.0), (14.0, 4.5, inf)),
    ):
        sl, rho = cv.ellipsoid(c, r, angle=15.0 * np.sign(c[0]))
        cv.paint(sl, rho <= 1, _BONE, vb, clip=False)
    sl, rho = cv.ellipsoid((0.0, canal_y, 0.0), (9.0, 8.0, inf))
    cv.paint(sl, rho <= 1, _CSF, 0, clip=False)

    _keep_largest(cv)

    # --- to HU: table lookup, correlated noise, slight edge smoothing ----------------------------
    sigma = tuple(max(s_mm / v, 0.4) for s_mm, v in zip(_SIGMA_MM, cv.vox_mm, strict=True))
    noise_rng = rng_for(variant, "phantoms_ct.abdomen", "noise", "contrast" if contrast else "plain")
    vol = hu_table[cv.tissue]
    vol += noise_rng.standard_normal(shape, dtype=np.float32) * np.float32(noise_sd / _smooth_kernel_gain(sigma))
    vol = ndimage.gaussian_filter(vol, sigma=sigma, mode="nearest")
    hu = np.clip(np.rint(vol), HU_MIN, HU_MAX).astype(np.int16)

    nz, ny, nx = shape
    sz, sy, sx = spacing
    origin = (-(nx - 1) / 2.0 * sx, -(ny - 1) / 2.0 * sy, Z_CENTRE_MM - (nz - 1) / 2.0 * sz)
    return CTPhantom(hu=hu, labels=cv.labels, spacing=spacing, origin=origin, contrast=bool(contrast))
