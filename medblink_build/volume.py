"""The one geometry convention for 3-D images: every volume reader returns a `Volume` in LPS+.

`data` is indexed [k, j, i] = [z, y, x] where +x points to the patient's Left, +y to Posterior
and +z to Superior (the DICOM / ITK patient coordinate system). Readers bring every file there
by axis permutation and flips only (the closest canonical orientation); any residual obliquity
is kept in `direction` and reported, never silently dropped.

With this layout an axial slice `data[k]` shown as an image (row 0 at the top) is already in the
radiological convention: anterior at the top, the patient's left on the image right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .model import Subject


@dataclass
class Volume:
    data: np.ndarray  # (nz, ny, nx); HU for CT, integer labels for masks
    spacing: tuple[float, float, float]  # (sz, sy, sx) in mm
    origin: tuple[float, float, float]  # LPS position in mm of voxel [0, 0, 0], as (x, y, z)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))  # columns: unit x, y, z axes in LPS
    meta: dict[str, Any] = field(default_factory=dict)  # non-identifying facts for provenance
    warnings: list[str] = field(default_factory=list)  # e.g. gantry tilt, uneven spacing
    subject: Subject = field(default_factory=Subject)  # modality/species the files state, if any

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]

    def affine(self) -> np.ndarray:
        """4x4 matrix mapping (i, j, k, 1) voxel indices to LPS millimetres (x, y, z, 1)."""
        sz, sy, sx = self.spacing
        out = np.eye(4)
        out[:3, :3] = self.direction @ np.diag([sx, sy, sz])
        out[:3, 3] = self.origin
        return out

    def index_to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """Voxel indices (..., 3) as (i, j, k) to LPS mm (..., 3)."""
        ijk = np.asarray(ijk, dtype=np.float64)
        a = self.affine()
        return ijk @ a[:3, :3].T + a[:3, 3]
