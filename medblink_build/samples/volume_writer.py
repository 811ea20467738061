"""Write 3-D volumes as real files (DICOM CT series, enhanced multi-frame CT, NIfTI, NRRD/MHA).

Used by sample sources and tests to make inputs in the formats users bring, with real tags and
headers, from one canonical description: `data` indexed [z, y, x] in the LPS+ convention of
`medblink_build.volume` (+x patient Left, +y Posterior, +z Superior), `spacing` = (sz, sy, sx) mm and
`origin` = LPS (x, y, z) mm of voxel [0, 0, 0]. A reader that honours the convention gives back the
same array and geometry whatever stored layout (`axis_codes`, `iop`) a writer was asked to use.

Axis codes name the direction each stored axis (i, j, k) increases towards, as nibabel's
`aff2axcodes` does: "LPS" is the canonical layout, "RAS" the usual NIfTI one, "PIR" a sagittal
stack, etc. UIDs come from `uid_seed`, so the same call writes the same bytes every time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import MedblinkError
from .dicom_common import new_dataset, save, set_pixels

CT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
ENHANCED_CT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT Image Storage
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
RESCALE_INTERCEPT = -1024  # stored = HU + 1024, signed 16-bit (PixelRepresentation 1)

_LETTERS = {"L": (0, 1.0), "R": (0, -1.0), "P": (1, 1.0), "A": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}
_J2K_SYNTAXES = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}
_J2K_MIN_SIDE = 32  # pylibjpeg-openjpeg encodes with 6 DWT resolutions: both sides must be >= 2**5


def stored_grid(
    data: np.ndarray, spacing: Sequence[float], origin: Sequence[float], axis_codes: str = "LPS"
) -> tuple[np.ndarray, np.ndarray]:
    """Canonical [z, y, x] content re-laid out with stored axes pointing to `axis_codes`.

    Returns (array indexed [i, j, k] in the stored layout, 4x4 affine (i, j, k) -> LPS mm). Pure
    permutation and flips: the same voxels at the same patient positions.
    """
    codes = axis_codes.upper()
    if len(codes) != 3 or any(c not in _LETTERS for c in codes):
        raise MedblinkError(f"axis codes must be three of L/R, P/A, S/I, got {axis_codes!r}")
    axes = [_LETTERS[c][0] for c in codes]
    if sorted(axes) != [0, 1, 2]:
        raise MedblinkError(f"axis codes {axis_codes!r} name the same patient axis twice")
    arr = np.asarray(data)
    if arr.ndim != 3:
        raise MedblinkError(f"expected a 3-D [z, y, x] array, got shape {arr.shape}")
    sz, sy, sx = (float(v) for v in spacing)
    step = (sx, sy, sz)
    shape_xyz = arr.shape[::-1]
    out = arr.transpose(2, 1, 0).transpose(axes)
    affine = np.zeros((4, 4))
    affine[3, 3] = 1.0
    affine[:3, 3] = np.asarray(origin, dtype=np.float64)
    for a, code in enumerate(codes):
        d, sign = _LETTERS[code]
        affine[d, a] = sign * step[d]
        if sign < 0:
            out = np.flip(out, axis=a)
            affine[d, 3] += (shape_xyz[d] - 1) * step[d]
    return np.ascontiguousarray(out), affine


_OPPOSITE = {"L": "R", "R": "L", "P": "A", "A": "P", "S": "I", "I": "S"}


def _flip_codes(axis_codes: str, flip_axes: Iterable[int]) -> str:
    """`axis_codes` with the stored direction of data axes `flip_axes` (0 = z, 1 = y, 2 = x) reversed."""
    codes = list(axis_codes.upper())
    for axis in flip_axes:
        if axis not in (0, 1, 2):
            raise MedblinkError(f"flip_axes takes data axes 0 (z), 1 (y), 2 (x); got {axis!r}")
        patient = "SPL"[axis]  # the LPS axis that data axis `axis` runs along
        hits = [a for a, c in enumerate(codes) if c in (patient, _OPPOSITE[patient])]
        if len(hits) != 1:
            raise MedblinkError(
                f"axis codes {axis_codes!r} do not name patient axis {patient}/{_OPPOSITE[patient]} once"
            )
        codes[hits[0]] = _OPPOSITE[codes[hits[0]]]
    return "".join(codes)


def _codes_for_iop(iop: Sequence[float]) -> str | None:
    """Axis codes of (row, column, normal) if the IOP is axis-aligned, else None (oblique)."""
    row = np.asarray(iop[:3], dtype=np.float64)
    col = np.asarray(iop[3:], dtype=np.float64)
    codes = ""
    for v in (row, col, np.cross(row, col)):
        d = int(np.argmax(np.abs(v)))
        if abs(abs(v[d]) - 1.0) > 1e-6:
            return None
        codes += "LPS"[d] if v[d] > 0 else "RAI"[d]
    return codes


def _seeded_rng(uid_seed: str, purpose: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{uid_seed}|{purpose}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _ds(value: float) -> Any:
    """A Decimal String that fits the 16-character limit whatever the float."""
    from pydicom.valuerep import DSfloat

    return DSfloat(float(value), auto_format=True)


def _stored_hu(hu: np.ndarray) -> np.ndarray:
    """HU as signed 16-bit stored values (stored = HU - RescaleIntercept), or MedblinkError."""
    arr = np.asarray(hu)
    if arr.dtype.kind == "f" and not np.array_equal(arr, np.rint(arr)):
        raise MedblinkError("CT HU must be whole numbers to be stored losslessly with slope 1")
    stored = arr.astype(np.int64) - RESCALE_INTERCEPT
    if stored.size and (stored.min() < -32768 or stored.max() > 32767):
        raise MedblinkError(f"HU range {int(arr.min())}..{int(arr.max())} does not fit int16 with intercept -1024")
    return stored.astype(np.int16)


def _check_syntax(syntax: Any, rows: int, cols: int) -> None:
    if syntax.is_little_endian is False:
        raise MedblinkError("big-endian output is not supported")
    if str(syntax) in _J2K_SYNTAXES and min(rows, cols) < _J2K_MIN_SIDE:
        raise MedblinkError(
            f"JPEG 2000 needs at least {_J2K_MIN_SIDE}x{_J2K_MIN_SIDE} pixels (openjpeg's 6 resolutions), "
            f"got {rows}x{cols}"
        )


def _set_pixels(ds: Any, syntax: Any, stored: np.ndarray) -> None:
    """Image Pixel module for signed 16-bit greyscale, then native or compressed Pixel Data."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    set_pixels(ds, stored, "<i2")


def _new_ct(sop_class: str, syntax: Any, uid_seed: str, instance: str) -> Any:
    from pydicom.uid import generate_uid

    ds = new_dataset(sop_class, syntax, uid_seed, "CT", instance)
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[uid_seed, "frame-of-reference"])
    ds.PatientPosition = "HFS"
    ds.Manufacturer = "medblink-build"
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.KVP = _ds(120)
    ds.PositionReferenceIndicator = ""
    return ds


def write_ct_series(
    folder: str | Path,
    hu: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    *,
    uid_seed: str,
    transfer_syntax: str = EXPLICIT_VR_LE,
    series_description: str = "",
    contrast_agent: str | None = None,
    extra: Mapping[str, Any] | None = None,
    file_names: Literal["instance", "shuffled"] = "instance",
    iop: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    tilt_degrees: float = 0.0,
    skip_slices: Iterable[int] = (),
    slice_offsets: Sequence[float] | None = None,
) -> list[Path]:
    """Write `hu` ([z, y, x], LPS convention) as a CT Image Storage series, one file per slice.

    * `iop`: stored slice orientation. Axis-aligned values (axial, coronal, sagittal, flipped) re-lay
      the canonical content so a reader returns `hu` unchanged; an oblique `iop` writes `hu` as the
      stored grid itself ([slice, row, column] along normal, column cosine, row cosine).
    * `tilt_degrees`: shear the IPPs along the column cosine (y for axial) by tan(tilt) per mm of
      table travel, as a gantry-tilted acquisition does; GantryDetectorTilt records it.
    * `skip_slices`: stored slice indices (position order along the normal) not written, to make a
      series with missing slices. `slice_offsets`: each stored slice's distance from the first along
      the normal in mm (default k x slice spacing), to make non-uniform spacing.
    * `contrast_agent`: None leaves ContrastBolusAgent out; "" writes it present but empty.
    * `file_names`: "instance" names files in position order; "shuffled" gives names and
      InstanceNumbers in two seeded random orders unrelated to position.

    Stored values are int16 with RescaleSlope 1 / RescaleIntercept -1024 (PixelRepresentation 1).
    Returns the written paths in position order (skipped slices left out).
    """
    from pydicom.uid import UID

    hu = np.asarray(hu)
    codes = _codes_for_iop(iop)
    if codes is not None:
        arr_ijk, affine = stored_grid(hu, spacing, origin, codes)
    else:
        if hu.ndim != 3:
            raise MedblinkError(f"expected a 3-D [z, y, x] array, got shape {hu.shape}")
        row = np.asarray(iop[:3], dtype=np.float64)
        col = np.asarray(iop[3:], dtype=np.float64)
        row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
        sz, sy, sx = spacing
        arr_ijk = hu.transpose(2, 1, 0)
        affine = np.eye(4)
        affine[:3, 0], affine[:3, 1], affine[:3, 2] = row * sx, col * sy, np.cross(row, col) * sz
        affine[:3, 3] = origin
    stored = _stored_hu(arr_ijk)
    n_cols, n_rows, n_slices = stored.shape
    syntax = UID(transfer_syntax)
    _check_syntax(syntax, n_rows, n_cols)

    col_step, row_step, slice_step = (float(np.linalg.norm(affine[:3, a])) for a in range(3))
    row_cos, col_cos = affine[:3, 0] / col_step, affine[:3, 1] / row_step
    normal = affine[:3, 2] / slice_step
    offsets = [k * slice_step for k in range(n_slices)] if slice_offsets is None else [float(v) for v in slice_offsets]
    if len(offsets) != n_slices:
        raise MedblinkError(f"slice_offsets has {len(offsets)} values for {n_slices} slices")
    shear = float(np.tan(np.radians(tilt_degrees)))
    skip = {int(k) for k in skip_slices}

    if file_names not in ("instance", "shuffled"):
        raise MedblinkError(f"file_names must be 'instance' or 'shuffled', got {file_names!r}")
    if file_names == "shuffled":
        name_order = _seeded_rng(uid_seed, "names").permutation(n_slices)
        instance_order = _seeded_rng(uid_seed, "instances").permutation(n_slices)
    else:
        name_order = instance_order = np.arange(n_slices)

    out_dir = Path(folder)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for k in range(n_slices):
        if k in skip:
            continue
        ipp = affine[:3, 3] + offsets[k] * normal + shear * offsets[k] * col_cos
        ds = _new_ct(CT_SOP_CLASS, syntax, uid_seed, str(k))
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SeriesDescription = series_description
        ds.InstanceNumber = int(instance_order[k]) + 1
        ds.ImagePositionPatient = [_ds(v) for v in ipp]
        ds.ImageOrientationPatient = [_ds(v) for v in (*row_cos, *col_cos)]
        ds.PixelSpacing = [_ds(row_step), _ds(col_step)]
        ds.SliceThickness = _ds(slice_step)
        ds.SliceLocation = _ds(float(ipp @ normal))
        ds.GantryDetectorTilt = _ds(tilt_degrees)
        ds.Rows, ds.Columns = n_rows, n_cols
        ds.RescaleIntercept = _ds(RESCALE_INTERCEPT)
        ds.RescaleSlope = _ds(1)
        ds.RescaleType = "HU"
        ds.WindowCenter, ds.WindowWidth = _ds(40), _ds(400)
        if contrast_agent is not None:
            ds.ContrastBolusAgent = contrast_agent
        for keyword, value in (extra or {}).items():
            setattr(ds, keyword, value)
        _set_pixels(ds, syntax, stored[:, :, k].T)  # [row, column] = [j, i]
        path = out_dir / (f"CT{k + 1:04d}.dcm" if file_names == "instance" else f"IM{int(name_order[k]):04d}.dcm")
        written.append(save(ds, path))
    return written


def write_enhanced_ct(
    path: str | Path,
    hu: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    *,
    uid_seed: str,
    transfer_syntax: str = EXPLICIT_VR_LE,
    frame_order: Literal["position", "shuffled"] = "position",
    rescale_per_frame: bool = False,
    contrast_agent: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write `hu` ([z, y, x], LPS, axial) as ONE Enhanced CT Image Storage multi-frame file.

    Geometry lives in the functional groups as in real enhanced CT: PixelMeasures, PlaneOrientation
    and PixelValueTransformation shared, PlanePosition per frame. `frame_order="shuffled"` stores the
    frames in a seeded random order (readers must sort by position); `rescale_per_frame` moves the
    rescale into each frame with a different intercept per frame (readers must apply it per frame).
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import UID, generate_uid

    hu = np.asarray(hu)
    if hu.ndim != 3:
        raise MedblinkError(f"expected a 3-D [z, y, x] array, got shape {hu.shape}")
    sz, sy, sx = (float(v) for v in spacing)
    n_slices, n_rows, n_cols = hu.shape
    syntax = UID(transfer_syntax)
    _check_syntax(syntax, n_rows, n_cols)
    order = _seeded_rng(uid_seed, "frames").permutation(n_slices) if frame_order == "shuffled" else np.arange(n_slices)
    intercepts = [RESCALE_INTERCEPT - (10 * (k % 3) if rescale_per_frame else 0) for k in range(n_slices)]

    def item(**kw: Any) -> Dataset:
        d = Dataset()
        for key, value in kw.items():
            setattr(d, key, value)
        return d

    def pvt(intercept: float) -> DicomSequence:
        return DicomSequence([item(RescaleIntercept=_ds(intercept), RescaleSlope=_ds(1), RescaleType="HU")])

    ds = _new_ct(ENHANCED_CT_SOP_CLASS, syntax, uid_seed, "enhanced")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.InstanceNumber = 1
    ds.ContentQualification = "PRODUCT"
    ds.NumberOfFrames = n_slices
    ds.Rows, ds.Columns = n_rows, n_cols
    if contrast_agent is not None:
        ds.ContrastBolusAgent = contrast_agent

    dim_uid = generate_uid(entropy_srcs=[uid_seed, "dimension-organization"])
    ds.DimensionOrganizationSequence = DicomSequence([item(DimensionOrganizationUID=dim_uid)])
    ds.DimensionIndexSequence = DicomSequence(
        [
            item(
                DimensionOrganizationUID=dim_uid,
                DimensionIndexPointer=0x00209057,  # In-Stack Position Number
                FunctionalGroupPointer=0x00209111,  # Frame Content Sequence
            )
        ]
    )
    shared = item(
        PixelMeasuresSequence=DicomSequence([item(PixelSpacing=[_ds(sy), _ds(sx)], SliceThickness=_ds(sz))]),
        PlaneOrientationSequence=DicomSequence([item(ImageOrientationPatient=[_ds(v) for v in (1, 0, 0, 0, 1, 0)])]),
    )
    if not rescale_per_frame:
        shared.PixelValueTransformationSequence = pvt(RESCALE_INTERCEPT)
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])

    per_frame = []
    frames = []
    for k in map(int, order):
        ipp = (origin[0], origin[1], origin[2] + k * sz)
        frame = item(
            FrameContentSequence=DicomSequence(
                [item(StackID="1", InStackPositionNumber=k + 1, DimensionIndexValues=[k + 1])]
            ),
            PlanePositionSequence=DicomSequence([item(ImagePositionPatient=[_ds(v) for v in ipp])]),
        )
        if rescale_per_frame:
            frame.PixelValueTransformationSequence = pvt(intercepts[k])
        per_frame.append(frame)
        stored = hu[k].astype(np.int64) - intercepts[k]
        if stored.size and (stored.min() < -32768 or stored.max() > 32767):
            raise MedblinkError(f"HU of slice {k} do not fit int16 with intercept {intercepts[k]}")
        frames.append(stored.astype(np.int16))
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)
    _set_pixels(ds, syntax, np.stack(frames))
    return save(ds, path)


def write_nifti(
    path: str | Path,
    data: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    *,
    dtype: Any = None,
    axis_codes: str = "RAS",
    flip_axes: Iterable[int] = (),
    xform_code: int = 1,
) -> Path:
    """Write [z, y, x] LPS content as NIfTI-1 (.nii or .nii.gz) with stored axes `axis_codes`.

    The RAS affine (sform and qform, code `xform_code`, 1 = scanner) is derived from the LPS one by
    negating x and y, so any NIfTI reader places every voxel at the same patient position. "RAS" is
    the usual NIfTI layout; e.g. "LPI" or "PIR" store the same content flipped/permuted. `flip_axes`
    (data axes, 0 = z, 1 = y, 2 = x) reverses those axes relative to `axis_codes`, e.g. (0, 2) on
    "RAS" stores "LAI". Integer data is written unscaled (slope/inter unset), so masks and HU stay exact.
    """
    import nibabel as nib

    arr = np.asarray(data)
    if dtype is not None:
        arr = arr.astype(dtype)
    arr_ijk, affine_lps = stored_grid(arr, spacing, origin, _flip_codes(axis_codes, flip_axes))
    affine_ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine_lps
    img = nib.Nifti1Image(arr_ijk, affine_ras)
    img.set_sform(affine_ras, code=xform_code)
    img.set_qform(affine_ras, code=xform_code)
    img.header.set_data_dtype(arr_ijk.dtype)
    img.header.set_xyzt_units("mm", "sec")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(out))
    return out


def write_itk(
    path: str | Path,
    data: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    *,
    axis_codes: str = "LPS",
    flip_axes: Iterable[int] = (),
    compress: bool = True,
) -> Path:
    """Write [z, y, x] LPS content with SimpleITK (format from the suffix: .nrrd, .nhdr, .mha, .mhd, ...).

    ITK space is LPS, so direction = the stored axes' unit vectors; `axis_codes` other than "LPS"
    store the same content permuted/flipped with a non-identity direction matrix; `flip_axes` as in
    `write_nifti`.
    """
    import SimpleITK as sitk

    arr_ijk, affine = stored_grid(np.asarray(data), spacing, origin, _flip_codes(axis_codes, flip_axes))
    steps = np.linalg.norm(affine[:3, :3], axis=0)
    img = sitk.GetImageFromArray(np.ascontiguousarray(arr_ijk.transpose(2, 1, 0)))  # ITK wants [k, j, i]
    img.SetSpacing([float(v) for v in steps])
    img.SetOrigin([float(v) for v in affine[:3, 3]])
    img.SetDirection([float(v) for v in (affine[:3, :3] / steps).ravel()])  # row-major 3x3
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(out), compress)
    return out
