"""Named CT display windows (centre/width in Hounsfield units) and the `ct_window` transform.

A window maps HU to 8-bit grey linearly from centre - width/2 (black) to centre + width/2
(white), clipped outside. Presets are the common radiology defaults; recipes name the one they
use and provenance records its numbers, so a reader can re-window the same slice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import MedblinkError
from ..transforms import Transform, register

#: preset name -> (centre, width) in HU
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "soft_tissue": (40.0, 400.0),
    "abdomen": (50.0, 350.0),
    "liver": (60.0, 160.0),
    "mediastinum": (50.0, 350.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}


def ct_window(preset: str) -> Transform:
    try:
        centre, width = CT_WINDOWS[preset]
    except KeyError:
        raise MedblinkError(f"unknown CT window {preset!r}; valid: {', '.join(CT_WINDOWS)}") from None
    return Transform("ct_window", {"preset": preset, "center": centre, "width": width})


def _apply_ct_window(hu: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    centre, width = float(params["center"]), float(params["width"])
    if width <= 0:
        raise MedblinkError(f"CT window width must be > 0, got {width}")
    unit = (np.asarray(hu, dtype=np.float32) - np.float32(centre - width / 2)) / np.float32(width)
    return np.rint(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


register("ct_window", _apply_ct_window)
