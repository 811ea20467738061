"""Images too degenerate to ask anything about: tiny, strips, or (nearly) one value everywhere.

Real archives hold such files (1x1 placeholders, 1x65535 scan-line strips, all-black frames from
a failed export). They decode fine, so a format reader accepts them; this check says why they are
no question's image. It runs on the decoded display pixels (uint8, greyscale or RGB), in one
bincount pass per channel. Thresholds:

- MIN_SIDE_PX: the shorter side must be at least 16 px (a marker or a rotation needs room);
- MAX_ASPECT: the longer side at most 20 times the shorter (a strip is not a picture);
- MAX_DOMINANT_FRACTION: in at least one channel, no single value may cover more than 99.9 % of
  the pixels (an image that is one value except for a few stray pixels shows nothing).
"""

from __future__ import annotations

import numpy as np

MIN_SIDE_PX = 16
MAX_ASPECT = 20.0
MAX_DOMINANT_FRACTION = 0.999


def degenerate_reason(pixels: np.ndarray) -> str | None:
    """Why `pixels` (H, W) or (H, W, C) cannot be a question's image, or None when it can."""
    h, w = int(pixels.shape[0]), int(pixels.shape[1])
    if min(h, w) < MIN_SIDE_PX:
        return f"{w}x{h} px: the shorter side is under {MIN_SIDE_PX} px"
    if max(h, w) > MAX_ASPECT * min(h, w):
        return f"{w}x{h} px: a strip (aspect ratio above {MAX_ASPECT:g}:1)"
    planes = [pixels] if pixels.ndim == 2 else [pixels[..., c] for c in range(pixels.shape[2])]
    fractions = []
    for plane in planes:
        flat = np.ascontiguousarray(plane).ravel()
        if flat.dtype != np.uint8:
            _values, counts = np.unique(flat, return_counts=True)
        else:
            counts = np.bincount(flat, minlength=256)
        fractions.append(float(counts.max()) / flat.size)
    dominant = min(fractions)
    if dominant >= 1.0:
        return "constant image: every pixel has the same value"
    if dominant > MAX_DOMINANT_FRACTION:
        return f"nearly constant image: one value covers {dominant:.2%} of the pixels"
    return None
