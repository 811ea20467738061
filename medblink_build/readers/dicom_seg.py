"""DICOM Segmentation (SEG) objects to per-segment masks on a reference CT grid, with pydicom only.

A SEG stores, per segment, the frames (2-D planes) where the segment is present; each frame is
placed by its per-frame PlanePositionSequence (ImagePositionPatient) and the shared or per-frame
PlaneOrientationSequence / PixelMeasuresSequence. `read_dicom_seg` maps every frame onto the
reference `Volume` (already canonical LPS+, data [k, j, i]) through the inverse of
`reference.affine()`, never by frame order or InstanceNumber:

* the frame's column and row steps must each be one reference voxel along a reference axis (same
  orientation up to axis permutation/flips, same pixel spacing), checked at the frame's far
  corners to `POSITION_TOLERANCE` voxel, so the in-plane offset is a whole number of voxels;
* the frame's slice index must be a whole number too: a frame between two reference slices, or
  outside the reference, is a ReaderError naming the file and the frame (0-based, as elsewhere);
* BINARY segmentations (1 bit, unpacked by pydicom) are read as is; FRACTIONAL ones are
  thresholded at 50 % of MaximumFractionalValue (value * 2 >= maximum).

The FrameOfReferenceUID is compared with the reference series' when the caller passes
`reference_files` (the reference's DICOM files): `Volume.meta` deliberately carries no UIDs, so the
Volume alone cannot tell. Without `reference_files` the check is skipped and the result says so in
`warnings`. Nothing identifying (names, IDs, UIDs, dates) is returned: only masks, normalised
segment labels, segment numbers and warnings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReaderError
from ..volume import Volume
from .decoding import decode_or_raise
from .dicom_image import read_dicom_header
from .volume_canonical import check_voxel_count
from .volume_dicom import _dims, _frame_item, _multi_frame_slices, _name

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"  # Segmentation Storage

#: A frame corner may sit this far (in reference voxels) from a whole voxel index.
POSITION_TOLERANCE = 0.02
#: A frame step (in reference voxels) this far from a unit axis vector is another orientation or spacing.
AXIS_TOLERANCE = 0.01


class SegMasks(dict):
    """Normalised segment label -> uint8 mask [k, j, i] on the reference grid.

    `numbers` maps each label to its SegmentNumber; `warnings` lists checks that could not be made.
    """

    def __init__(self) -> None:
        super().__init__()
        self.numbers: dict[str, int] = {}
        self.warnings: list[str] = []


def normalise_label(label: str) -> str:
    """'Portal Vein' -> 'portal_vein': lower case, runs of whitespace to one underscore."""
    return re.sub(r"\s+", "_", str(label).strip().lower())


def is_dicom_seg(path: str | Path) -> bool:
    """True if `path` is a DICOM file whose SOPClassUID is Segmentation Storage or whose Modality is SEG.

    Never raises: unreadable or non-DICOM files are simply not SEGs.
    """
    from . import sniff_format

    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    if sniff_format(head, path.suffix) != "dicom":
        return False
    try:
        ds = _header(path)
    except ReaderError:
        return False
    return str(ds.get("SOPClassUID") or "") == SEG_SOP_CLASS or str(ds.get("Modality") or "").upper() == "SEG"


def _header(path: Path) -> Any:
    import pydicom

    try:
        return pydicom.dcmread(str(path), stop_before_pixels=True)
    except Exception as exc:
        raise ReaderError(path, f"cannot parse DICOM: {type(exc).__name__}: {exc}") from exc


def referenced_series_files(seg_path: str | Path, groups: Mapping[str, Sequence[Path]]) -> list[Path] | None:
    """The files of the series the SEG references, from `group_series` output (UID -> files).

    The SEG's ReferencedSeriesSequence decides; without one, a single candidate series is taken.
    Returns None if no (or more than one) series fits. No UID leaves this function.
    """
    ds = _header(Path(seg_path))
    wanted = {str(item.get("SeriesInstanceUID") or "") for item in ds.get("ReferencedSeriesSequence") or []}
    wanted.discard("")
    hits = [uid for uid in groups if uid in wanted]
    if len(hits) == 1:
        return list(groups[hits[0]])
    if not wanted and len(groups) == 1:
        return list(next(iter(groups.values())))
    return None


def _segments(ds: Any, path: Path) -> dict[int, str]:
    """SegmentNumber -> normalised label; duplicate labels become '<label>_<number>'."""
    seq = ds.get("SegmentSequence")
    if not seq:
        raise ReaderError(path, "DICOM SEG without a SegmentSequence (0062,0002)")
    raw: dict[int, str] = {}
    for i, item in enumerate(seq):
        try:
            number = int(item.SegmentNumber)
        except (AttributeError, TypeError, ValueError) as exc:
            raise ReaderError(path, f"segment item {i} has no valid SegmentNumber") from exc
        if number in raw:
            raise ReaderError(path, f"SegmentNumber {number} is defined twice")
        raw[number] = normalise_label(item.get("SegmentLabel") or "") or f"segment_{number}"
    counts: dict[str, int] = {}
    for label in raw.values():
        counts[label] = counts.get(label, 0) + 1
    return {n: (label if counts[label] == 1 else f"{label}_{n}") for n, label in raw.items()}


def _int(ds: Any, keyword: str, default: int, path: Path) -> int:
    try:
        return int(ds.get(keyword) or default)
    except (TypeError, ValueError) as exc:
        raise ReaderError(path, f"malformed {keyword}: {ds.get(keyword)!r}") from exc


def _frame_segment(per: Any, shared: Any, path: Path, f: int, known: dict[int, str]) -> int:
    item = _frame_item(per, shared, "SegmentIdentificationSequence")
    try:
        number = int(item.ReferencedSegmentNumber)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ReaderError(path, f"frame {f} has no ReferencedSegmentNumber in SegmentIdentificationSequence") from exc
    if number not in known:
        raise ReaderError(path, f"frame {f} references segment {number}, which SegmentSequence does not define")
    return number


def _axis(step: np.ndarray, path: Path, what: str) -> tuple[int, int]:
    """(reference axis 0=i/1=j/2=k, sign) of a frame step given in reference voxels, or ReaderError."""
    d = int(np.argmax(np.abs(step)))
    sign = 1 if step[d] > 0 else -1
    unit = np.zeros(3)
    unit[d] = sign
    if np.abs(step - unit).max() > AXIS_TOLERANCE:
        raise ReaderError(
            path,
            f"{what} is {np.round(step, 4).tolist()} reference voxels, not one voxel along a reference axis: "
            "different orientation or pixel spacing from the reference",
        )
    return d, sign


def read_dicom_seg(
    path: str | Path, reference: Volume, *, reference_files: Sequence[str | Path] | None = None
) -> SegMasks:
    """Read a DICOM SEG as {normalised SegmentLabel: uint8 mask} on `reference`'s grid (see module doc).

    `reference_files`: the reference series' DICOM files, to compare FrameOfReferenceUIDs.
    """
    path = Path(path)
    ds = read_dicom_header(path, pixels=True)
    if str(ds.get("SOPClassUID") or "") != SEG_SOP_CLASS and str(ds.get("Modality") or "").upper() != "SEG":
        raise ReaderError(path, f"not a DICOM Segmentation (SOP class {ds.get('SOPClassUID')}, expected SEG)")
    out = SegMasks()

    seg_for = str(ds.get("FrameOfReferenceUID") or "")
    if reference_files:
        ref_path = Path(reference_files[0])
        ref_for = str(read_dicom_header(ref_path, pixels=False).get("FrameOfReferenceUID") or "")
        if not seg_for:
            raise ReaderError(path, "DICOM SEG without FrameOfReferenceUID: its frames cannot be placed")
        if ref_for and ref_for != seg_for:
            raise ReaderError(path, f"FrameOfReferenceUID differs from the reference series' ({ref_path.name})")
        if not ref_for:
            out.warnings.append("FrameOfReferenceUID not checked: the reference series has none")
    else:
        out.warnings.append("FrameOfReferenceUID not checked: the reference Volume does not carry it")

    seg_type = str(ds.get("SegmentationType") or "").upper()
    bits = _int(ds, "BitsAllocated", 0, path)
    if seg_type == "BINARY":
        if bits != 1:
            raise ReaderError(path, f"BINARY segmentation with BitsAllocated {bits}, expected 1")
        maximum = 1
    elif seg_type == "FRACTIONAL":
        if bits != 8:
            raise ReaderError(path, f"FRACTIONAL segmentation with BitsAllocated {bits}, expected 8")
        try:
            maximum = int(ds.MaximumFractionalValue)
        except (AttributeError, TypeError, ValueError) as exc:
            raise ReaderError(path, "FRACTIONAL segmentation without a valid MaximumFractionalValue") from exc
        if not 0 < maximum <= 255:
            raise ReaderError(path, f"MaximumFractionalValue {maximum} is not in 1..255")
    else:
        raise ReaderError(path, f"SegmentationType {seg_type or 'missing'} is not BINARY or FRACTIONAL")
    segments = _segments(ds, path)

    rows, cols = _dims(ds, path)
    n_frames = _int(ds, "NumberOfFrames", 1, path)
    check_voxel_count(path, (n_frames, rows, cols))
    if "PixelData" not in ds:
        raise ReaderError(path, "DICOM SEG without Pixel Data")
    planes = _multi_frame_slices(path, ds)  # IPP / IOP / PixelSpacing per frame, per-frame over shared
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    frame_segments = [
        _frame_segment(per, shared, path, f, segments) for f, per in enumerate(ds.PerFrameFunctionalGroupsSequence)
    ]

    from pydicom.pixels import pixel_array

    pixels = decode_or_raise(path, "SEG pixel data", lambda: pixel_array(ds))
    pixels = np.asarray(pixels).reshape(n_frames, rows, cols) if pixels.size == n_frames * rows * cols else pixels
    if pixels.shape != (n_frames, rows, cols):
        raise ReaderError(path, f"decoded SEG pixels have shape {pixels.shape}, header says {n_frames}x{rows}x{cols}")

    inverse = np.linalg.inv(reference.affine())
    lin, shift = inverse[:3, :3], inverse[:3, 3]
    nz, ny, nx = reference.shape
    sizes = (nx, ny, nz)  # along reference axes i, j, k
    masks = {n: np.zeros(reference.shape, dtype=np.uint8) for n in segments}
    filled: dict[tuple[int, int], int] = {}
    for f, (plane, number) in enumerate(zip(planes, frame_segments, strict=True)):
        name = _name(plane)
        row_cos, col_cos = plane.iop[:3], plane.iop[3:]
        row_step, col_step = plane.pixel_spacing  # between rows (down a column), between columns
        origin = lin @ plane.ipp + shift  # reference (i, j, k) of the frame's first pixel
        u = lin @ (row_cos * col_step)  # one frame column to the right, in reference voxels
        v = lin @ (col_cos * row_step)  # one frame row down
        ua, us = _axis(u, path, f"the column step of {name}")
        va, vs = _axis(v, path, f"the row step of {name}")
        if ua == va:
            raise ReaderError(path, f"{name}: rows and columns run along the same reference axis")
        wa = 3 - ua - va
        corners = [origin + a * u + b * v for a in (0, cols - 1) for b in (0, rows - 1)]
        for c in corners:
            if np.abs(c - np.rint(c)).max() > POSITION_TOLERANCE:
                axis = int(np.argmax(np.abs(c - np.rint(c))))
                where = "between reference slices" if axis == wa else "off the reference voxel grid in plane"
                raise ReaderError(
                    path,
                    f"{name} lies {where}: reference index {np.round(c, 3).tolist()} (i, j, k) is not whole",
                )
            if any(not 0 <= int(np.rint(c[d])) < sizes[d] for d in range(3)):
                raise ReaderError(
                    path,
                    f"{name} lies outside the reference: reference index {np.round(c, 3).tolist()} (i, j, k), "
                    f"grid {sizes[0]}x{sizes[1]}x{sizes[2]}",
                )
        o = np.rint(origin).astype(int)
        key = (number, wa, int(o[wa]))
        if key in filled:
            raise ReaderError(path, f"frames {filled[key]} and {f} of segment {number} cover the same reference plane")
        filled[key] = f

        frame = pixels[f]
        binary = (frame.astype(np.int32) * 2 >= maximum) if seg_type == "FRACTIONAL" else (frame != 0)
        # frame[b, a] -> reference index o + a * e_ua * us + b * e_va * vs
        b_idx, a_idx = np.nonzero(binary)
        ijk = np.empty((3, a_idx.size), dtype=np.int64)
        ijk[:] = o[:, None]
        ijk[ua] += us * a_idx
        ijk[va] += vs * b_idx
        masks[number][ijk[2], ijk[1], ijk[0]] = 1

    for number, label in segments.items():
        out[label] = masks[number]
        out.numbers[label] = number
    return out
