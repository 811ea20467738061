"""Write 2-D projection radiographs as real DICOM files (DX/CR/SC), optionally compressed.

Used to make the built-in sample source and test corpora in the same format users bring: real
file meta, real image pixel module, geometry tags, and the transfer syntax asked for (encoders:
pydicom's RLE, pylibjpeg-openjpeg for JPEG 2000, pyjpegls for JPEG-LS).
UIDs are derived from `uid_seed` so the same call writes the same bytes every time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MedblinkError
from .dicom_common import new_dataset, save, set_pixels

DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation


def write_radiograph(
    path: str | Path,
    pixels: np.ndarray,
    *,
    uid_seed: str,
    transfer_syntax: str = "1.2.840.10008.1.2.1",
    bits_stored: int = 12,
    photometric: str = "MONOCHROME2",
    patient_orientation: tuple[str, str] | None = ("L", "F"),
    view_position: str | None = "PA",
    body_part: str | None = "CHEST",
    window: tuple[float, float] | None = None,
    rescale: tuple[float, float] | None = None,
    pixel_spacing_mm: float = 0.4,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write `pixels` (2-D unsigned integers) as a DX image and return the path.

    `window` is (center, width) in output units; `rescale` is (slope, intercept); `extra` sets any
    further keywords (e.g. PatientAge, BurnedInAnnotation) on the dataset.
    """
    from pydicom.uid import UID

    arr = np.asarray(pixels)
    if arr.ndim != 2 or arr.dtype.kind != "u":
        raise MedblinkError(f"write_radiograph needs a 2-D unsigned integer array, got {arr.dtype} {arr.shape}")
    arr = arr.astype(np.uint8 if bits_stored <= 8 else np.uint16)
    syntax = UID(transfer_syntax)

    ds = new_dataset(DX_SOP_CLASS, syntax, uid_seed, "DX")
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    if patient_orientation is not None:
        ds.PatientOrientation = list(patient_orientation)
    if view_position is not None:
        ds.ViewPosition = view_position
    if body_part is not None:
        ds.BodyPartExamined = body_part
    ds.ImagerPixelSpacing = [pixel_spacing_mm, pixel_spacing_mm]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = arr.shape
    ds.BitsAllocated = 8 if bits_stored <= 8 else 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
        ds.RescaleType = "US"
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)

    set_pixels(ds, arr)
    return save(ds, path)
