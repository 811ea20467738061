"""PNG, JPEG and TIFF images (8- and 16-bit greyscale, RGB) through Pillow.

16-bit and float greyscale is windowed to 8-bit with the same robust percentile window as DICOM
without a window; 8-bit greyscale and RGB are used as stored. Only the first page of a
multi-page TIFF is read.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import ReaderError
from ..model import DisplayImage, ImageGeometry
from .display import to_display_uint8
from .limits import MAX_IMAGE_PIXELS, check_memory, decode_estimate

RASTER_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})

# Bytes per pixel of the arrays a mode decodes to (P and 1 are expanded to RGB / L by the reader).
_MODE_BYTES = {"1": 1, "L": 1, "LA": 2, "La": 2, "P": 3, "PA": 3, "RGB": 3, "YCbCr": 3, "CMYK": 4, "RGBA": 4}
_MODE_BYTES.update({mode: 2 for mode in ("I;16", "I;16B", "I;16L", "I;16N")})

_GREY_MODES = {"1", "L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _open(path: str | Path, data: bytes | None) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Our own limit below applies; Pillow's error still stops anything past twice its own.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data) if data is not None else path)
    except UnidentifiedImageError as exc:
        raise ReaderError(path, "not a readable PNG/JPEG/TIFF image (format not recognised)") from exc
    except Image.DecompressionBombError as exc:
        raise ReaderError(path, f"image too large: {exc}") from exc
    except OSError as exc:
        raise ReaderError(path, f"cannot open image: {exc}") from exc
    w, h = image.size
    if w <= 0 or h <= 0 or w * h > MAX_IMAGE_PIXELS:
        raise ReaderError(path, f"image declares {w}x{h} pixels, outside 1..{MAX_IMAGE_PIXELS} pixels")
    bytes_per_pixel = _MODE_BYTES.get(image.mode, 4)
    check_memory(path, f"a {w}x{h} {image.mode} image", decode_estimate(w * h, bytes_per_pixel))
    return image


def read_raster_image(path: str | Path, data: bytes | None = None) -> DisplayImage:
    """Decode a PNG/JPEG/TIFF file into display pixels (no patient geometry is stored in them)."""
    image = _open(path, data)
    fmt = image.format or Path(path).suffix.lstrip(".").upper()
    mode = image.mode
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
            if mode in _GREY_MODES:
                arr = np.asarray(image.convert("L") if mode == "1" else image)
            elif mode in ("LA", "La"):
                arr = np.asarray(image.getchannel("L"))
            elif mode in ("P", "PA"):
                arr = np.asarray(image.convert("RGB"))
            else:
                arr = np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as exc:
        raise ReaderError(path, f"cannot decode {fmt} pixel data: {exc}") from exc
    decode = {"format": fmt, "mode": mode}
    if arr.ndim == 3 and arr.shape[-1] == 3 and _is_grey(arr):
        arr = np.ascontiguousarray(arr[..., 0])
        decode["colour"] = "RGB with equal channels read as greyscale"
    if arr.ndim == 2:
        pixels, window = to_display_uint8(arr, None, path=str(path))
        decode["window"] = window
    else:
        pixels = np.ascontiguousarray(arr, dtype=np.uint8)
        decode["window"] = {"method": "stored 8-bit RGB values"}
    return DisplayImage(pixels=pixels, geometry=ImageGeometry(), decode=decode)


def _is_grey(rgb: np.ndarray) -> bool:
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))
