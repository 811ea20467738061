"""Bring any voxel grid to the one `Volume` convention (LPS+, data [k, j, i] = [z, y, x]).

Every 3-D reader (NIfTI, ITK formats, DICOM series) ends here, so the orientation convention lives
in one place. Only axis permutations and flips are applied (the closest canonical orientation):
voxel values are never interpolated, so lossless inputs stay bit-exact and label maps stay labels.
Whatever rotation is left after that (an oblique acquisition, or a sheared gantry-tilt grid) is
kept in `Volume.direction` and, above `OBLIQUITY_WARN_DEGREES`, reported as a warning.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReaderError
from ..volume import Volume

#: Largest volume (voxels) a reader accepts from a header before allocating it: 1.5 G voxels,
#: e.g. 1024 x 1024 x 1430 slices, or 6 GB as float32. Above that the header is taken as hostile
#: or broken rather than as a real scan.
MAX_VOLUME_VOXELS = 1_500_000_000

#: Residual obliquity above this many degrees is reported in `Volume.warnings`.
OBLIQUITY_WARN_DEGREES = 1.0

#: Below this residual angle (degrees) `direction` is set to the exact identity: float32 affines
#: (NIfTI qform quaternions, DICOM decimal strings) carry ~1e-6 noise that is not obliquity.
_SNAP_DEGREES = 1e-3

_POSITIVE = "LPS"  # the letter each LPS axis points to
_NEGATIVE = "RAI"


def axis_codes(affine: np.ndarray) -> str:
    """Where each voxel axis (i, j, k) points, as LPS letters ('LPS' is canonical, 'RAS' is a typical NIfTI).

    The letter names the direction the index increases towards (nibabel's `aff2axcodes` convention),
    using each axis's dominant component.
    """
    out = []
    for col in np.asarray(affine, dtype=np.float64)[:3, :3].T:
        d = int(np.argmax(np.abs(col)))
        out.append(_POSITIVE[d] if col[d] >= 0 else _NEGATIVE[d])
    return "".join(out)


def check_voxel_count(path: str | Path, shape: tuple[int, ...]) -> None:
    """ReaderError if a header declares an empty volume or more than MAX_VOLUME_VOXELS voxels."""
    dims = [int(s) for s in shape]
    if any(d <= 0 for d in dims):
        raise ReaderError(path, f"volume has a zero-size dimension: shape {tuple(dims)}")
    total = int(np.prod(dims, dtype=object))
    if total > MAX_VOLUME_VOXELS:
        raise ReaderError(
            path,
            f"header declares {' x '.join(map(str, dims))} = {total} voxels, above the limit of {MAX_VOLUME_VOXELS}",
        )


def canonicalise(
    data_kji: np.ndarray,
    affine_ijk_to_lps: np.ndarray,
    meta: dict[str, Any] | None,
    warnings: list[str] | None,
    *,
    path: str | Path = "<volume>",
    owned: bool = False,
    flipped: tuple[bool, bool, bool] | None = None,
) -> Volume:
    """Permute/flip `data_kji` (indexed [k, j, i]) so that +i, +j, +k point to L, P, S as closely as possible.

    `affine_ijk_to_lps` maps (i, j, k, 1) to LPS mm; its columns may be sheared (gantry tilt) or
    rotated (oblique). For each LPS axis the voxel axis with the largest |cosine| is chosen (as a
    whole permutation, so two voxel axes never claim the same LPS axis), flipped if it points the
    wrong way, and origin/spacing follow. With `owned` (the caller gives up `data_kji`) flips
    without a permutation are done in place, one plane at a time, so a volume is never held twice.
    `flipped`: the reader already wrote the voxels flipped as `flip_plan(affine)` says (while
    decoding them), so only the geometry is computed here.
    `meta` gains `stored_orientation` (the input's axis codes)
    and `obliquity_degrees`; `warnings` gains a line if the residual rotation exceeds 1 degree.
    """
    data = np.asarray(data_kji)
    if data.ndim != 3:
        raise ReaderError(path, f"expected a 3-D voxel array, got shape {data.shape}")
    affine, cols, steps = _axes(affine_ijk_to_lps, path)
    perm, signs = _orientation(cols / steps)
    if flipped is not None and (tuple(perm) != (0, 1, 2) or flipped != tuple(sg < 0 for sg in signs)):
        raise ValueError(f"voxels flipped as {flipped}, but the closest orientation needs {perm}, {signs}")

    n_ijk = data.shape[::-1]  # (ni, nj, nk)
    arr_ijk = data.transpose(2, 1, 0).transpose(perm)
    origin = affine[:3, 3].copy()
    new_cols = np.empty((3, 3))
    for d in range(3):
        a = perm[d]
        new_cols[:, d] = signs[d] * cols[:, a]
        if signs[d] < 0:
            arr_ijk = np.flip(arr_ijk, axis=d)
            origin += (n_ijk[a] - 1) * cols[:, a]  # new voxel 0 is the old last voxel along a
    if flipped is not None:
        out = data  # the reader wrote them flipped already
    elif owned and tuple(perm) == (0, 1, 2) and data.flags.c_contiguous and data.flags.writeable:
        out = _flip_in_place(data, [d for d in range(3) if signs[d] < 0])
    else:
        out = np.ascontiguousarray(arr_ijk.transpose(2, 1, 0))

    spacing_xyz = np.linalg.norm(new_cols, axis=0)
    direction = new_cols / spacing_xyz
    angles = np.degrees(np.arccos(np.clip(np.diag(direction), -1.0, 1.0)))
    obliquity = float(angles.max())

    meta = dict(meta or {})
    warnings = list(warnings or [])
    meta["stored_orientation"] = axis_codes(affine)
    meta["obliquity_degrees"] = round(obliquity, 6)
    if obliquity < _SNAP_DEGREES:
        direction = np.eye(3)
    elif obliquity > OBLIQUITY_WARN_DEGREES:
        warnings.append(
            f"residual obliquity {obliquity:.2f} degrees after axis permutation/flips: kept in direction, not resampled"
        )
    return Volume(
        data=out,
        spacing=(float(spacing_xyz[2]), float(spacing_xyz[1]), float(spacing_xyz[0])),
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
        direction=direction,
        meta=meta,
        warnings=warnings,
    )


def _axes(affine_ijk_to_lps: np.ndarray, path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(affine, its 3x3 columns = the LPS step of voxel axis i, j, k, their lengths), or
    ReaderError for an affine that is not finite, or has zero or collinear axes."""
    affine = np.asarray(affine_ijk_to_lps, dtype=np.float64)
    if affine.shape != (4, 4) or not np.isfinite(affine).all():
        raise ReaderError(path, f"voxel-to-patient affine is not a finite 4x4 matrix: {affine.tolist()}")
    cols = affine[:3, :3]
    steps = np.linalg.norm(cols, axis=0)
    if np.any(steps <= 0) or abs(np.linalg.det(cols)) <= 1e-12 * float(np.prod(steps)):
        raise ReaderError(path, f"voxel-to-patient affine is degenerate (zero or collinear axes): {cols.tolist()}")
    return affine, cols, steps


def _orientation(unit: np.ndarray) -> tuple[tuple[int, ...], list[float]]:
    """(perm, signs) of the closest canonical orientation of unit voxel axes (columns of `unit`).

    perm[d] = voxel axis (0 = i, 1 = j, 2 = k) that becomes LPS axis d; the permutation with the
    largest summed |cosine| is the closest canonical orientation (ties: the first found, i.e. the
    least permuted). signs[d] = -1 where that voxel axis points away from L, P or S."""
    perm = max(itertools.permutations(range(3)), key=lambda p: sum(abs(unit[d, p[d]]) for d in range(3)))
    return perm, [1.0 if unit[d, perm[d]] >= 0 else -1.0 for d in range(3)]


def flip_plan(affine_ijk_to_lps: np.ndarray) -> tuple[bool, bool, bool] | None:
    """Which voxel axes (i, j, k) `canonicalise` would flip, when it needs no permutation (None
    otherwise, or for an affine it would refuse): a reader can then write the voxels flipped as
    it decodes them, instead of flipping the decoded volume in a second pass."""
    try:
        _, cols, steps = _axes(affine_ijk_to_lps, "<affine>")
    except ReaderError:
        return None  # canonicalise will refuse it, naming the file
    perm, signs = _orientation(cols / steps)
    if tuple(perm) != (0, 1, 2):
        return None
    return (signs[0] < 0, signs[1] < 0, signs[2] < 0)


def _flip_in_place(data_kji: np.ndarray, lps_axes: list[int]) -> np.ndarray:
    """Flip `data_kji` along the given LPS axes (0 = i, 1 = j, 2 = k) without a second volume."""
    if 2 in lps_axes:  # k: swap whole planes, one plane of scratch
        n = data_kji.shape[0]
        scratch = np.empty_like(data_kji[0])
        for k in range(n // 2):
            scratch[...] = data_kji[k]
            data_kji[k] = data_kji[n - 1 - k]
            data_kji[n - 1 - k] = scratch
    in_plane = tuple(2 - d - 1 for d in lps_axes if d != 2)  # plane axes: 0 = j, 1 = i
    if in_plane:
        scratch = np.empty_like(data_kji[0])
        for plane in data_kji:  # both in-plane flips in one pass
            np.copyto(scratch, np.flip(plane, axis=in_plane))
            plane[...] = scratch
    return data_kji
