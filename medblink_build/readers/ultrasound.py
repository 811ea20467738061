"""Ultrasound frames: one decoded frame plus the calibration the DICOM file gives about it.

Decoding is `read_image` (DICOM RGB/YBR/palette/monochrome, compressed syntaxes, PNG/JPEG), so this
module adds only what ultrasound files carry on top:

- Frame choice: a multi-frame file (cine loop) gives its middle frame, index `n // 2`: the loop's
  first and last frames are often freeze/unfreeze transitions, and one fixed rule keeps the choice
  independent of the label. A file declaring 0 frames is a ReaderError naming the problem.
- The US Region Calibration module (SequenceOfUltrasoundRegions): each region's box
  (RegionLocationMinX0/MinY0/MaxX1/MaxY1, inclusive corners), RegionSpatialFormat (1 = 2-D),
  RegionDataType (1 = tissue, 2 = colour flow), PhysicalUnitsX/YDirection (3 = cm) with
  PhysicalDeltaX/Y (units per pixel), ReferencePixelX0/Y0 (relative to the region's corner, may
  be negative: vendors often put the sector apex there, above the region) and
  ReferencePixelPhysicalValueX/Y, and TransducerType where the file has it (item or dataset);
  TransducerData's first value (the probe model, e.g. L12-5), read as evidence of the probe kind.
  A region whose deltas or reference values are NaN/inf (or non-positive cm deltas) has a
  `calibration_problem()`: callers skip rather than measure with it.
- The imaging region used: the largest 2-D tissue region (else 2-D colour flow) lying inside the
  pixel matrix (2 px of slack, clipped). A region that extends further beyond the matrix describes
  another resolution (seen in pydicom's own examples), so it is ignored and the reason recorded;
  the caller then finds the region from the pixels.
- BurnedInAnnotation, as stated (YES/NO/None).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ReaderError
from ..model import DisplayImage
from . import read_image
from .dicom_image import read_dicom_header
from .files import input_bytes
from .sniff import sniff_format

#: RegionSpatialFormat 1: a 2-D image region (B-mode or colour flow).
SPATIAL_2D = 1
#: RegionDataType values usable as the imaging area, preferred first: tissue, colour flow.
IMAGING_DATA_TYPES = (1, 2)
#: PhysicalUnits code for centimetres (the only spatial unit DICOM defines for regions).
UNITS_CM = 3
#: Pixels a region may reach past the matrix and still be taken (clipped).
REGION_SLACK_PX = 2


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of SequenceOfUltrasoundRegions, as stored (corners inclusive, per DICOM)."""

    spatial_format: int
    data_type: int
    x0: int
    y0: int
    x1: int
    y1: int
    reference_pixel: tuple[int, int] | None = None  # relative to (x0, y0)
    reference_value: tuple[float, float] | None = None  # physical value at the reference pixel
    units: tuple[int, int] | None = None  # PhysicalUnitsX/YDirection
    delta: tuple[float, float] | None = None  # PhysicalDeltaX/Y, units per pixel
    transducer_type: str | None = None

    @property
    def area(self) -> int:
        return max(0, self.x1 - self.x0 + 1) * max(0, self.y1 - self.y0 + 1)

    def box(self, shape: tuple[int, ...] | None = None) -> tuple[int, int, int, int]:
        """Half-open (x0, y0, x1, y1), clipped to an image of `shape` (h, w) when given."""
        x1, y1 = self.x1 + 1, self.y1 + 1
        if shape is not None:
            x1, y1 = min(x1, shape[1]), min(y1, shape[0])
        return self.x0, self.y0, x1, y1

    def calibration_problem(self) -> str | None:
        """Why this region's calibration cannot be used (non-finite or non-positive cm deltas,
        non-finite reference values), or None. Absent calibration is no problem: it is just absent."""
        for name, pair in (("PhysicalDeltaX/Y", self.delta), ("ReferencePixelPhysicalValueX/Y", self.reference_value)):
            if pair is not None and not all(math.isfinite(v) for v in pair):
                return f"{name} is not finite ({', '.join(f'{v:g}' for v in pair)})"
        if self.units == (UNITS_CM, UNITS_CM) and self.delta is not None and not all(v > 0 for v in self.delta):
            return f"PhysicalDeltaX/Y in cm are not positive ({', '.join(f'{v:g}' for v in self.delta)})"
        return None

    def mm_per_pixel(self) -> tuple[float, float] | None:
        """(x, y) millimetres per pixel when both directions are in cm with positive deltas."""
        if self.units != (UNITS_CM, UNITS_CM) or self.delta is None:
            return None
        dx, dy = self.delta
        if not (dx > 0 and dy > 0 and math.isfinite(dx) and math.isfinite(dy)):
            return None
        return 10.0 * dx, 10.0 * dy

    def reference_absolute(self) -> tuple[float, float] | None:
        """The reference pixel in image coordinates (x, y)."""
        if self.reference_pixel is None:
            return None
        return float(self.x0 + self.reference_pixel[0]), float(self.y0 + self.reference_pixel[1])

    def to_json(self) -> dict[str, Any]:
        return {
            "spatial_format": self.spatial_format,
            "data_type": self.data_type,
            "corners_inclusive": [self.x0, self.y0, self.x1, self.y1],
            "reference_pixel": list(self.reference_pixel) if self.reference_pixel else None,
            "reference_value": list(self.reference_value) if self.reference_value else None,
            "units": list(self.units) if self.units else None,
            "delta": list(self.delta) if self.delta else None,
            "transducer_type": self.transducer_type,
        }


@dataclass
class UltrasoundFrame:
    """A decoded ultrasound frame and its calibration."""

    image: DisplayImage
    frame: int | None  # index read from a multi-frame file, else None
    frames: int  # frames in the file (1 for single images and rasters)
    regions: list[UltrasoundRegion] = field(default_factory=list)
    region: UltrasoundRegion | None = None  # the imaging region used, if the file gives a usable one
    region_note: str = "no SequenceOfUltrasoundRegions"
    burned_in_annotation: str | None = None
    transducer_type: str | None = None
    transducer_data: str | None = None  # the probe model (first TransducerData value); evidence only

    def to_json(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "frames": self.frames,
            "regions": [r.to_json() for r in self.regions],
            "region_used": self.region.to_json() if self.region else None,
            "region_note": self.region_note,
            "burned_in_annotation": self.burned_in_annotation,
            "transducer_type": self.transducer_type,
        }


def middle_frame(frames: int) -> int:
    """The frame a multi-frame file is read at: the middle one, index frames // 2."""
    if frames < 1:
        raise ValueError(f"no frame to choose among {frames}")
    return frames // 2


def _int(item: Any, keyword: str) -> int | None:
    value = item.get(keyword)
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _float(item: Any, keyword: str) -> float | None:
    value = item.get(keyword)
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def _pair(a: Any, b: Any) -> tuple[Any, Any] | None:
    return None if a is None or b is None else (a, b)


def _transducer(item: Any) -> str | None:
    value = item.get("TransducerType")
    if value is None:
        return None
    return str(value).strip().upper() or None


def _transducer_model(ds: Any) -> str | None:
    """The first TransducerData value, where vendors put the probe model (e.g. C5-1), or None."""
    value = ds.get("TransducerData")
    if value is None or value == "":
        return None
    first = value if isinstance(value, str) else (value[0] if len(value) else "")
    return str(first).strip() or None


def parse_regions(ds: Any) -> list[UltrasoundRegion]:
    """Every SequenceOfUltrasoundRegions item with a complete box; incomplete items are dropped."""
    regions = []
    for item in ds.get("SequenceOfUltrasoundRegions") or []:
        corners = [
            _int(item, k)
            for k in ("RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1", "RegionLocationMaxY1")
        ]
        if any(c is None for c in corners):
            continue
        x0, y0, x1, y1 = (int(c) for c in corners)  # type: ignore[arg-type]
        regions.append(
            UltrasoundRegion(
                spatial_format=_int(item, "RegionSpatialFormat") or 0,
                data_type=_int(item, "RegionDataType") or 0,
                x0=x0,
                y0=y0,
                x1=x1,
                y1=y1,
                reference_pixel=_pair(_int(item, "ReferencePixelX0"), _int(item, "ReferencePixelY0")),
                reference_value=_pair(
                    _float(item, "ReferencePixelPhysicalValueX"), _float(item, "ReferencePixelPhysicalValueY")
                ),
                units=_pair(_int(item, "PhysicalUnitsXDirection"), _int(item, "PhysicalUnitsYDirection")),
                delta=_pair(_float(item, "PhysicalDeltaX"), _float(item, "PhysicalDeltaY")),
                transducer_type=_transducer(item),
            )
        )
    return regions


def choose_region(regions: list[UltrasoundRegion], shape: tuple[int, ...]) -> tuple[UltrasoundRegion | None, str]:
    """The imaging region to use for an image of `shape` (h, w), and a note saying why."""
    h, w = shape[0], shape[1]
    candidates = [r for r in regions if r.spatial_format == SPATIAL_2D and r.data_type in IMAGING_DATA_TYPES]
    if not regions:
        return None, "no SequenceOfUltrasoundRegions"
    if not candidates:
        kinds = sorted({(r.spatial_format, r.data_type) for r in regions})
        return None, f"no 2-D tissue or colour-flow region among (format, data type) {kinds}"
    candidates.sort(key=lambda r: (IMAGING_DATA_TYPES.index(r.data_type), -r.area, r.y0, r.x0))
    best = candidates[0]
    if best.x0 < 0 or best.y0 < 0 or best.x1 < best.x0 or best.y1 < best.y0:
        return None, f"region corners {best.to_json()['corners_inclusive']} are not a box"
    if best.x1 >= w + REGION_SLACK_PX or best.y1 >= h + REGION_SLACK_PX:
        return None, (
            f"region corners {best.to_json()['corners_inclusive']} exceed the {w}x{h} pixel matrix "
            "(calibration of another resolution): ignored"
        )
    return best, f"region {best.to_json()['corners_inclusive']} (data type {best.data_type}) used"


def read_ultrasound(path: str | Path, data: bytes | None = None) -> UltrasoundFrame:
    """Read an ultrasound DICOM (its middle frame when multi-frame) or a PNG/JPEG frame."""
    path = Path(path)
    data = input_bytes(path, data)
    if sniff_format(data[:512], path.suffix) != "dicom":
        return UltrasoundFrame(image=read_image(path, data), frame=None, frames=1, region_note="not DICOM")

    ds = read_dicom_header(path, data, pixels=False)
    raw_frames = ds.get("NumberOfFrames")
    try:
        frames = 1 if raw_frames in (None, "") else int(raw_frames)
    except (TypeError, ValueError):
        raise ReaderError(path, f"NumberOfFrames {raw_frames!r} is not an integer") from None
    if frames < 1:
        raise ReaderError(path, f"multi-frame DICOM declares NumberOfFrames = {frames}: there is no frame to read")
    frame = middle_frame(frames) if frames > 1 else None
    image = read_image(path, data, frame=frame)
    regions = parse_regions(ds)
    region, note = choose_region(regions, image.pixels.shape)
    return UltrasoundFrame(
        image=image,
        frame=frame,
        frames=frames,
        regions=regions,
        region=region,
        region_note=note,
        burned_in_annotation=image.geometry.burned_in_annotation,
        transducer_type=(region.transducer_type if region else None) or _transducer(ds),
        transducer_data=_transducer_model(ds),
    )
