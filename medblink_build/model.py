"""The values that flow through a build: source items in, examples out.

Plain dataclasses, picklable, so they cross process boundaries of any executor unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .questions import Question


@dataclass(frozen=True)
class SourceItem:
    """One unit of work found in a source: one or more input files plus per-item metadata.

    `key` is stable and derived from the data (source id + relative path), never from
    enumeration order; it seeds the item's random choices and names the example. For a source
    whose paths are not public it is pseudonymised (`pseudonym.py`): `shown` then holds the
    pseudonyms of `files` and `local_key` the real relative key; outputs only ever see the former.
    """

    key: str
    source_id: str
    root: Path
    files: tuple[str, ...]  # paths relative to `root`, POSIX separators
    metadata: dict[str, str] = field(default_factory=dict)
    shown: tuple[str, ...] = ()  # how each file is named in outputs; () = the paths are public
    local_key: str = ""  # the real relative key when `key` is a pseudonym

    def path(self, index: int = 0) -> Path:
        return self.root / self.files[index]

    def shown_name(self, index: int = 0) -> str:
        """File `index` as outputs name it: its relative path, or its pseudonym."""
        return self.shown[index] if self.shown else self.files[index]


@dataclass(frozen=True)
class ImageGeometry:
    """What a reader could tell about how the pixels sit relative to the patient."""

    patient_orientation: tuple[str, str] | None = None  # (row direction, column direction)
    view_position: str | None = None  # PA, AP, LL, ...
    laterality: str | None = None  # L, R, B, U
    body_part: str | None = None  # DICOM BodyPartExamined, upper case
    pixel_spacing_mm: tuple[float, float] | None = None  # (row spacing, column spacing)
    burned_in_annotation: str | None = None  # YES / NO / None when not stated

    def to_json(self) -> dict[str, Any]:
        return {
            "patient_orientation": list(self.patient_orientation) if self.patient_orientation else None,
            "view_position": self.view_position,
            "laterality": self.laterality,
            "body_part": self.body_part,
            "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None,
            "burned_in_annotation": self.burned_in_annotation,
        }


@dataclass
class DisplayImage:
    """A decoded 2-D image ready for display: uint8, (H, W) greyscale or (H, W, 3) RGB.

    `decode` records how the stored values became display values (format, transfer syntax,
    photometric interpretation, window), for provenance. It holds no patient identifiers.
    """

    pixels: np.ndarray
    geometry: ImageGeometry
    decode: dict[str, Any]


@dataclass(frozen=True)
class InputFile:
    """An input as provenance records it: where it came from and what its bytes were."""

    source_id: str
    path: str  # relative to the source root
    sha256: str

    def to_json(self) -> dict[str, str]:
        return {"source": self.source_id, "path": self.path, "sha256": self.sha256}


@dataclass
class Example:
    """One benchmark question as a recipe made it, before the writer gives it a row.

    `images` are encoded PNG bytes. `question` carries the choices and the correct one; the
    writer fixes the final letter order (balanced per task) and formats the prompt.
    """

    task: str
    key: str
    images: list[bytes]
    question: Question
    label: dict[str, Any]
    inputs: list[InputFile]
    transforms: list[dict[str, Any]]
    derivation: str  # how the label was derived, in words a reader can check
    details: dict[str, Any] = field(default_factory=dict)  # reader/geometry facts for provenance
    modality: str = ""
    anatomy: str = ""
    source: str = ""
    license: str = ""


@dataclass(frozen=True)
class Skipped:
    """An item that gave no example, and why (counted per reason in the build summary)."""

    key: str
    reason: str
    detail: str
    task: str | None = None
