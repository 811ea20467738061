"""DICOM CT/MR series (one file per slice, or one enhanced multi-frame file) to a canonical LPS+ `Volume`.

Slices are ordered by where they are, never by file name or InstanceNumber: the projection of
ImagePositionPatient on the slice normal n = row cosine x column cosine. The slice positions are then
checked, because a silently wrong grid is worse than no grid:

* duplicate positions (two acquisitions, or a copied file) and missing slices (a step > 1.5 x the
  median step) raise `ReaderError`;
* a step below 0.5 x the median (interleaved or overlapping stacks) raises too;
* a step spread above 1 % of the median with no gap is kept on the median step, with a warning;
* gantry tilt (first-to-last IPP not parallel to n by more than 0.5 degree) gives a sheared grid:
  the k axis of the affine is the real slice step vector, not resampled, with a warning.

Voxel values are the Modality LUT output (pydicom `apply_modality_lut`, i.e. HU for CT). Output
dtype: integer (int16, widened to int32 only if the values need it) when every slice maps stored
integers to integers (Rescale Slope 1 with an integral Intercept, no rescale at all, or a Modality
LUT Sequence), so CT HU stay exact and half the size of float32; float32 otherwise (a non-unit
slope, e.g. PET or rescaled MR).

`Volume.meta` holds non-identifying acquisition facts for provenance only (never names, IDs, dates
or UIDs). Contrast attributes keep the file's raw value: None when the attribute is absent, "" when
it is present but empty, so callers can tell "not recorded" from "recorded as nothing".
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReaderError
from ..fsnames import read_regular
from ..volume import Volume
from . import buffers
from .decoding import check_codestream, decode_or_raise
from .dicom_contrast import contrast_attributes
from .dicom_image import deferred_span, read_dicom_header, release_deferred
from .dicom_subject import subject_of
from .header_values import header_number
from .limits import MAX_IMAGE_PIXELS, check_memory, volume_estimate
from .volume_canonical import canonicalise, check_voxel_count

ENHANCED_CT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.2.1"
PIXEL_DATA = 0x7FE00010

#: Tolerances of the series checks (documented in the module docstring).
IOP_TOLERANCE = 1e-4  # per direction-cosine component
SPACING_TOLERANCE_MM = 1e-4  # PixelSpacing agreement between slices
DUPLICATE_TOLERANCE_MM = 0.01  # two slices closer than this along the normal are the same position
GAP_FACTOR = 1.5  # a step above this x the median step means missing slice(s)
CROWD_FACTOR = 0.5  # a step below this x the median step means interleaved / overlapping stacks
UNIFORM_SPREAD = 0.01  # (max step - min step) above this fraction of the median gives a warning
TILT_DEGREES = 0.5  # first-to-last IPP further than this from the normal means gantry tilt

#: Attributes copied to `Volume.meta` (non-identifying). Contrast ones keep "" when present-but-empty.
_CONTRAST_KEYWORDS = ("ContrastBolusAgent", "ContrastBolusRoute", "ContrastBolusStartTime")
_TEXT_KEYWORDS = (
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "SeriesDescription",
    "BodyPartExamined",
    "PatientPosition",
    "ImageType",
    "ConvolutionKernel",
)


#: What grouping files into series reads of each header (the rest is parsed when the series is read).
_GROUPING_KEYWORDS = ("SOPClassUID", "SeriesInstanceUID", "Rows", "Columns")


@dataclass
class _Slice:
    """One 2-D plane of the series: a single-frame file, or one frame of a multi-frame file."""

    path: Path
    frame: int | None
    ipp: np.ndarray
    iop: np.ndarray
    pixel_spacing: tuple[float, float]  # (between rows, between columns) in mm
    rows: int
    cols: int
    rescale: Any  # dataset holding the Modality LUT module for this plane (pydicom apply_modality_lut)
    instance: Any = None  # InstanceNumber, only to name files in messages if useful
    position: float = 0.0  # along the slice normal, set once the normal is known


# --------------------------------------------------------------------------- grouping


def _expand(paths: Iterable[str | Path] | str | Path) -> list[Path]:
    """Files from `paths`; a directory stands for every file below it (hidden files skipped)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(
                sorted(f for f in p.rglob("*") if f.is_file() and not any(part.startswith(".") for part in f.parts))
            )
        else:
            out.append(p)
    return list(dict.fromkeys(out))


def group_series(paths: Iterable[str | Path] | str | Path) -> tuple[dict[str, list[Path]], list[str]]:
    """Split files into series by SeriesInstanceUID, reading headers only.

    Returns (groups, problems): groups maps SeriesInstanceUID to its files (sorted by path); problems
    lists one line per skipped file (not DICOM, no image, no SeriesInstanceUID). A directory in
    `paths` stands for all files below it.
    """
    groups, failed = group_series_files(paths)
    return groups, [str(ReaderError(path, problem)) for path, problem in failed]


def group_series_files(
    paths: Iterable[str | Path] | str | Path,
) -> tuple[dict[str, list[Path]], list[tuple[Path, str]]]:
    """`group_series` with each problem as (file, problem), so a caller can record every file."""
    groups: dict[str, list[Path]] = {}
    problems: list[tuple[Path, str]] = []
    for path in _expand(paths):
        try:
            ds = read_dicom_header(path, pixels=False, only=_GROUPING_KEYWORDS)
        except ReaderError as exc:
            problems.append((path, exc.problem))
            continue
        if "Rows" not in ds or "Columns" not in ds:
            sop = ds.get("SOPClassUID")
            kind = getattr(sop, "name", None) or str(sop or "unknown SOP class")
            problems.append((path, f"DICOM without an image ({kind})"))
            continue
        uid = str(ds.get("SeriesInstanceUID") or "")
        if not uid:
            problems.append((path, "DICOM image without SeriesInstanceUID (0020,000E)"))
            continue
        groups.setdefault(uid, []).append(path)
    return {uid: sorted(files) for uid, files in groups.items()}, problems


# --------------------------------------------------------------------------- headers -> planes


def _floats(value: Any, n: int, path: Path, what: str) -> np.ndarray:
    try:
        out = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ReaderError(path, f"{what} is not {n} numbers: {value!r}") from exc
    if out.shape != (n,) or not np.isfinite(out).all():
        raise ReaderError(path, f"{what} is not {n} finite numbers: {value!r}")
    return out


def _required(src: Any, keyword: str, path: Path, frame: int | None = None) -> Any:
    value = header_number(src, keyword) if src is not None else None
    if value is None or value == "":
        where = f" for frame {frame}" if frame is not None else ""
        raise ReaderError(path, f"no {keyword}{where}: cannot place the slice in patient space")
    return value


def _present(ds: Any, keyword: str) -> Any:
    """`ds.<keyword>` (AttributeError when absent), numbers read by `header_number`."""
    value = header_number(ds, keyword)
    return getattr(ds, keyword) if value is None else value


def _dims(ds: Any, path: Path) -> tuple[int, int]:
    try:
        rows, cols = int(_present(ds, "Rows")), int(_present(ds, "Columns"))
    except (AttributeError, TypeError, ValueError) as exc:
        raise ReaderError(path, f"malformed Rows/Columns: {exc}") from exc
    if rows <= 0 or cols <= 0:
        raise ReaderError(path, f"image dimensions {rows}x{cols} are not positive")
    if rows * cols > MAX_IMAGE_PIXELS:
        raise ReaderError(
            path, f"header declares {cols}x{rows} pixels per slice, above the limit of {MAX_IMAGE_PIXELS}"
        )
    if int(header_number(ds, "SamplesPerPixel") or 1) != 1:
        raise ReaderError(path, f"{ds.SamplesPerPixel} samples per pixel: a volume needs greyscale slices")
    return rows, cols


def _single_frame_slice(path: Path, ds: Any) -> _Slice:
    rows, cols = _dims(ds, path)
    ps = _floats(_required(ds, "PixelSpacing", path), 2, path, "PixelSpacing")
    return _Slice(
        path=path,
        frame=None,
        ipp=_floats(_required(ds, "ImagePositionPatient", path), 3, path, "ImagePositionPatient"),
        iop=_floats(_required(ds, "ImageOrientationPatient", path), 6, path, "ImageOrientationPatient"),
        pixel_spacing=(float(ps[0]), float(ps[1])),
        rows=rows,
        cols=cols,
        rescale=ds,
        instance=ds.get("InstanceNumber"),
    )


def _group_item(item: Any, keyword: str) -> Any:
    """First item of sequence `keyword` in a functional-group item, or None."""
    if item is None:
        return None
    seq = item.get(keyword)
    return seq[0] if seq else None


def _frame_item(per: Any, shared: Any, keyword: str) -> Any:
    """A functional group macro for one frame: per-frame if given there, else shared (PS3.3 C.7.6.16)."""
    item = _group_item(per, keyword)
    return item if item is not None else _group_item(shared, keyword)


def _multi_frame_slices(path: Path, ds: Any) -> list[_Slice]:
    """One `_Slice` per frame of an enhanced multi-frame image, from its functional groups."""
    rows, cols = _dims(ds, path)
    try:
        n_frames = int(ds.get("NumberOfFrames") or 1)
    except (TypeError, ValueError) as exc:
        raise ReaderError(path, f"malformed NumberOfFrames: {exc}") from exc
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if not per_frame:
        raise ReaderError(
            path, f"multi-frame file ({n_frames} frames) without per-frame functional groups: unsupported"
        )
    if len(per_frame) != n_frames:
        raise ReaderError(path, f"{len(per_frame)} per-frame functional group items for {n_frames} frames")
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    out = []
    for f, per in enumerate(per_frame):
        position = _frame_item(per, shared, "PlanePositionSequence")
        orientation = _frame_item(per, shared, "PlaneOrientationSequence")
        measures = _frame_item(per, shared, "PixelMeasuresSequence")
        transform = _frame_item(per, shared, "PixelValueTransformationSequence")
        ps = _floats(_required(measures, "PixelSpacing", path, f), 2, path, f"PixelSpacing of frame {f}")
        out.append(
            _Slice(
                path=path,
                frame=f,
                ipp=_floats(_required(position, "ImagePositionPatient", path, f), 3, path, f"IPP of frame {f}"),
                iop=_floats(_required(orientation, "ImageOrientationPatient", path, f), 6, path, f"IOP of frame {f}"),
                pixel_spacing=(float(ps[0]), float(ps[1])),
                rows=rows,
                cols=cols,
                rescale=transform if transform is not None else ds,
                instance=f + 1,
            )
        )
    return out


def _is_multi_frame(ds: Any) -> bool:
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        frames = 1
    return frames > 1 or "PerFrameFunctionalGroupsSequence" in ds


def _name(s: _Slice) -> str:
    return s.path.name if s.frame is None else f"{s.path.name} frame {s.frame}"


# --------------------------------------------------------------------------- geometry checks


def _series_label(paths: list[Path]) -> Path:
    """What a series-wide error names: the one file, or the folder the files share."""
    if len(paths) == 1:
        return paths[0]
    try:
        return Path(os.path.commonpath([str(p) for p in paths]))
    except ValueError:
        return paths[0].parent


def _check_planes(slices: list[_Slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same IOP / size / pixel spacing everywhere; returns unit row cosine, column cosine and normal."""
    first = slices[0]
    for s in slices[1:]:
        if np.abs(s.iop - first.iop).max() > IOP_TOLERANCE:
            raise ReaderError(
                s.path,
                f"ImageOrientationPatient {s.iop.tolist()} in {_name(s)} differs from {first.iop.tolist()} "
                f"in {_name(first)}: not one volume",
            )
        if (s.rows, s.cols) != (first.rows, first.cols):
            raise ReaderError(
                s.path, f"{s.rows}x{s.cols} pixels in {_name(s)} but {first.rows}x{first.cols} in {_name(first)}"
            )
        if max(abs(a - b) for a, b in zip(s.pixel_spacing, first.pixel_spacing, strict=True)) > SPACING_TOLERANCE_MM:
            raise ReaderError(
                s.path,
                f"PixelSpacing {list(s.pixel_spacing)} in {_name(s)} but {list(first.pixel_spacing)} in {_name(first)}",
            )
    row, col = first.iop[:3], first.iop[3:]
    if np.linalg.norm(row) < 0.5 or np.linalg.norm(col) < 0.5:
        raise ReaderError(first.path, f"ImageOrientationPatient {first.iop.tolist()} has a zero direction cosine")
    row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
    if abs(float(row @ col)) > 1e-3:
        raise ReaderError(
            first.path, f"ImageOrientationPatient {first.iop.tolist()}: row and column are not orthogonal"
        )
    normal = np.cross(row, col)
    return row, col, normal / np.linalg.norm(normal)


def _slice_axis(
    slices: list[_Slice], normal: np.ndarray, label: Path, warnings: list[str], meta: dict[str, Any]
) -> np.ndarray:
    """The k column of the affine (LPS mm per slice) for slices already sorted along `normal`."""
    pos = np.array([s.position for s in slices])
    steps = np.diff(pos)
    for a, b, step in zip(slices, slices[1:], steps, strict=False):
        if step < DUPLICATE_TOLERANCE_MM:
            raise ReaderError(
                label, f"duplicate slice position {a.position:.3f} mm along the normal in {_name(a)} and {_name(b)}"
            )
    median = float(np.median(steps))
    for a, b, step in zip(slices, slices[1:], steps, strict=False):
        if step > GAP_FACTOR * median:
            raise ReaderError(
                label,
                f"missing slice(s) between z={a.position:.3f} and z={b.position:.3f} mm ({_name(a)}, {_name(b)}): "
                f"step {step:.3f} mm, median {median:.3f} mm",
            )
        if step < CROWD_FACTOR * median:
            raise ReaderError(
                label,
                f"slices at z={a.position:.3f} and z={b.position:.3f} mm ({_name(a)}, {_name(b)}) are only "
                f"{step:.3f} mm apart, median step {median:.3f} mm: overlapping or interleaved stacks",
            )
    lo, hi = float(steps.min()), float(steps.max())
    if hi - lo > UNIFORM_SPREAD * median:
        warnings.append(
            f"non-uniform slice spacing: steps from {lo:.4f} to {hi:.4f} mm; the grid uses the median {median:.4f} mm"
        )
    meta["slice_step_mm"] = median

    span = slices[-1].ipp - slices[0].ipp
    cos = float(np.clip(abs(span @ normal) / np.linalg.norm(span), -1.0, 1.0))
    tilt = float(np.degrees(np.arccos(cos)))
    if tilt > TILT_DEGREES:
        t = span / np.linalg.norm(span)
        meta["gantry_tilt_degrees"] = round(tilt, 4)
        warnings.append(f"gantry tilt {tilt:.2f} degrees (sheared grid, not resampled)")
        return t * (median / float(t @ normal))  # projects onto the normal as one median step
    return normal * median


def _single_slice_step(ds: Any, meta: dict[str, Any]) -> float:
    """A one-slice series has no second position: use SpacingBetweenSlices, else SliceThickness, else 1 mm."""
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = float(_lookup(ds, shared, keyword)[1])
        except (TypeError, ValueError):
            continue
        if value > 0:
            meta["slice_step_source"] = keyword
            return value
    meta["slice_step_source"] = "default 1 mm"
    return 1.0


# --------------------------------------------------------------------------- meta


def _meta_value(value: Any, keep_empty: bool) -> Any:
    from pydicom.multival import MultiValue

    if value is None:
        return None
    if isinstance(value, (MultiValue, list, tuple)):
        return [str(v) for v in value]
    text = str(value)
    return text if (text or keep_empty) else None


def _lookup(ds: Any, shared: Any, keyword: str) -> tuple[bool, Any]:
    """(present, value) from the top level, else from any macro of the shared functional groups."""
    if keyword in ds:
        return True, ds[keyword].value
    if shared is not None:
        for elem in shared:
            if elem.VR == "SQ" and elem.value and keyword in elem.value[0]:
                return True, elem.value[0][keyword].value
    return False, None


def _series_meta(ds: Any, n_slices: int, syntaxes: list[str], multi_frame: bool) -> dict[str, Any]:
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    meta: dict[str, Any] = {"format": "DICOM enhanced multi-frame" if multi_frame else "DICOM series"}
    for keyword in _TEXT_KEYWORDS:
        meta[keyword] = _meta_value(_lookup(ds, shared, keyword)[1], keep_empty=False)
    for keyword in _CONTRAST_KEYWORDS:
        present, value = _lookup(ds, shared, keyword)
        meta[keyword] = (_meta_value(value, keep_empty=True) or "") if present else None
    meta.update(contrast_attributes(ds))  # coded agents, ingredient, Enhanced CT usage per frame
    try:
        meta["SliceThickness"] = float(_lookup(ds, shared, "SliceThickness")[1])
    except (TypeError, ValueError):
        meta["SliceThickness"] = None
    meta["n_slices"] = n_slices
    meta["transfer_syntax"] = syntaxes[0] if len(syntaxes) == 1 else syntaxes
    return meta


# --------------------------------------------------------------------------- pixels


def _rescale_is_integral(src: Any) -> bool:
    """True if the Modality LUT maps stored integers to integers (so an integer volume is exact)."""
    if src.get("ModalityLUTSequence"):
        return True
    if "RescaleSlope" not in src or "RescaleIntercept" not in src:
        return True  # pydicom applies no rescale without both
    try:
        slope, intercept = float(_present(src, "RescaleSlope")), float(_present(src, "RescaleIntercept"))
    except (TypeError, ValueError):
        return False
    return slope == 1.0 and intercept == round(intercept)


def _decode_into(out: np.ndarray, k: int, ds: Any, s: _Slice, data: bytes | None = None) -> np.ndarray:
    """Decode plane `s` of `ds` through its Modality LUT into `out[k]`; returns the volume, which is
    a new array only when it had to be widened (see `_put`). `data` is the file `ds` was parsed
    from with its pixel data deferred (`read_dicom_header(defer=True)`)."""
    from pydicom.pixels import pixel_array

    ts = ds.file_meta.get("TransferSyntaxUID")
    check_codestream(s.path, ds, s.frame)
    arr = _native_view(ds, ts, s, data)
    if arr is None:
        view = {"view_only": True} if _viewable(ds, ts) else {}
        arr = decode_or_raise(
            s.path,
            f"pixel data of {_name(s)} ({getattr(ts, 'name', ts)})",
            lambda: pixel_array(ds, index=s.frame, **view) if s.frame is not None else pixel_array(ds, **view),
        )
    if arr.shape != (s.rows, s.cols):
        raise ReaderError(s.path, f"decoded {_name(s)} has shape {arr.shape}, header says {s.rows}x{s.cols}")
    shift = _integer_shift(arr, s.rescale)
    if shift is None:
        return _put(out, k, _modality_lut(arr, s))
    lo, hi = _extremes(arr, shift, out.dtype)
    if out.dtype.kind in "iu":
        out = _widened(out, lo + shift, hi + shift)
    if arr.dtype.kind == "u" and hi <= np.iinfo(arr.dtype).max // 2:
        arr = arr.view(arr.dtype.str.replace("u", "i"))  # same values, so the add can be signed
    fits = arr.dtype.kind == "i" and all(
        np.iinfo(arr.dtype).min <= v <= np.iinfo(arr.dtype).max for v in (shift, lo + shift, hi + shift)
    )
    addend = arr.dtype.type(shift) if fits else np.int64(shift)  # in the stored type: no casting loop
    np.add(arr, addend, out=out[k], casting="unsafe")  # the sums fit `out`: checked just above
    return out


def _extremes(arr: np.ndarray, shift: int, out: np.dtype) -> tuple[int, int]:
    """(lo, hi) of an integer plane, for placing `arr + shift` in an `out` volume: the real minimum
    and maximum, except that a side which cannot leave `out` (nor the stored type) by adding
    `shift` is given as the stored type's bound. That bound leads `_decode_into` to the same
    volume and dtype (a test compares them) and saves one pass over the plane: a signed plane
    with a negative shift, CT's common case, needs only its minimum."""
    if not arr.size:
        return 0, 0
    info = np.iinfo(arr.dtype)
    if out.kind in "iu":
        room = np.iinfo(out)
        if arr.dtype.kind == "u" and shift >= 0:
            return 0, int(arr.max())  # lo + shift >= 0: no lower bound is at stake
        if arr.dtype.kind == "i" and shift <= 0 and info.max + shift <= room.max:
            return int(arr.min()), info.max
        if arr.dtype.kind == "i" and shift >= 0 and info.min + shift >= room.min:
            return info.min, int(arr.max())
    return int(arr.min()), int(arr.max())


def _viewable(ds: Any, ts: Any) -> bool:
    """Whether pydicom can give the plane as a view of the parsed bytes, with no copy (the plane
    is written into the volume right after, which is then its only copy): native pixel data whose
    every allocated bit is stored (otherwise pydicom must correct the unused bits in a copy)."""
    if ts is None or getattr(ts, "is_encapsulated", True) or not getattr(ts, "is_little_endian", False):
        return False
    allocated, stored = header_number(ds, "BitsAllocated"), header_number(ds, "BitsStored")
    photometric = str(ds.get("PhotometricInterpretation", ""))
    return allocated in (8, 16, 32) and stored == allocated and photometric != "YBR_FULL_422"


def _native_view(ds: Any, ts: Any, s: _Slice, data: bytes | None) -> np.ndarray | None:
    """The plane as a read-only view of the file's bytes, where pydicom would return exactly those
    bytes as an array (`_viewable`, one frame of one sample, little-endian native syntax and a
    pixel data length of exactly rows x columns values); None otherwise, for pydicom to decode.

    The pixel data was left unread by the header parse, so this skips pydicom's copy of it: the
    plane is copied once, into the volume. The dtype is pydicom's `pixel_dtype` for these syntaxes
    (a test compares them), and the element's offset and length are pydicom's (`deferred_span`)."""
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    if data is None or s.frame is not None or ts not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        return None
    if not _viewable(ds, ts) or int(header_number(ds, "SamplesPerPixel") or 1) != 1:
        return None
    span = deferred_span(ds, PIXEL_DATA)
    representation = header_number(ds, "PixelRepresentation")
    if span is None or representation not in (0, 1):
        return None
    dtype = np.dtype(f"<{'ui'[representation]}{header_number(ds, 'BitsAllocated') // 8}")  # as pixel_dtype
    offset, length = span
    count = s.rows * s.cols
    if length != count * dtype.itemsize or offset + length > len(data):
        return None  # padding, several frames or a truncated file: pydicom's checks and messages
    return np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(s.rows, s.cols)


def _integer_shift(arr: np.ndarray, src: Any) -> int | None:
    """The integer pydicom's Modality LUT adds to integer stored values, when that is all it does
    (no LUT, slope 1, an integral intercept, or no rescale at all); None otherwise.

    The common CT case is then one add straight into the volume, exactly pydicom's float64 result
    without its float round trip and its temporary arrays."""
    if arr.dtype.kind not in "iu" or src.get("ModalityLUTSequence"):
        return None
    if "RescaleSlope" not in src or "RescaleIntercept" not in src:
        return 0  # pydicom applies no rescale without both
    try:
        slope, intercept = float(_present(src, "RescaleSlope")), float(_present(src, "RescaleIntercept"))
    except (TypeError, ValueError):
        return None  # malformed: pydicom reports it
    if slope == 1.0 and intercept == round(intercept) and abs(intercept) < 2**31 - 2**17:
        return int(intercept)
    return None


def _modality_lut(arr: np.ndarray, s: _Slice) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut

    try:
        return np.asarray(apply_modality_lut(arr, s.rescale))
    except Exception as exc:
        raise ReaderError(s.path, f"invalid modality LUT / rescale in {_name(s)}: {exc}") from exc


def _check_series_memory(path: str | Path, shape: tuple[int, ...]) -> None:
    """Frames x Rows x Columns against the per-item budget: 16-bit stored values, 16-bit HU."""
    voxels = int(np.prod(shape, dtype=object))
    check_memory(path, f"a {' x '.join(map(str, shape))} series", volume_estimate(voxels, 2, 2))


def _put(out: np.ndarray, k: int, values: np.ndarray) -> np.ndarray:
    """Store plane `k`; an integer volume is widened (once) or made float32 when a plane needs it.

    Returns the volume, which is a new array only when it had to be widened."""
    if out.dtype.kind in "iu":
        if values.dtype.kind == "f" and not np.array_equal(values, np.rint(values)):
            out = out.astype(np.float32)  # float pixel data (no rescale): not an integer volume
        elif values.size:
            out = _widened(out, int(values.min()), int(values.max()))
    out[k] = values
    return out


def _widened(out: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """`out`, or a copy in the smallest wider type that holds lo..hi (int16 covers CT HU)."""
    if np.iinfo(out.dtype).min <= lo and hi <= np.iinfo(out.dtype).max:
        return out
    fits = (t for t in (np.int16, np.int32, np.int64) if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max)
    need = np.dtype(next(fits, np.float64))
    return out.astype(need) if np.can_cast(out.dtype, need) else out


def _stack_frames(slices: list[_Slice], ds: Any, integral: bool) -> np.ndarray:
    """Decode every frame of one multi-frame dataset into a [frame, j, i] array of modality values."""
    out = np.empty((len(slices), slices[0].rows, slices[0].cols), dtype=np.int16 if integral else np.float32)
    for k, s in enumerate(slices):
        out = _decode_into(out, k, ds, s)
    return out


def _permute_planes(data: np.ndarray, order: list[int]) -> None:
    """Reorder the planes of `data` in place so that new plane k is old plane order[k].

    Follows the permutation's cycles with one plane of scratch, so sorting a series read in file
    order costs one plane of memory, not a second volume."""
    done = [False] * len(order)
    scratch = np.empty_like(data[0])
    for start in range(len(order)):
        if done[start] or order[start] == start:
            done[start] = True
            continue
        scratch[...] = data[start]
        k = start
        while True:
            done[k] = True
            src = order[k]
            if src == start:
                data[k] = scratch
                break
            data[k] = data[src]
            k = src


# --------------------------------------------------------------------------- public reader


def read_dicom_series(
    paths: Iterable[str | Path] | str | Path,
    read: Callable[[Path], bytes] | None = None,
    headers: dict[Path, Any] | None = None,
) -> Volume:
    """Read ONE series (files of one SeriesInstanceUID, or one enhanced multi-frame file) into a `Volume`.

    A directory stands for every file below it. Use `group_series` first for folders that may hold
    several series; mixed series here raise ReaderError.

    The files are streamed: each is read once (through `read`, so a caller can hash the very bytes
    that are decoded), its header parsed with the pixel data left unread in those bytes, and its
    plane decoded straight into a volume allocated from the first file's header (native pixel
    data is viewed in place, with no copy); its bytes are then dropped. The planes are put in
    position order in place. Peak memory is the volume plus about one file. `headers`, if given,
    receives every file's parsed dataset without its pixel data (e.g. for the privacy gate).

    Files are read one after another in this thread: a read-ahead thread was measured to cost what
    it saved, since the reader then waits for the interpreter lock after every read and hash.
    """
    files = _expand(paths)
    if not files:
        raise ReaderError(str(paths), "no files given for a DICOM series")
    label = _series_label(files)
    read = read or _read_file

    def parsed(path: Path) -> tuple[Any, bytes]:
        data = read(path)
        return read_dicom_header(path, data, pixels=True, defer=True), data

    first_ds, first_data = parsed(files[0])
    if _is_multi_frame(first_ds):
        if len(files) > 1:
            raise ReaderError(files[0], f"multi-frame file among {len(files)} files: read a multi-frame image alone")
        volume = _multi_frame_volume(files[0], first_ds)
        _keep_header(headers, files[0], first_ds)
        return volume
    first_uid = str(first_ds.get("SeriesInstanceUID") or "")
    slices: list[_Slice] = []
    syntaxes: set[str] = set()
    volume_data: np.ndarray | None = None
    for i, path in enumerate(files):
        ds, data = (first_ds, first_data) if i == 0 else parsed(path)
        first_data = b""  # held by `data` alone, dropped with it
        if str(ds.get("SeriesInstanceUID") or "") != first_uid:
            uids = {first_uid, str(ds.get("SeriesInstanceUID") or "")}
            raise ReaderError(
                path,
                f"mixed series: {len(uids)} different SeriesInstanceUIDs among {len(files)} files "
                f"(this file differs from {files[0].name}); split them with group_series",
            )
        if _is_multi_frame(ds):
            raise ReaderError(path, f"multi-frame file among {len(files)} files: read a multi-frame image alone")
        s = _single_frame_slice(path, ds)
        integral = _rescale_is_integral(ds)
        if volume_data is None:
            check_voxel_count(label, (len(files), s.rows, s.cols))
            _check_series_memory(label, (len(files), s.rows, s.cols))
            volume_data = buffers.empty((len(files), s.rows, s.cols), np.int16 if integral else np.float32)
        elif (s.rows, s.cols) != (slices[0].rows, slices[0].cols):
            first = slices[0]
            sizes = f"{s.rows}x{s.cols} pixels in {_name(s)} but {first.rows}x{first.cols} in {_name(first)}"
            raise ReaderError(path, sizes)
        if volume_data.dtype.kind in "iu" and not integral:
            volume_data = volume_data.astype(np.float32)  # a non-unit slope somewhere: float32 volume
        volume_data = _decode_into(volume_data, i, ds, s, data)
        syntaxes.add(str(getattr(ds.file_meta.get("TransferSyntaxUID"), "name", "unknown")))
        _keep_header(headers, path, ds)
        slices.append(s)
    assert volume_data is not None

    row, col, normal = _check_planes(slices)
    for s in slices:
        s.position = float(s.ipp @ normal)
    order = sorted(range(len(slices)), key=lambda i: (slices[i].position, str(slices[i].path), slices[i].frame or 0))
    _permute_planes(volume_data, order)
    slices = [slices[i] for i in order]
    ref = slices[0].rescale  # meta from the first slice in position order
    meta = _series_meta(ref, len(slices), sorted(syntaxes), multi_frame=False)
    return _finish(volume_data, slices, row, col, normal, ref, meta, label)


def _multi_frame_volume(path: Path, ds: Any) -> Volume:
    """An enhanced multi-frame file: its frames, placed by their functional groups."""
    check_voxel_count(path, (int(ds.get("NumberOfFrames") or 1), *_dims(ds, path)))
    _check_series_memory(path, (int(ds.get("NumberOfFrames") or 1), *_dims(ds, path)))
    slices = _multi_frame_slices(path, ds)
    row, col, normal = _check_planes(slices)
    for s in slices:
        s.position = float(s.ipp @ normal)
    slices.sort(key=lambda s: (s.position, s.frame or 0))
    syntax = str(getattr(ds.file_meta.get("TransferSyntaxUID"), "name", "unknown"))
    meta = _series_meta(ds, len(slices), [syntax], multi_frame=True)
    data = _stack_frames(slices, ds, all(_rescale_is_integral(s.rescale) for s in slices))
    return _finish(data, slices, row, col, normal, ds, meta, path)


def _finish(
    data: np.ndarray,
    slices: list[_Slice],
    row: np.ndarray,
    col: np.ndarray,
    normal: np.ndarray,
    ref: Any,
    meta: dict[str, Any],
    label: Path,
) -> Volume:
    """Slice axis checks, the affine and the canonical LPS volume, from planes in position order."""
    warnings: list[str] = []
    if len(slices) > 1:
        k_col = _slice_axis(slices, normal, label, warnings, meta)
    else:
        k_col = normal * _single_slice_step(ref, meta)
    meta["value_dtype"] = str(data.dtype)
    row_step, col_step = slices[0].pixel_spacing  # (between rows = along j, between columns = along i)
    affine = np.eye(4)
    affine[:3, 0] = row * col_step
    affine[:3, 1] = col * row_step
    affine[:3, 2] = k_col
    affine[:3, 3] = slices[0].ipp
    volume = canonicalise(data, affine, meta, warnings, path=label, owned=True)
    volume.subject = subject_of(ref)
    return volume


def _read_file(path: Path) -> bytes:
    try:
        return read_regular(path)
    except OSError as exc:
        raise ReaderError(path, f"cannot read file: {exc.strerror or exc}") from exc


def _keep_header(headers: dict[Path, Any] | None, path: Path, ds: Any) -> None:
    """Drop the pixel data of `ds` (decoded already), read anything else still deferred and let go
    of the file's bytes, then hand the header to the caller if asked."""
    for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            del ds[keyword]
    release_deferred(ds)
    if headers is not None:
        headers[path] = ds
