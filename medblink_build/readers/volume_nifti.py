"""NIfTI-1/-2 volumes (.nii, .nii.gz, .hdr/.img pairs) through nibabel, returned in the LPS+ convention.

NIfTI world space is RAS+; the `Volume` convention is LPS+ (DICOM/ITK), so the x and y rows of
nibabel's affine are negated before `canonicalise` permutes/flips the voxels. The affine is the one
nibabel picks (`img.affine`: sform if its code is set, else qform, else a pixdim-only fallback that
is reported as a warning because the orientation is then unknown).

Voxel values are the stored ones, as `np.asanyarray(img.dataobj)` gives them: scl_slope/scl_inter
are applied (by nibabel) only when the header sets a real scaling, so an unscaled integer label
map stays integer (a mask is never turned into float64 as `get_fdata` would).

Given the file's bytes (`data`, as `ItemContext` has read and hashed them), the volume is parsed
from memory: nibabel reads the header from a stream over those bytes (inflated by indexed_gzip),
and unscaled voxels are inflated by ISA-L (`isal`) a few MB at a time, written flipped to LPS as
they arrive when the orientation needs only flips (see benchmarks/README.md; the result is the
same bytes). The file is then not opened again, and only files a recipe reads are ever
decompressed.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReaderError
from ..volume import Volume
from . import buffers
from .header_values import header_float
from .limits import check_memory, volume_estimate
from .volume_canonical import canonicalise, check_voxel_count, flip_plan

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
_GZIP_MAGIC = b"\x1f\x8b"
#: Uncompressed bytes per inflate call (and per flipped copy): few calls, a cache-sized scratch.
_CHUNK_BYTES = 4 << 20
_XFORM_NAMES = {0: "unknown", 1: "scanner", 2: "aligned", 3: "talairach", 4: "mni", 5: "template"}


def _sniff_nifti(path: Path, data: bytes | None = None) -> int:
    """1 or 2 (the NIfTI version) from the header bytes, else ReaderError saying what the file is."""
    try:
        if data is None:
            with open(path, "rb") as fh:
                head = fh.read(2)
        else:
            head = data[:2]
        if not head:
            raise ReaderError(path, "empty file (0 bytes), not a NIfTI volume")
        if data is not None:
            hdr = (gzip.GzipFile(fileobj=io.BytesIO(data)) if head == _GZIP_MAGIC else io.BytesIO(data)).read(540)
        else:
            opener: Any = gzip.open if head == _GZIP_MAGIC else open
            with opener(path, "rb") as fh:
                hdr = fh.read(540)
    except ReaderError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise ReaderError(path, f"cannot read NIfTI header (corrupt or truncated gzip?): {exc}") from exc
    if len(hdr) < 348:
        raise ReaderError(path, f"file ends after {len(hdr)} bytes, inside the 348-byte NIfTI header")
    for order in "<>":
        size = struct.unpack(order + "i", hdr[:4])[0]
        if size == 348:
            if hdr[344:348] in (b"n+1\x00", b"ni1\x00"):
                return 1
            raise ReaderError(path, "not a NIfTI file: ANALYZE-style header without the NIfTI magic")
        if size == 540 and hdr[4:8] in (b"n+2\x00", b"ni2\x00"):
            if len(hdr) < 540:
                raise ReaderError(path, f"file ends after {len(hdr)} bytes, inside the 540-byte NIfTI-2 header")
            return 2
    raise ReaderError(path, "not a NIfTI file: no NIfTI header (sizeof_hdr / magic)")


def _stream(data: bytes) -> Any:
    """A file object over a .nii or .nii.gz file's bytes, inflated by indexed_gzip as it is read
    (straight into nibabel's voxel buffer; what `nibabel.load` uses too when it is installed)."""
    from indexed_gzip import IndexedGzipFile

    raw = io.BytesIO(data)
    return IndexedGzipFile(fileobj=raw, drop_handles=False) if data[:2] == _GZIP_MAGIC else raw


def _load(path: Path, data: bytes | None, version: int) -> Any:
    """nibabel's image of the file, from `data` when given (a single-file .nii/.nii.gz)."""
    import nibabel as nib

    if data is None or not path.name.lower().endswith((".nii", ".nii.gz")):
        return nib.load(str(path), mmap=False)
    holder = nib.FileHolder(filename=str(path), fileobj=_stream(data))
    klass = nib.Nifti1Image if version == 1 else nib.Nifti2Image
    return klass.from_file_map({"header": holder, "image": holder})


def _voxels(
    img: Any, path: Path, data: bytes | None, scaled: bool, plan: tuple[bool, bool, bool] | None
) -> tuple[np.ndarray, tuple[bool, bool, bool] | None]:
    """The voxels as a [k, j, i] array, and the flips (i, j, k) already applied to it, if any.

    Unscaled voxels of a single-file NIfTI given as bytes are inflated by ISA-L (`isal`, 1.4x
    indexed_gzip on a CT, 2x on a mask) a few MB at a time and copied into memory of their own,
    without nibabel's zero-filled bytearray (which cost more than inflating a mask). When the
    canonical orientation is a pure flip (`plan`: RAS-stored files), the planes are written
    flipped as they arrive, so the volume is written once instead of flipped in place afterwards.
    Scaled voxels, and .hdr/.img pairs, go through nibabel, which applies scl_slope/scl_inter
    only if the header sets them."""
    proxy = img.dataobj
    shape = tuple(int(n) for n in proxy.shape)
    nx, ny, nz = (*shape, 1, 1)[:3]
    if scaled or data is None or not path.name.lower().endswith((".nii", ".nii.gz")) or proxy.order != "F":
        arr = np.asarray(np.asanyarray(proxy)).reshape((nx, ny, nz), order="F")
        return arr.transpose(2, 1, 0), None
    out = buffers.empty((nz, ny, nx), proxy.dtype)  # [k, j, i] in C order: the stored (Fortran) bytes' order
    chunks = _inflated(data) if data[:2] == _GZIP_MAGIC else iter([memoryview(data)])
    flips = plan if plan is not None and any(plan) else None
    _copy_voxels(chunks, int(proxy.offset), out, flips, path)
    return out, plan  # all False: nothing to flip; None: canonicalise permutes a copy


def _inflated(data: bytes) -> Iterator[bytes]:
    """The uncompressed bytes of a gzip file, _CHUNK_BYTES at a time (every member, in order);
    a truncated stream just ends early (the caller names the shortfall)."""
    from isal import igzip_lib

    rest = data
    while rest:
        inflater = igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP)
        chunk = inflater.decompress(rest, _CHUNK_BYTES)
        while True:
            if chunk:
                yield chunk
            if inflater.eof:
                break
            if inflater.needs_input:
                return
            chunk = inflater.decompress(b"", _CHUNK_BYTES)
        rest = inflater.unused_data
        if not rest.strip(b"\x00"):
            return  # trailing zero padding, as gzip tolerates


def _copy_voxels(
    chunks: Iterator[Any], offset: int, out: np.ndarray, flips: tuple[bool, bool, bool] | None, path: Path
) -> None:
    """Fill `out` ([k, j, i]) from the file's uncompressed bytes (in `chunks`), starting at the
    voxel offset; with `flips`, a few planes at a time through a scratch, flipped as (i, j, k)."""
    total = out.nbytes
    if flips is None:
        target, step_bytes = memoryview(out.reshape(-1)).cast("B"), total
    else:
        plane = out[0].nbytes
        step = max(1, _CHUNK_BYTES // max(1, plane))  # planes per flush
        scratch = np.empty((step, *out.shape[1:]), out.dtype)
        target, step_bytes = memoryview(scratch.reshape(-1)).cast("B"), step * plane
    done = filled = 0  # bytes of `out` done; bytes of the current step in `target`
    skip = offset
    nz = out.shape[0]
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        if skip:
            cut = min(skip, view.nbytes)
            view, skip = view[cut:], skip - cut
        while view.nbytes and done < total:
            want = min(step_bytes, total - done) - filled
            take = min(want, view.nbytes)
            start = filled if flips is not None else done
            target[start : start + take] = view[:take]
            view, filled = view[take:], filled + take
            if flips is None:
                done, filled = done + take, 0
            elif filled == min(step_bytes, total - done):
                z0, n = done // plane, filled // plane
                planes = scratch[:n, :: -1 if flips[1] else 1, :: -1 if flips[0] else 1]
                if flips[2]:
                    np.copyto(out[nz - z0 - n : nz - z0], planes[::-1])
                else:
                    np.copyto(out[z0 : z0 + n], planes)
                done, filled = done + filled, 0
        if done >= total:
            return
    raise ReaderError(path, f"voxel data ends after {done + filled} of {total} bytes (truncated file?)")


def read_nifti(path: str | Path, data: bytes | None = None) -> Volume:
    """Read a 3-D NIfTI volume (or 4-D with a single volume) into the canonical LPS+ `Volume`.

    `data`: the bytes of a single-file .nii/.nii.gz when the caller has read them already.

    ReaderError for: not NIfTI, empty/truncated files, more than one volume, zero-size dimensions,
    more than `MAX_VOLUME_VOXELS` voxels declared, NaN/inf voxels.
    """
    import nibabel as nib

    path = Path(path)
    if path.suffix.lower() == ".img":
        raise ReaderError(path, "pass the .hdr file of a .hdr/.img pair, not the .img")
    version = _sniff_nifti(path, data)
    try:
        img = _load(path, data, version)
    except Exception as exc:
        raise ReaderError(path, f"cannot parse NIfTI header: {type(exc).__name__}: {exc}") from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise ReaderError(path, f"not a NIfTI image (nibabel read it as {type(img).__name__})")

    shape = tuple(int(s) for s in img.shape)
    check_voxel_count(path, shape)
    if len(shape) > 3 and int(np.prod(shape[3:])) > 1:
        raise ReaderError(
            path,
            f"{len(shape)}-D image with {int(np.prod(shape[3:]))} volumes (shape {shape}); one 3-D volume expected",
        )
    if len(shape) < 2:
        raise ReaderError(path, f"{len(shape)}-D image (shape {shape}); a 3-D volume expected")

    header = img.header
    disk_dtype = header.get_data_dtype()
    scaled = getattr(img.dataobj, "slope", 1.0) != 1.0 or getattr(img.dataobj, "inter", 0.0) != 0.0
    voxels = int(np.prod(shape, dtype=object))
    value_bytes = 8 if scaled else disk_dtype.itemsize
    check_memory(
        path,
        f"{' x '.join(map(str, shape))} voxels of {disk_dtype}",
        volume_estimate(voxels, disk_dtype.itemsize, value_bytes),
    )
    plan = flip_plan(_RAS_TO_LPS @ np.asarray(img.affine, dtype=np.float64))
    try:
        arr, flipped = _voxels(img, path, data, scaled, plan)
    except ReaderError:
        raise
    except Exception as exc:  # EOFError, zlib.error, OSError, ValueError for short files
        raise ReaderError(path, f"cannot read voxel data (truncated or corrupt?): {type(exc).__name__}: {exc}") from exc
    if arr.dtype.kind == "f":
        bad = count_non_finite(arr)
        if bad:
            raise ReaderError(path, f"{bad} voxel(s) are NaN or infinite")
    elif arr.dtype.kind not in "iub":
        raise ReaderError(path, f"unsupported voxel type {arr.dtype} (complex or RGB NIfTI is not a scalar volume)")

    sform_code, qform_code = int(header["sform_code"]), int(header["qform_code"])
    warnings: list[str] = []
    if sform_code > 0:
        source = f"sform ({_XFORM_NAMES.get(sform_code, sform_code)})"
    elif qform_code > 0:
        source = f"qform ({_XFORM_NAMES.get(qform_code, qform_code)})"
    else:
        source = "pixdim only"
        warnings.append("NIfTI has neither sform nor qform: orientation unknown, axes taken as RAS from pixdim")
    # nibabel moves scl_slope/scl_inter from the header to the data proxy on load
    slope = header_float(getattr(img.dataobj, "slope", 1.0), path, "scl_slope")
    inter = header_float(getattr(img.dataobj, "inter", 0.0), path, "scl_inter")
    for i in range(1, min(len(shape), 3) + 1):
        header_float(header["pixdim"][i], path, f"pixdim[{i}]")
    meta: dict[str, Any] = {
        "format": f"NIfTI-{version}",
        "affine_source": source,
        "stored_dtype": str(disk_dtype),
        "scaling": None if (slope, inter) == (1.0, 0.0) else {"slope": slope, "inter": inter},
    }
    affine_lps = _RAS_TO_LPS @ np.asarray(img.affine, dtype=np.float64)
    if not np.isfinite(affine_lps).all():
        raise ReaderError(path, f"header affine ({source}) holds NaN or infinite values")
    # the array is this reader's own (decoded from the file): flips are done in place, not copied
    return canonicalise(arr, affine_lps, meta, warnings, path=path, owned=True, flipped=flipped)


def count_non_finite(arr: np.ndarray) -> int:
    """Number of NaN/inf values, a slab at a time so a large volume needs no full-size mask."""
    if arr.dtype.kind not in "fc":
        return 0
    flat = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(1, -1)
    return int(sum(flat[i].size - np.count_nonzero(np.isfinite(flat[i])) for i in range(flat.shape[0])))


class EmptyVolumes:
    """All-zero volumes already decoded, by the digest of their file's bytes.

    A TotalSegmentator subject ships a mask for each of its 117 classes, most of them empty, and
    nibabel writes a mask deterministically (gzip without name or time), so the empty masks of one
    grid are the same bytes. Given the same digest again, `get` returns that volume with fresh zeros
    (`np.zeros`: pages the kernel maps lazily, so neither a decompression nor memory is spent).
    """

    def __init__(self) -> None:
        self._by_digest: dict[str, Volume] = {}

    def get(self, digest: str) -> Volume | None:
        known = self._by_digest.get(digest)
        if known is None:
            return None
        data = np.zeros(known.data.shape, known.data.dtype)
        return dataclasses.replace(known, data=data, meta=dict(known.meta), warnings=list(known.warnings))

    def add(self, digest: str, volume: Volume) -> None:
        """Remember `volume` if it is all zeros (integer voxels): only its geometry is kept."""
        if volume.data.dtype.kind in "iub" and not volume.data.any():
            self._by_digest[digest] = dataclasses.replace(volume, data=np.zeros(volume.data.shape, volume.data.dtype))
