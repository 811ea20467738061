"""Write ultrasound frames as real DICOM US files (single or multi-frame) with region calibration.

Used by the built-in ultrasound sample and by tests: US Image Storage (1.2.840.10008.5.1.4.1.1.6.1)
for one frame, US Multi-frame Image Storage (1.2.840.10008.5.1.4.1.1.3.1) for a cine loop, 8-bit
MONOCHROME2, RGB or YBR_FULL, uncompressed or RLE Lossless (pydicom's encoder), with a
SequenceOfUltrasoundRegions item per region given. UIDs derive from `uid_seed`, so the same call
writes the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MedblinkError
from .dicom_common import new_dataset, save, set_pixels

US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"


@dataclass(frozen=True)
class RegionSpec:
    """One SequenceOfUltrasoundRegions item: a box (inclusive corners), its calibration, its kind."""

    box: tuple[int, int, int, int]  # MinX0, MinY0, MaxX1, MaxY1 (inclusive)
    cm_per_px: tuple[float, float] | None = None  # PhysicalDeltaX/Y with units cm
    reference_pixel: tuple[int, int] | None = None  # relative to (MinX0, MinY0)
    spatial_format: int = 1  # 2-D
    data_type: int = 1  # tissue
    transducer_type: str | None = None


def _region_item(spec: RegionSpec) -> Any:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.RegionSpatialFormat = spec.spatial_format
    item.RegionDataType = spec.data_type
    item.RegionFlags = 0
    item.RegionLocationMinX0, item.RegionLocationMinY0, item.RegionLocationMaxX1, item.RegionLocationMaxY1 = spec.box
    if spec.reference_pixel is not None:
        item.ReferencePixelX0, item.ReferencePixelY0 = spec.reference_pixel
        item.ReferencePixelPhysicalValueX = 0.0
        item.ReferencePixelPhysicalValueY = 0.0
    if spec.cm_per_px is not None:
        item.PhysicalUnitsXDirection = 3
        item.PhysicalUnitsYDirection = 3
        item.PhysicalDeltaX, item.PhysicalDeltaY = (float(v) for v in spec.cm_per_px)
    if spec.transducer_type:
        item.TransducerType = spec.transducer_type
    return item


def write_us_dicom(
    path: str | Path,
    frames: np.ndarray,
    *,
    uid_seed: str,
    photometric: str = "MONOCHROME2",
    transfer_syntax: str = EXPLICIT_LE,
    regions: Sequence[RegionSpec] = (),
    multiframe: bool = False,
    burned_in_annotation: str | None = "NO",
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write `frames` (H, W[, 3]) or, with `multiframe`, (N, H, W[, 3]) uint8 as a US DICOM file.

    RGB input is stored as RGB, or converted to YBR_FULL when `photometric` says so; greyscale is
    MONOCHROME2. `extra` sets further keywords (e.g. NumberOfFrames to write a broken file).
    """
    from pydicom.pixels import convert_color_space
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import UID

    arr = np.asarray(frames)
    if arr.dtype != np.uint8:
        raise MedblinkError(f"write_us_dicom needs uint8 pixels, got {arr.dtype}")
    colour = photometric in ("RGB", "YBR_FULL")
    expected = (4 if multiframe else 3) if colour else (3 if multiframe else 2)
    if arr.ndim != expected:
        raise MedblinkError(
            f"{photometric} {'multi-frame ' if multiframe else ''}pixels need {expected} dims, got {arr.shape}"
        )
    if photometric == "YBR_FULL":
        arr = convert_color_space(arr, "RGB", "YBR_FULL")
    syntax = UID(transfer_syntax)
    sop = US_MULTIFRAME_STORAGE if multiframe else US_IMAGE_STORAGE

    ds = new_dataset(sop, syntax, uid_seed, "US")
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    if burned_in_annotation is not None:
        ds.BurnedInAnnotation = burned_in_annotation
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = photometric
    if colour:
        ds.PlanarConfiguration = 0
    shape = arr.shape[1:3] if multiframe else arr.shape[:2]
    ds.Rows, ds.Columns = (int(v) for v in shape)
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if multiframe:
        ds.NumberOfFrames = int(arr.shape[0])
        ds.FrameTime = 33.3
        ds.FrameIncrementPointer = 0x00181063  # Frame Time
    if regions:
        ds.SequenceOfUltrasoundRegions = DicomSequence([_region_item(r) for r in regions])
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)

    set_pixels(ds, arr)
    return save(ds, path)
