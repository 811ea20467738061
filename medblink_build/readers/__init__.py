"""Readers turn files into pixels plus geometry. They know formats, never tasks.

`read_image` picks the reader from the file's content (DICOM preamble, PNG/JPEG/TIFF magic) and
falls back on its suffix, so extension-less DICOM files from PACS exports are read too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ReaderError
from ..model import DisplayImage
from ..volume import Volume
from .dicom_image import read_dicom_image
from .files import input_bytes
from .instances import InstanceAnnotations
from .raster import read_raster_image
from .sniff import DICOM_SUFFIXES, IMAGE_SUFFIXES, looks_like_dicom, sniff_format


def read_image(path: str | Path, data: bytes | None = None, *, frame: int | None = None) -> DisplayImage:
    """Read any supported 2-D image. `data` may hold the file's bytes if they were already read."""
    path = Path(path)
    data = input_bytes(path, data)
    kind = sniff_format(data[:512], path.suffix)
    if kind == "dicom":
        return read_dicom_image(path, data, frame=frame)
    if kind == "raster":
        return read_raster_image(path, data)
    raise ReaderError(path, "not a supported image (expected DICOM, PNG, JPEG or TIFF)")


def read_instance_annotations(path: str | Path, data: bytes) -> InstanceAnnotations:
    """Parse an instance annotation file: a COCO-style object (DENTEX), or a Labelbox array (Tufts)."""
    from .coco import parse_coco
    from .instances import load_json
    from .labelbox import parse_labelbox

    doc = load_json(path, data)
    if isinstance(doc, list):
        return parse_labelbox(path, doc)
    return parse_coco(path, doc)


VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def read_volume(
    paths: list[Path],
    read: Callable[[Path], bytes] | None = None,
    headers: dict[Path, Any] | None = None,
) -> Volume:
    """Read one 3-D volume in LPS: a NIfTI / NRRD / MHA file, or DICOM files of one series.

    DICOM series only: `read` reads a file's bytes (so a caller can hash what is decoded), and
    `headers` receives each file's parsed header (see `read_dicom_series`).
    """
    from .volume_dicom import read_dicom_series
    from .volume_itk import read_itk
    from .volume_nifti import read_nifti

    if not paths:
        raise ValueError("read_volume needs at least one file")
    names = [p.name.lower() for p in paths]
    if len(paths) == 1 and names[0].endswith((".nii.gz", ".nii")):
        return read_nifti(paths[0])
    if len(paths) == 1 and names[0].endswith(VOLUME_SUFFIXES):
        return read_itk(paths[0])
    if any(n.endswith(VOLUME_SUFFIXES) for n in names):
        raise ReaderError(paths[0], "several volume files given where one volume was expected")
    return read_dicom_series(list(paths), read, headers)


__all__ = [
    "DICOM_SUFFIXES",
    "IMAGE_SUFFIXES",
    "looks_like_dicom",
    "read_dicom_image",
    "read_image",
    "read_instance_annotations",
    "read_raster_image",
    "sniff_format",
]
