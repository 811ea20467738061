"""The built-in sample endoscopy source: ray-cast colon-like frames with exact depth, C3VD-style.

Each frame looks down a tube (the colon lumen) whose axis is tilted and offset from the camera
axis, with one or two spherical polyps on the wall (occluding edges: depth discontinuities). Rays
are intersected with the tube and the spheres in closed form, so the depth map is exact up to its
16-bit encoding. Shading: a light at the camera (Lambert, inverse square falloff), a pink mucosa
albedo with a procedural vessel texture fixed to the surface, and a specular glint.

Written the way C3VD ships data: sequence folders with `<n>_color.png` frames and
`<nnnn>_depth.tiff` (or `.png`) 16-bit depth maps, depth_mm = 100 * v / 65535, depths beyond
100 mm clipped to 65535, and frame numbers padded differently in the two names. Deliberately bad
frames: one depth map all invalid (0), one of the wrong size, one frame with no depth map.
CC0-1.0, nothing to download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: C3VD depth scale: 0..65535 spans 0..100 mm.
FULL_SCALE_MM = 100.0
SEQUENCES = ("seq_a", "seq_b")
#: Frames per sequence, and which are written broken.
FRAMES = 10
ALL_INVALID = ("seq_b", 8)
WRONG_SIZE = ("seq_b", 9)
NO_DEPTH = ("seq_a", 9)


def _intrinsics(w: int, h: int) -> tuple[float, float, float]:
    return 0.75 * w, (w - 1) / 2, (h - 1) / 2  # focal (px), principal point; about 67 degrees across


def render_frame(index: int, width: int = 320, height: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 frame and z-depth in mm (inf where nothing is hit) of sample frame `index`."""
    rng = np.random.default_rng(1000 + index)
    f, cx, cy = _intrinsics(width, height)
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    d = np.stack([(u - cx) / f, (v - cy) / f, np.ones_like(u)], axis=-1)  # ray with z = 1: t is z-depth

    radius = rng.uniform(13.0, 17.0)
    axis = np.array([rng.uniform(-0.35, 0.35), rng.uniform(-0.3, 0.3), 1.0])
    axis /= np.linalg.norm(axis)
    origin = np.array([rng.uniform(-0.45, 0.45) * radius, rng.uniform(-0.45, 0.45) * radius, 0.0])

    # Tube: |perp(t d - p0)| = R, the camera inside, so one positive root.
    d_perp = d - (d @ axis)[..., None] * axis
    p_perp = -origin - (-origin @ axis) * axis  # perp component of (camera - p0)
    a = (d_perp**2).sum(-1)
    b = (d_perp * p_perp).sum(-1)
    c = p_perp @ p_perp - radius**2
    t_tube = (-b + np.sqrt(b * b - a * c)) / a
    hit = t_tube[..., None] * d
    w_vec = hit - origin
    along = w_vec @ axis
    radial = w_vec - along[..., None] * axis
    normal = -radial / np.linalg.norm(radial, axis=-1, keepdims=True)
    ref = np.cross(axis, [0.0, 1.0, 0.0])
    ref /= np.linalg.norm(ref)
    angle = np.arctan2((radial @ np.cross(axis, ref)), radial @ ref)
    t = t_tube.copy()
    albedo_shift = np.zeros_like(t)

    # Polyps: spheres sitting on the wall, in front of the camera.
    for k in range(int(rng.integers(1, 3))):
        s = rng.uniform(25.0, 55.0)
        phi = rng.uniform(0, 2 * np.pi)
        r_s = rng.uniform(3.5, 6.5)
        direction = np.cos(phi) * ref + np.sin(phi) * np.cross(axis, ref)
        centre = origin + s * axis + (radius - 0.55 * r_s) * direction
        dn = d / np.linalg.norm(d, axis=-1, keepdims=True)
        bb = dn @ centre
        disc = bb * bb - (centre @ centre - r_s**2)
        ts = np.where(disc > 0, bb - np.sqrt(np.maximum(disc, 0)), np.inf) * dn[..., 2]  # z-depth
        front = (ts > 0) & (ts < t)
        t = np.where(front, ts, t)
        sphere_normal = (ts[..., None] * d - centre) / r_s
        normal = np.where(front[..., None], sphere_normal, normal)
        albedo_shift = np.where(front, 0.12 + 0.03 * k, albedo_shift)
        along = np.where(front, along + 40.0, along)  # a different texture patch on the polyp

    point = t[..., None] * d
    dist = np.linalg.norm(point, axis=-1)
    view = -point / dist[..., None]
    lambert = np.clip((normal * view).sum(-1), 0.0, 1.0)
    light = lambert * (18.0 / dist) ** 2
    folds = np.where(albedo_shift > 0, 0.0, np.maximum(0.0, np.cos(2 * np.pi * along / 16.0)) ** 8)
    light = light * (1.0 - 0.3 * folds)  # haustral fold shading (texture only: depth stays the tube's)
    glint = np.clip(lambert, 0, 1) ** 60 * 0.8 * (18.0 / dist)

    phases = rng.uniform(0, 2 * np.pi, 4)
    vessels = np.sin(0.9 * along + 3.0 * angle + phases[0]) * np.sin(
        0.35 * along - 5.0 * angle + phases[1]
    ) + 0.5 * np.sin(1.7 * along + 7.0 * angle + phases[2])
    vein = np.clip(1.0 - np.abs(vessels) * 4.0, 0.0, 1.0) ** 2
    mottle = 0.08 * np.sin(0.5 * along + phases[3]) * np.cos(4.0 * angle)
    base = np.array([0.92, 0.50, 0.44])
    albedo = base * (1.0 + mottle[..., None]) - vein[..., None] * np.array([0.10, 0.28, 0.24])
    albedo = albedo + albedo_shift[..., None] * np.array([0.05, -0.08, -0.06])
    exposure = 1.0 - np.exp(-1.4 * (albedo * light[..., None] + glint[..., None]))  # soft highlight roll-off
    rgb = np.clip(exposure / (1.0 - np.exp(-1.4)), 0.0, 1.0) ** (1 / 2.2)
    rgb = np.rint(rgb * 255).astype(np.uint8)
    return rgb, t


def encode_depth(depth_mm: np.ndarray) -> np.ndarray:
    """C3VD encoding: uint16 = round(depth / 100 mm * 65535), clipped at full scale."""
    v = np.rint(np.clip(depth_mm, 0.0, FULL_SCALE_MM) / FULL_SCALE_MM * 65535.0)
    return np.where(np.isfinite(depth_mm), v, 65535).astype(np.uint16)


def write_endoscopy_sample(dest: Path, *, width: int = 320, height: int = 256, frames: int = FRAMES) -> Path:
    """Write the sample source into `dest` (created) and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    for s, sequence in enumerate(SEQUENCES):
        folder = dest / sequence
        folder.mkdir(exist_ok=True)
        for i in range(frames):
            rgb, depth = render_frame(s * 100 + i, width, height)
            Image.fromarray(rgb).save(folder / f"{i}_color.png", compress_level=6)
            if (sequence, i) == NO_DEPTH:
                continue
            encoded = encode_depth(depth)
            if (sequence, i) == ALL_INVALID:
                encoded = np.zeros_like(encoded)
            if (sequence, i) == WRONG_SIZE:
                encoded = encoded[::2, ::2].copy()
            suffix = "tiff" if sequence == "seq_a" else "png"
            Image.fromarray(encoded).save(folder / f"{i:04d}_depth.{suffix}")
    (dest / "README.txt").write_text(
        "Synthetic ray-cast colon frames with exact depth, written by medblink-build (CC0-1.0). Not patient "
        "data. depth_mm = 100 * v / 65535 (C3VD scale); 65535 = beyond range.\n",
        encoding="utf-8",
    )
    return dest
