"""Patient-direction geometry of 2-D projection images.

DICOM (0020,0020) PatientOrientation gives the patient direction of the image rows (toward the
right of the image) and of the columns (toward the bottom), with letters L/R, A/P, H/F. The
standard display of a frontal (PA or AP) radiograph is rows toward the patient's Left and columns
toward the Feet: patient's right on the viewer's left, head up. This module finds the dihedral
transform that brings a stored image to a wanted display, or says why none exists.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import MedblinkError
from .transforms import DIHEDRAL_ELEMENTS, DIHEDRAL_MATRICES

OPPOSITE = {"L": "R", "R": "L", "A": "P", "P": "A", "H": "F", "F": "H"}

#: Display of frontal radiographs (chest PA/AP, pelvis AP): rows to patient's Left, columns to Feet.
FRONTAL_DISPLAY: tuple[str, str] = ("L", "F")

FRONTAL_VIEWS = frozenset({"PA", "AP"})


class GeometryError(MedblinkError):
    """The stored geometry cannot be brought to the wanted display unambiguously."""


def parse_patient_orientation(value: object) -> tuple[str, str] | None:
    """Read a PatientOrientation value ('L\\F', ['L', 'F'], ('LP', 'F')) into two upper-case codes.

    Returns None when the value is empty (no evidence). Raises GeometryError for malformed values.
    """
    if value is None:
        return None
    if isinstance(value, str):
        parts = [p for p in value.replace("/", "\\").split("\\")]
    else:
        parts = [str(p) for p in value]  # type: ignore[union-attr]
    parts = [p.strip().upper() for p in parts]
    if not any(parts):
        return None
    if len(parts) != 2 or not all(parts) or any(set(p) - set(OPPOSITE) for p in parts):
        raise GeometryError(f"PatientOrientation {value!r} is not two direction codes made of L R A P H F")
    return parts[0], parts[1]


def _direction_after(element: str, stored: tuple[str, str]) -> tuple[str, str]:
    """Patient directions of the new image's +x and +y axes after applying `element`."""
    m = np.array(DIHEDRAL_MATRICES[element])
    inv = m.T  # old axis = inv @ new axis

    def along(new_axis: Sequence[int]) -> str:
        old = inv @ np.array(new_axis)
        code = stored[0] if old[0] != 0 else stored[1]
        sign = old[0] if old[0] != 0 else old[1]
        return code if sign > 0 else "".join(OPPOSITE[c] for c in code)

    return along((1, 0)), along((0, 1))


def to_display(stored: tuple[str, str], wanted: tuple[str, str] = FRONTAL_DISPLAY) -> str:
    """The dihedral element that turns an image stored as `stored` into `wanted`.

    Only the dominant (first) letter of each code is used; an oblique code such as 'LP' counts as
    'L'. Raises GeometryError when no element fits (e.g. a lateral view asked to look frontal).
    """
    dominant = (stored[0][0], stored[1][0])
    for element in DIHEDRAL_ELEMENTS:
        if _direction_after(element, dominant) == wanted:
            return element
    raise GeometryError(
        f"image stored with rows toward {stored[0]} and columns toward {stored[1]} cannot be shown "
        f"with rows toward {wanted[0]} and columns toward {wanted[1]} by a rotation or flip"
    )
