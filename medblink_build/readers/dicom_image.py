"""2-D DICOM images (radiographs, secondary captures, single frames) through pydicom.

Compressed transfer syntaxes are decoded by pydicom's pixel backends: pylibjpeg-libjpeg (JPEG
baseline/extended/lossless, JPEG-LS), pylibjpeg-openjpeg (JPEG 2000) and pylibjpeg-rle or pydicom's
own RLE decoder. A missing backend surfaces as pydicom's message, which names the package to install.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MedblinkError, ReaderError
from ..fsnames import open_regular
from ..geometry import GeometryError, parse_patient_orientation
from ..model import DisplayImage, ImageGeometry, Subject
from .decoding import check_codestream, decode_or_raise
from .dicom_subject import subject_of
from .display import to_display_uint8
from .header_values import check_dicom_floats
from .limits import MAX_IMAGE_PIXELS, check_memory, decode_estimate

#: Values longer than this are left unread by `read_dicom_header(defer=True)`: pixel data, not header text.
DEFER_BYTES = 64 * 1024

_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010) as little-endian group, element

_COLOUR = {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"}


def _text(ds: Any, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return str(value).strip().upper() or None


def read_dicom_header(
    path: str | Path,
    data: bytes | None = None,
    *,
    pixels: bool = True,
    only: tuple[str, ...] | None = None,
    defer: bool = False,
) -> Any:
    """Parse a DICOM file (optionally from bytes already read) or raise ReaderError.

    `only` names the attributes a caller needs (e.g. to group files into series while listing a
    source): the rest are skipped unparsed and the header floats are not checked, since the file is
    parsed in full, and checked, when it is read.

    `defer` (with `data`) leaves every value over DEFER_BYTES, the pixel data above all, unread in
    `data`: pydicom reads it from there when it is first used, or a caller views it in place
    (`deferred_span`). The dataset then holds `data` until `release_deferred` is called on it."""
    if defer and (data is None or only is not None):
        raise ValueError("defer needs the file's bytes, and parses the whole header")
    try:  # a path is opened as a regular file only: a FIFO named .dcm must not block the build
        buf: Any = io.BytesIO(data) if data is not None else open_regular(path)
    except OSError as exc:
        raise ReaderError(path, f"cannot read file: {exc.strerror or exc}") from exc
    if defer:
        return _parse_dicom(buf, path, pixels, None, DEFER_BYTES)
    with buf:
        return _parse_dicom(buf, path, pixels, list(only) if only is not None else None)


def deferred_span(ds: Any, tag: int) -> tuple[int, int] | None:
    """(offset, length) in the parsed bytes of element `tag` if its value was deferred and has a
    defined length, else None (absent, already read, or encapsulated with undefined length)."""
    from pydicom.dataelem import RawDataElement

    if tag not in ds:
        return None
    raw = ds.get_item(tag, keep_deferred=True)
    if not isinstance(raw, RawDataElement) or raw.value is not None or raw.length in (0, 0xFFFFFFFF):
        return None
    return int(raw.value_tell), int(raw.length)


def release_deferred(ds: Any) -> None:
    """Read what is still deferred in `ds` (top-level elements; sequence items are never deferred)
    and close the bytes it was parsed from, so a kept header does not hold the whole file."""
    from pydicom.dataelem import RawDataElement

    for elem in list(ds.elements()):
        if isinstance(elem, RawDataElement) and elem.value is None and elem.length:
            ds[elem.tag]  # pydicom reads a deferred value on access
    buffer = getattr(ds, "buffer", None)
    if isinstance(buffer, io.BytesIO):
        buffer.close()


def _parse_dicom(
    target: Any, path: str | Path, pixels: bool, only: list[str] | None = None, defer_size: int | None = None
) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(target, stop_before_pixels=not pixels, specific_tags=only, defer_size=defer_size)
        if only is None:
            check_dicom_floats(ds, path)
        return ds
    except ReaderError:
        raise
    except InvalidDicomError:
        pass
    except Exception as exc:
        raise ReaderError(path, f"cannot parse DICOM: {type(exc).__name__}: {exc}") from exc
    # No 128-byte preamble + DICM: accept only if it parses as a dataset with image attributes.
    try:
        target.seek(0)
        ds = pydicom.dcmread(
            target, force=True, stop_before_pixels=not pixels, specific_tags=only, defer_size=defer_size
        )
    except Exception as exc:
        raise ReaderError(path, f"not a DICOM file: {type(exc).__name__}: {exc}") from exc
    if "Rows" not in ds or "Columns" not in ds:
        raise ReaderError(path, "not a DICOM file (no DICM preamble and no image attributes)")
    if not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in ds.file_meta:
        from pydicom.uid import ImplicitVRLittleEndian

        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    if only is None:
        check_dicom_floats(ds, path)
    return ds


def geometry_of(ds: Any) -> ImageGeometry:
    try:
        orientation = parse_patient_orientation(ds.get("PatientOrientation"))
    except GeometryError:
        orientation = None  # recorded as malformed by the caller through the raw value
    return ImageGeometry(
        patient_orientation=orientation,
        view_position=_text(ds, "ViewPosition"),
        laterality=_text(ds, "ImageLaterality") or _text(ds, "Laterality"),
        body_part=_text(ds, "BodyPartExamined"),
        pixel_spacing_mm=_pixel_spacing(ds),
        burned_in_annotation=_text(ds, "BurnedInAnnotation"),
    )


def _pixel_spacing(ds: Any) -> tuple[float, float] | None:
    """(row, column) spacing in mm from PixelSpacing, else ImagerPixelSpacing; None if not two numbers."""
    from pydicom.multival import MultiValue

    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if not isinstance(spacing, (MultiValue, list, tuple)) or len(spacing) != 2:
        return None
    try:
        return float(spacing[0]), float(spacing[1])
    except (TypeError, ValueError):
        return None


def _check_size(ds: Any, path: str | Path) -> int:
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames") or 1)
        samples = int(ds.get("SamplesPerPixel") or 1)
    except (TypeError, ValueError) as exc:
        raise ReaderError(path, f"malformed image dimensions: {exc}") from exc
    if rows <= 0 or cols <= 0 or frames <= 0:
        raise ReaderError(path, f"image dimensions {rows}x{cols}x{frames} frames are not positive")
    if rows * cols * samples > MAX_IMAGE_PIXELS:
        raise ReaderError(
            path, f"header declares {cols}x{rows}x{samples} samples per frame, above the limit of {MAX_IMAGE_PIXELS}"
        )
    value_bytes = max(1, (int(ds.get("BitsAllocated") or 16) + 7) // 8)
    check_memory(path, f"a {cols}x{rows}x{samples} frame", decode_estimate(rows * cols * samples, value_bytes))
    return frames


def read_dicom_image(path: str | Path, data: bytes | None = None, *, frame: int | None = None) -> DisplayImage:
    """Decode one frame of a DICOM image to display pixels with its geometry.

    Multi-frame files need an explicit `frame`; a single radiograph is frame 0 implicitly. pydicom
    converts elements lazily, so a damaged header can fail late (an unknown VR, a missing
    Columns): that is a ReaderError naming the file, never an internal error of the build.
    """
    try:
        return _read_dicom_image(path, data, frame)
    except MedblinkError:
        raise
    except (AttributeError, KeyError, IndexError, TypeError, ValueError, OverflowError, NotImplementedError) as exc:
        raise ReaderError(path, f"malformed DICOM header: {type(exc).__name__}: {exc}") from exc


def _read_dicom_image(path: str | Path, data: bytes | None, frame: int | None) -> DisplayImage:
    ds = read_dicom_header(path, data, pixels=True)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        if data is not None and _PIXEL_DATA_TAG in data:
            raise ReaderError(path, "pixel data element (7FE0,0010) is truncated or malformed")
        sop = ds.get("SOPClassUID")
        kind = f" ({sop.name})" if sop is not None and hasattr(sop, "name") else ""
        raise ReaderError(path, f"DICOM has no pixel data (7FE0,0010){kind}")
    frames = _check_size(ds, path)
    if frame is None:
        if frames > 1:
            raise ReaderError(path, f"multi-frame DICOM ({frames} frames): a frame index is required")
        frame = 0
    if not 0 <= frame < frames:
        raise ReaderError(path, f"frame {frame} outside 0..{frames - 1}")

    from pydicom.pixels import pixel_array

    tsyntax = ds.file_meta.get("TransferSyntaxUID")
    ts_name = tsyntax.name if tsyntax is not None else "unknown"
    check_codestream(path, ds, frame if frames > 1 else None)
    arr = decode_or_raise(path, f"pixel data ({ts_name})", lambda: pixel_array(ds, index=frame if frames > 1 else None))

    photometric = _text(ds, "PhotometricInterpretation") or "MONOCHROME2"
    decode: dict[str, Any] = {
        "format": "DICOM",
        "transfer_syntax": str(ts_name),
        "photometric": photometric,
        "bits_stored": int(ds.get("BitsStored") or 0),
        "frame": frame,
        "modality": _text(ds, "Modality"),
    }
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        if arr.ndim != 2:
            raise ReaderError(path, f"greyscale image has unexpected shape {arr.shape}")
        pixels, window = to_display_uint8(arr, ds, invert=photometric == "MONOCHROME1", path=str(path))
        decode["window"] = window
    elif photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        try:
            rgb = apply_color_lut(arr, ds)
        except Exception as exc:
            raise ReaderError(path, f"invalid palette colour lookup table: {exc}") from exc
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        pixels = _rgb_to_uint8(rgb, bits)
        decode["window"] = {"method": "palette colour LUT", "lut_bits": bits}
    elif photometric in _COLOUR:
        if arr.ndim != 3 or arr.shape[-1] != 3:
            raise ReaderError(path, f"colour image has unexpected shape {arr.shape}")
        pixels = _rgb_to_uint8(arr, int(ds.get("BitsStored") or 8))
        decode["window"] = {"method": "colour converted to RGB by pydicom"}
    else:
        raise ReaderError(path, f"unsupported Photometric Interpretation {photometric!r}")
    return DisplayImage(
        pixels=np.ascontiguousarray(pixels), geometry=geometry_of(ds), decode=decode, subject=subject_of(ds)
    )


def _rgb_to_uint8(arr: np.ndarray, bits: int) -> np.ndarray:
    """Scale colour samples of `bits` bits (the stored or LUT depth, not the image's own max) to 8."""
    if bits <= 8:
        return arr.astype(np.uint8, copy=False)
    return np.rint(arr.astype(np.float64) * (255.0 / (2**bits - 1))).astype(np.uint8)


def read_subject(path: str | Path, data: bytes) -> tuple[Subject, Any] | tuple[None, None]:
    """The Subject of a DICOM file from its header alone, and that header ((None, None) when the
    bytes are not DICOM), so a caller can refuse a file of another modality before decoding pixels
    or building a volume, and keep the parsed header (the privacy gate reads it)."""
    from .sniff import sniff_format

    if sniff_format(data[:512], Path(path).suffix) != "dicom":
        return None, None
    try:
        header = read_dicom_header(path, data, pixels=False)
    except MedblinkError:
        return None, None  # the reader reports the problem when it reads the file
    return subject_of(header), header
