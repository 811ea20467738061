"""Per-pixel depth maps (16-bit PNG/TIFF, float TIFF, .npy) as millimetres with a validity mask.

Depth datasets store depth in their own units: C3VD writes 16-bit TIFFs where 0..65535 spans
0..100 mm, SimCol3D 16-bit PNGs spanning 0..20 cm, others float32 millimetres. The reader does not
guess: the caller passes a `DepthScale` (from the source's manifest), and the reader applies it.

Invalid pixels are 0, negative, NaN or infinite values, and for integer maps with a full-scale
range also the full-scale value itself (C3VD clips depth beyond its range to 65535: the true depth
there is unknown, so it is not a depth). PNG and TIFF are read with Pillow; TIFFs Pillow cannot
decode (e.g. multi-channel float) are read with `tifffile` when it is installed.

A depth map must store one number per pixel. Colour renderings of depth (a viridis/jet PNG, an
8-bit RGB or palette image made for viewing) map depth through a colour scale whose values are
not recoverable as millimetres: they raise `DepthNotMetric`, whatever the source's depth_scale.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReaderError
from .files import input_bytes
from .limits import MAX_IMAGE_PIXELS

DEPTH_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".npy"})

_SCALE_FORMS = "'full_scale_mm=<mm>' (integer maps: value / dtype max * mm) or 'mm_per_unit=<mm>' (any map)"


class DepthNotMetric(ReaderError):
    """The file is a picture of depth (colour-mapped, RGB or palette), not stored depth values."""


#: Pillow modes that hold colour, not one stored number per pixel.
_COLOUR_MODES = ("RGB", "RGBA", "P", "PA", "LA", "CMYK", "YCbCr")


@dataclass(frozen=True)
class DepthScale:
    """How stored values become millimetres.

    `full_scale_mm`: integer maps span 0..dtype max linearly onto 0..full_scale_mm (C3VD: 100,
    SimCol3D: 200); the full-scale value marks clipped, unknown depth. `mm_per_unit`: millimetres
    per stored unit, for float maps or integer maps in plain units (e.g. 1.0 for uint16 mm).
    Exactly one of the two is set.
    """

    full_scale_mm: float | None = None
    mm_per_unit: float | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.full_scale_mm, self.mm_per_unit) if v is not None]
        if len(given) != 1:
            raise ValueError(f"a depth scale needs exactly one of {_SCALE_FORMS}")
        if not (np.isfinite(given[0]) and given[0] > 0):
            raise ValueError(f"depth scale must be a positive number, got {given[0]}")

    @classmethod
    def parse(cls, text: str) -> DepthScale:
        """Parse the manifest form, e.g. 'full_scale_mm=100' or 'mm_per_unit=0.1'."""
        match = re.fullmatch(r"\s*(full_scale_mm|mm_per_unit)\s*=\s*([0-9.eE+-]+)\s*", text or "")
        if not match:
            raise ValueError(f"depth scale {text!r} is not one of {_SCALE_FORMS}")
        try:
            value = float(match.group(2))
        except ValueError:
            raise ValueError(f"depth scale {text!r}: {match.group(2)!r} is not a number") from None
        return cls(**{match.group(1): value})

    def describe(self) -> str:
        if self.full_scale_mm is not None:
            return f"full_scale_mm={self.full_scale_mm:g}"
        return f"mm_per_unit={self.mm_per_unit:g}"


@dataclass
class DepthMap:
    """Depth in millimetres (float64, NaN where invalid) and what the file held."""

    depth_mm: np.ndarray  # (H, W) float64
    valid: np.ndarray  # (H, W) bool
    decode: dict[str, Any]

    @property
    def shape(self) -> tuple[int, int]:
        return self.depth_mm.shape  # type: ignore[return-value]


def _stored_pillow(path: str | Path, data: bytes) -> np.ndarray | None:
    """The stored values through Pillow, or None when Pillow cannot decode this file's mode."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            w, h = image.size
            if w * h > MAX_IMAGE_PIXELS:
                raise ReaderError(path, f"depth map declares {w}x{h} pixels, above the limit of {MAX_IMAGE_PIXELS}")
            if image.mode in _COLOUR_MODES:
                raise DepthNotMetric(
                    path,
                    f"depth map is a {image.mode} colour image (a rendering of depth, e.g. colour-mapped), "
                    "not stored depth values",
                )
            if image.mode not in ("I;16", "I;16B", "I;16L", "I", "F", "L"):
                return None
            image.load()
            return np.asarray(image)
    except UnidentifiedImageError:
        return None
    except ReaderError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise ReaderError(path, f"cannot decode depth map: {exc}") from exc


def _stored_tifffile(path: str | Path, data: bytes) -> np.ndarray:
    try:
        import tifffile
    except ImportError:  # pragma: no cover - tifffile is a test dependency
        raise ReaderError(path, "Pillow cannot decode this TIFF; install 'tifffile>=2024.1.30' to read it") from None
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            if int(np.prod(page.shape[:2])) > MAX_IMAGE_PIXELS:
                raise ReaderError(path, f"depth map declares shape {page.shape}, above the pixel limit")
            return np.asarray(page.asarray())
    except ReaderError:
        raise
    except Exception as exc:
        raise ReaderError(path, f"cannot decode depth TIFF: {type(exc).__name__}: {exc}") from exc


def _stored_npy(path: str | Path, data: bytes) -> np.ndarray:
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:
        raise ReaderError(path, f"not a readable .npy array: {type(exc).__name__}: {exc}") from exc
    if not isinstance(arr, np.ndarray):
        raise ReaderError(path, ".npy file does not hold a single array")
    return arr


def _stored(path: Path, data: bytes) -> tuple[np.ndarray, str]:
    suffix = path.suffix.lower()
    if suffix == ".npy" or data.startswith(b"\x93NUMPY"):
        return _stored_npy(path, data), "NPY"
    is_tiff = data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
    arr = _stored_pillow(path, data)
    if arr is None and is_tiff:
        return _stored_tifffile(path, data), "TIFF (tifffile)"
    if arr is None:
        raise ReaderError(
            path, f"not a depth map this reader knows (16-bit PNG/TIFF, float TIFF or .npy); suffix {suffix!r}"
        )
    return arr, "TIFF" if is_tiff else "PNG"


def read_depth_map(
    path: str | Path, data: bytes | None = None, *, scale: DepthScale, channel: int | None = None
) -> DepthMap:
    """Read a depth map as millimetres. `channel` picks one channel of a multi-channel map
    (e.g. 2 for the z of an xyz point map); a multi-channel map without it is an error."""
    path = Path(path)
    data = input_bytes(path, data, "depth map file")
    stored, fmt = _stored(path, data)
    if stored.ndim == 3 and stored.shape[2] in (3, 4) and stored.dtype == np.uint8:
        raise DepthNotMetric(path, "depth map is 8-bit colour (a rendering of depth), not stored depth values")
    if stored.ndim == 3 and channel is not None:
        if not 0 <= channel < stored.shape[2]:
            raise ReaderError(path, f"channel {channel} outside 0..{stored.shape[2] - 1}")
        stored = stored[..., channel]
    elif stored.ndim == 3 and stored.shape[2] == 1:
        stored = stored[..., 0]
    if stored.ndim != 2:
        raise ReaderError(path, f"depth map has shape {stored.shape}; expected (H, W) or a channel index")
    if min(stored.shape) < 1:
        raise ReaderError(path, f"depth map has an empty shape {stored.shape}")
    kind = stored.dtype.kind
    if kind not in "uif" or stored.dtype == np.bool_:
        raise ReaderError(path, f"depth map values of type {stored.dtype} are not numbers")

    values = stored.astype(np.float64)
    invalid = ~np.isfinite(values) | (values <= 0)
    if scale.full_scale_mm is not None:
        if kind not in "ui":
            raise ReaderError(path, f"full-scale depth needs an integer map, got {stored.dtype}; use mm_per_unit")
        top = float(np.iinfo(stored.dtype).max)
        invalid |= values >= top  # clipped: the depth is beyond the encodable range
        depth = values * (scale.full_scale_mm / top)
    else:
        depth = values * float(scale.mm_per_unit)  # type: ignore[arg-type]
    depth[invalid] = np.nan
    decode = {
        "format": fmt,
        "dtype": str(stored.dtype),
        "shape": list(stored.shape),
        "scale": scale.describe(),
        "channel": channel,
        "invalid_rule": "0, negative, NaN, inf" + (", full-scale (clipped)" if scale.full_scale_mm else ""),
        "valid_pixels": int((~invalid).sum()),
    }
    return DepthMap(depth_mm=depth, valid=~invalid, decode=decode)
