"""Stored pixel values to 8-bit display values: modality LUT, VOI LUT or window, polarity.

Integer images go through one lookup table built over their value range: pydicom's own
`apply_modality_lut` / `apply_windowing` are run on that small vector of possible values, and the
image is then indexed once (`lut[arr]`). That keeps DICOM semantics in the library that owns them
and costs one pass over the pixels instead of several float copies.

Window choice, in order: a VOI LUT Sequence in the file, the file's Window Center/Width, else a
robust percentile window over the image's own values (0.5th to 99.5th percentile).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ReaderError

PERCENTILES: tuple[float, float] = (0.5, 99.5)

# Integer ranges wider than this are windowed on the array itself instead of through a LUT.
_MAX_LUT_ENTRIES = 1 << 20


def _voi_output_range(ds: Any) -> tuple[float, float]:
    """The output range of pydicom's windowing, as PS3.3 C.11.2.1.2 defines it."""
    if ds.get("ModalityLUTSequence"):
        return 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    bits = int(ds.BitsStored)
    if int(ds.get("PixelRepresentation", 0)) == 0:
        lo, hi = 0.0, float(2**bits - 1)
    else:
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        # Not sorted: with a negative slope pydicom's y_min is the larger value, and values below
        # the window go to y_min, so the scale must run from y_min to y_max as given.
        lo, hi = lo * float(slope) + float(intercept), hi * float(slope) + float(intercept)
    return lo, hi


def _has_window(ds: Any) -> bool:
    try:
        return "WindowCenter" in ds and "WindowWidth" in ds and float(_first(ds.WindowWidth)) > 0
    except (TypeError, ValueError):
        return False


def _first(value: Any) -> Any:
    """The first of a possibly multi-valued DICOM element (the file's default window)."""
    from pydicom.multival import MultiValue

    return value[0] if isinstance(value, (MultiValue, list, tuple)) else value


def _weighted_percentiles(values: np.ndarray, weights: np.ndarray, q: tuple[float, float]) -> tuple[float, float]:
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w, dtype=np.float64)
    total = cum[-1]
    lo = v[min(np.searchsorted(cum, total * q[0] / 100.0, side="left"), len(v) - 1)]
    hi = v[min(np.searchsorted(cum, total * q[1] / 100.0, side="left"), len(v) - 1)]
    return float(lo), float(hi)


def _scale(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map lo -> 0 and hi -> 1 (hi may be below lo, which inverts), clipped to [0, 1]."""
    if hi == lo:
        return np.zeros_like(values, dtype=np.float64)
    return np.clip((values.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)


def to_display_uint8(
    stored: np.ndarray, ds: Any | None = None, *, invert: bool = False, path: str = "<array>"
) -> tuple[np.ndarray, dict[str, Any]]:
    """Window a greyscale image of stored values to uint8 and say how it was done.

    `ds` is the pydicom Dataset the pixels came from (None for PNG/TIFF). `invert` is set for
    MONOCHROME1, where low values are shown bright; it is applied after the window.
    """
    if stored.ndim != 2:
        raise ReaderError(path, f"expected a 2-D greyscale image, got shape {stored.shape}")
    if stored.size == 0:
        raise ReaderError(path, "image has no pixels")
    if stored.dtype == np.uint8 and ds is None:
        out = 255 - stored if invert else stored
        return np.ascontiguousarray(out), {"method": "stored 8-bit values", "inverted": invert}

    if np.issubdtype(stored.dtype, np.integer):
        lo_v, hi_v = int(stored.min()), int(stored.max())
        if hi_v - lo_v + 1 <= _MAX_LUT_ENTRIES:
            values = np.arange(lo_v, hi_v + 1, dtype=np.int64)
            if lo_v == 0 or (lo_v > 0 and stored.dtype.kind == "u"):
                index = stored if lo_v == 0 else stored - stored.dtype.type(lo_v)
            else:  # widen first: int16 - (-32768) overflows in its own type
                index = stored.astype(np.int32 if stored.itemsize <= 2 else np.int64) - lo_v

            def counts() -> np.ndarray:  # only a percentile window needs the histogram pass
                return np.bincount(index.ravel(), minlength=len(values))

            unit, info = _display_curve(values, counts, ds, path)
            if invert:
                unit = 1.0 - unit
            lut = np.rint(unit * 255.0).astype(np.uint8)
            info["inverted"] = invert
            return lut[index], info
    flat = stored.astype(np.float64)
    if not np.isfinite(flat).all():
        raise ReaderError(path, "image contains NaN or infinite values")
    unit, info = _display_curve(flat.ravel(), lambda: np.ones(flat.size), ds, path)
    if invert:
        unit = 1.0 - unit
    info["inverted"] = invert
    return np.rint(unit * 255.0).astype(np.uint8).reshape(stored.shape), info


def _display_curve(
    values: np.ndarray, weights: Callable[[], np.ndarray], ds: Any | None, path: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """Map stored `values` (weighted by how often they occur) to [0, 1] display values."""
    from pydicom.pixels import apply_modality_lut, apply_windowing

    modality = values.astype(np.float64)
    info: dict[str, Any] = {}
    if ds is not None:
        try:
            modality = np.asarray(apply_modality_lut(values, ds), dtype=np.float64)
        except Exception as exc:  # pydicom raises several types for a malformed Modality LUT
            raise ReaderError(path, f"invalid modality LUT / rescale: {exc}") from exc
        slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
        if ds.get("ModalityLUTSequence"):
            info["modality_lut"] = "ModalityLUTSequence"
        elif slope is not None or intercept is not None:
            info["rescale"] = {"slope": float(slope or 1), "intercept": float(intercept or 0)}
        try:
            if ds.get("VOILUTSequence"):
                out, lut_data = _apply_voi_lut_sequence(modality, ds.VOILUTSequence[0])
                lo, hi = float(lut_data.min()), float(lut_data.max())
                info.update(method="VOI LUT Sequence from file", lut_range=[lo, hi])
                return _scale(out, lo, hi), info
            if _has_window(ds):
                out = np.asarray(apply_windowing(modality, ds), dtype=np.float64)
                lo, hi = _voi_output_range(ds)
                info.update(
                    method="window from file",
                    center=float(_first(ds.WindowCenter)),
                    width=float(_first(ds.WindowWidth)),
                    function=str(ds.get("VOILUTFunction", "LINEAR")),
                )
                return _scale(out, lo, hi), info
        except ReaderError:
            raise
        except Exception as exc:
            raise ReaderError(path, f"invalid VOI LUT / window: {exc}") from exc
    lo, hi = _weighted_percentiles(modality, weights(), PERCENTILES)
    info.update(method="percentile window", percentiles=list(PERCENTILES), low=lo, high=hi)
    return _scale(modality, lo, hi), info


def _apply_voi_lut_sequence(values: np.ndarray, item: Any) -> tuple[np.ndarray, np.ndarray]:
    """Look values up in a VOI LUT (PS3.3 C.11.2.1.1): clamp below the first and after the last entry.

    Done here rather than with pydicom 3.0's `apply_voi`, which indexes an 8-bit LUT of more than
    256 entries through a uint8 array and returns wrong values.
    """
    descriptor = [int(v) for v in item.LUTDescriptor]
    lut = np.asarray(item.LUTData, dtype=np.float64).ravel()
    if lut.size == 0:
        raise ValueError("VOI LUT Sequence item has no LUT Data")
    first = descriptor[1]
    index = np.clip(np.rint(values - first), 0, lut.size - 1).astype(np.int64)
    return lut[index], lut
