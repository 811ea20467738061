"""NRRD, MetaImage (.mha/.mhd) and other ITK-readable volumes through SimpleITK, in the LPS+ convention.

ITK physical space is already LPS, so the voxel-to-patient affine is direction @ diag(spacing) plus
origin, with no sign change (unlike NIfTI's RAS); `canonicalise` then permutes/flips the voxels.
The header is read first (`ReadImageInformation`) so size limits apply before any allocation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReaderError
from ..volume import Volume
from .volume_canonical import canonicalise, check_voxel_count
from .volume_nifti import count_non_finite

# SimpleITK errors start with "Exception thrown in SimpleITK X: /build/path/file.cxx:123:" and carry
# object addresses; neither helps a user, so they are cut before the message becomes one line.
_ITK_NOISE = re.compile(r"Exception thrown in SimpleITK \w+:\s*|\S+\.(?:cxx|h|hxx|txx):\d+:\s*|\(0x[0-9a-fA-F]+\)")


_FORMATS = {".nrrd": "NRRD", ".nhdr": "NRRD", ".mha": "MetaImage", ".mhd": "MetaImage", ".nii": "NIfTI", ".gz": "NIfTI"}


def _format_name(path: Path) -> str:
    """A readable format name from the suffix (SimpleITK does not say which ImageIO it picked)."""
    suffix = path.suffix.lower()
    if suffix == ".gz" and not path.name.lower().endswith(".nii.gz"):
        return "gzip"
    return _FORMATS.get(suffix, suffix.lstrip(".").upper() or "unknown")


def _itk_message(exc: BaseException) -> str:
    text = _ITK_NOISE.sub("", str(exc))
    return " ".join(text.replace("sitk::ERROR:", "").replace("ITK ERROR:", "").split()) or type(exc).__name__


def read_itk(path: str | Path) -> Volume:
    """Read a scalar 3-D image (or 4-D with one time point) with SimpleITK into the canonical `Volume`."""
    import SimpleITK as sitk

    path = Path(path)
    if not path.is_file():
        raise ReaderError(path, "no such file")
    if path.stat().st_size == 0:
        raise ReaderError(path, "empty file (0 bytes), not a volume")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise ReaderError(path, f"not a readable ITK image: {_itk_message(exc)}") from exc
    size = tuple(int(s) for s in reader.GetSize())  # (x, y, z[, t])
    dim = len(size)
    if dim < 3:
        raise ReaderError(path, f"{dim}-D image of size {size}, not a volume")
    if dim > 3 and int(np.prod(size[3:])) > 1:
        raise ReaderError(path, f"{dim}-D image of size {size}: {int(np.prod(size[3:]))} volumes, one expected")
    check_voxel_count(path, size)
    if reader.GetNumberOfComponents() != 1:
        raise ReaderError(path, f"{reader.GetNumberOfComponents()} components per voxel: not a scalar volume")
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise ReaderError(path, f"cannot read voxel data: {_itk_message(exc)}") from exc

    arr = sitk.GetArrayFromImage(img)  # [(t,) k, j, i]
    arr = arr.reshape(arr.shape[-3:])
    if arr.dtype.kind == "f":
        bad = count_non_finite(arr)
        if bad:
            raise ReaderError(path, f"{bad} voxel(s) are NaN or infinite")
    elif arr.dtype.kind not in "iub":
        raise ReaderError(path, f"unsupported voxel type {arr.dtype}")

    direction = np.asarray(img.GetDirection(), dtype=np.float64).reshape(dim, dim)[:3, :3]
    spacing = np.asarray(img.GetSpacing(), dtype=np.float64)[:3]
    affine = np.eye(4)
    affine[:3, :3] = direction @ np.diag(spacing)
    affine[:3, 3] = np.asarray(img.GetOrigin(), dtype=np.float64)[:3]
    meta: dict[str, Any] = {
        "format": _format_name(path),
        "stored_dtype": str(arr.dtype),
    }
    return canonicalise(arr, affine, meta, [], path=path)
