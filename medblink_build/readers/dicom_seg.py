"""DICOM Segmentation (SEG) objects to per-segment masks on a reference CT grid, through highdicom.

highdicom parses the SEG (segments, per-frame functional groups, bit unpacking, fractional values)
and builds its volume from each frame's PlanePositionSequence, never from frame order or
InstanceNumber. `read_dicom_seg` then places that volume on the reference `Volume` (canonical
LPS+, data [k, j, i]) with highdicom's `match_geometry` (axis permutations, flips and padding only,
never resampling), after checking what highdicom would otherwise crop or refuse vaguely:

* each SEG axis must step one reference voxel along a reference axis (same orientation up to axis
  permutation/flips, same pixel spacing), checked at the volume's far corners to
  `POSITION_TOLERANCE` voxel;
* the corners must be whole reference indices inside the grid: a SEG between two reference
  slices, or outside the reference, is a ReaderError naming the file;
* BINARY segmentations are read as is; FRACTIONAL ones are thresholded at 50 % of
  MaximumFractionalValue (value * 2 >= maximum), on the stored integers.

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
    from .sniff import sniff_format

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


def _axis(step: np.ndarray, path: Path, what: str) -> tuple[int, int]:
    """(reference axis 0=i/1=j/2=k, sign) of a step given in reference voxels, or ReaderError."""
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


def _reference_geometry(reference: Volume, frame_of_reference_uid: str) -> Any:
    """`reference` as a highdicom VolumeGeometry: its data are [k, j, i], so the affine's columns
    are reordered from (i, j, k) to highdicom's array-axis order."""
    import highdicom as hd

    affine = reference.affine()[:, [2, 1, 0, 3]]
    return hd.VolumeGeometry(affine, reference.shape, "PATIENT", frame_of_reference_uid=frame_of_reference_uid or None)


def _check_grid(path: Path, seg_affine: np.ndarray, seg_shape: tuple[int, ...], reference: Volume) -> None:
    """The SEG's voxels must be reference voxels: unit steps along reference axes, whole indices
    inside the grid. highdicom would crop what lies outside; here that is an error, not a loss."""
    to_ref = np.linalg.inv(reference.affine()) @ seg_affine  # SEG (slice, row, col) -> reference (i, j, k)
    names = ("slice step", "row step", "column step")
    axes = []
    for a, what in enumerate(names):
        if seg_shape[a] == 1 and what == "slice step":
            continue  # one frame: its slice step is undefined and never used
        axes.append(_axis(to_ref[:3, a], path, f"the {what} of the segmentation"))
    if len({d for d, _ in axes}) != len(axes):
        raise ReaderError(path, "two axes of the segmentation run along the same reference axis")
    slice_axis = axes[0][0] if seg_shape[0] > 1 else 3 - axes[0][0] - axes[1][0]
    nz, ny, nx = reference.shape
    sizes = (nx, ny, nz)
    for corner in [
        (s, r, c) for s in (0, seg_shape[0] - 1) for r in (0, seg_shape[1] - 1) for c in (0, seg_shape[2] - 1)
    ]:
        ijk = to_ref[:3, :3] @ np.asarray(corner, dtype=np.float64) + to_ref[:3, 3]
        off = np.abs(ijk - np.rint(ijk))
        if off.max() > POSITION_TOLERANCE:
            where = "between reference slices" if int(np.argmax(off)) == slice_axis else "off the reference voxel grid"
            raise ReaderError(
                path, f"the segmentation lies {where}: reference index {np.round(ijk, 3).tolist()} (i, j, k)"
            )
        if any(not 0 <= int(np.rint(ijk[d])) < sizes[d] for d in range(3)):
            raise ReaderError(
                path,
                f"the segmentation lies outside the reference: reference index {np.round(ijk, 3).tolist()} (i, j, k), "
                f"grid {sizes[0]}x{sizes[1]}x{sizes[2]}",
            )


def read_dicom_seg(
    path: str | Path, reference: Volume, *, reference_files: Sequence[str | Path] | None = None
) -> SegMasks:
    """Read a DICOM SEG as {normalised SegmentLabel: uint8 mask} on `reference`'s grid (see module doc).

    `reference_files`: the reference series' DICOM files, to compare FrameOfReferenceUIDs.
    """
    import highdicom as hd

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
    if seg_type not in ("BINARY", "FRACTIONAL"):
        raise ReaderError(path, f"SegmentationType {seg_type or 'missing'} is not BINARY or FRACTIONAL")
    segments = _segments(ds, path)
    n_frames = int(ds.get("NumberOfFrames") or 1)
    check_voxel_count(path, (n_frames, int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)))
    if "PixelData" not in ds:
        raise ReaderError(path, "DICOM SEG without Pixel Data")

    def volume() -> Any:
        seg = hd.seg.Segmentation.from_dataset(ds, copy=False)
        numbers = list(segments)
        return seg.get_volume(
            segment_numbers=numbers, combine_segments=False, rescale_fractional=False, allow_missing_positions=True
        )

    seg_volume = decode_or_raise(path, "SEG frames (highdicom)", volume)
    _check_grid(path, seg_volume.affine, seg_volume.spatial_shape, reference)
    maximum = int(ds.get("MaximumFractionalValue") or 1) if seg_type == "FRACTIONAL" else 1
    matched = decode_or_raise(
        path, "SEG onto the reference grid", lambda: seg_volume.match_geometry(_reference_geometry(reference, seg_for))
    )
    values = np.asarray(matched.array)  # [k, j, i, segment], in the order of `segments`
    for index, (number, label) in enumerate(segments.items()):
        plane = values[..., index].astype(np.int32)
        mask = plane * 2 >= maximum if seg_type == "FRACTIONAL" else plane != 0
        out[label] = mask.astype(np.uint8)
        out.numbers[label] = number
    return out
