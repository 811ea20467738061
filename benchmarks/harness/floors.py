"""The floor pipelines: the same decode, window, transforms, resize and PNG encode, written tightly."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .children import _preload, _self_stats
from .common import CT_CENTRAL_FRACTION, CT_WINDOW, MAX_SIDE, PERCENTILES, PNG_LEVEL, PNG_STRATEGY
from .system import _io_counters, _status_kb

# ------------------------------------------------------------------------------- the DX floor

_PIL_ROTATION = {"rot90cw": "ROTATE_270", "rot180": "ROTATE_180", "rot90ccw": "ROTATE_90"}  # PIL turns CCW


def _floor_lut(ds: Any, arr: Any) -> Any:
    """uint8 display LUT over 0..max(arr): the file's window if any, else the 0.5/99.5 percentile
    window of the image's histogram (one bincount), computed the way the toolkit defines them."""
    import numpy as np
    from pydicom.pixels import apply_windowing

    n = int(arr.max()) + 1
    values = np.arange(n, dtype=np.float64)
    if "WindowCenter" in ds and "WindowWidth" in ds:  # the corpus has no rescale and MONOCHROME2 only
        out = apply_windowing(values, ds)  # pydicom's VOI window, on n values rather than 4 M pixels
        lo, hi = 0.0, float(2 ** int(ds.BitsStored) - 1)
    else:
        cum = np.cumsum(np.bincount(arr.ravel(), minlength=n), dtype=np.float64)
        total = cum[-1]
        lo = float(np.searchsorted(cum, total * PERCENTILES[0] / 100.0, side="left"))
        hi = float(np.searchsorted(cum, total * PERCENTILES[1] / 100.0, side="left"))
        out = values
    if hi == lo:
        return np.zeros(n, dtype=np.uint8)
    return np.rint(np.clip((out - lo) / (hi - lo), 0.0, 1.0) * 255.0).astype(np.uint8)


def floor_dx(path: str, rotation: str) -> bytes:
    """decode -> LUT window -> (canonicalise) -> Lanczos resize to MAX_SIDE -> rotation -> PNG."""
    import io

    import numpy as np
    import pydicom
    from PIL import Image
    from pydicom.pixels import pixel_array

    ds = pydicom.dcmread(path)
    arr = pixel_array(ds)  # the toolkit's decoder
    pixels = np.take(_floor_lut(ds, arr), arr)
    orientation = [str(v) for v in ds.get("PatientOrientation") or ()]
    if orientation == ["R", "F"]:  # stored mirrored: flip to the standard display (as the toolkit does)
        pixels = pixels[:, ::-1]
    elif orientation not in (["L", "F"], []):
        raise ValueError(f"{path}: the floor only knows the corpus orientations, got {orientation}")
    image = Image.fromarray(np.ascontiguousarray(pixels))
    h, w = pixels.shape
    if max(h, w) > MAX_SIDE:
        scale = MAX_SIDE / max(h, w)
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    if rotation != "identity":
        image = image.transpose(getattr(Image.Transpose, _PIL_ROTATION[rotation]))
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=PNG_LEVEL, compress_type=PNG_STRATEGY)
    return buf.getvalue()


def _floor_part(items: list[list[str]], out_path: str) -> list[tuple[str, int, int]]:
    """Run the floor over `items` ([key, path, rotation]) appending PNGs to one file; returns the index."""
    index = []
    offset = 0
    with open(out_path, "wb") as f:
        for key, path, rotation in items:
            png = floor_dx(path, rotation)
            f.write(png)
            index.append((key, offset, len(png)))
            offset += len(png)
    return index


def _child_floor(spec: dict[str, Any]) -> dict[str, Any]:
    import multiprocessing

    _preload()
    items = json.loads(Path(spec["items"]).read_text())
    workers = int(spec["workers"])
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    baseline_rss_kb = _status_kb("self")["VmRSS"]
    io0, cpu0 = _io_counters(), os.times()
    t0 = time.perf_counter()
    if workers == 1:
        parts = [(str(out / "part-0.bin"), _floor_part(items, str(out / "part-0.bin")))]
    else:  # static split, one output file per process: the least coordination two processes can have
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["numpy", "pydicom", "pydicom.pixels", "PIL.Image"])
        jobs = [(items[i::workers], str(out / f"part-{i}.bin")) for i in range(workers)]
        with ctx.Pool(workers) as pool:
            parts = list(zip([j[1] for j in jobs], pool.starmap(_floor_part, jobs), strict=True))
    seconds = time.perf_counter() - t0
    stats = _self_stats(io0, cpu0)
    result = {
        "seconds": seconds,
        "items": len(items),
        "baseline_rss_mb": baseline_rss_kb / 1024,
        "output_bytes": sum(Path(p).stat().st_size for p, _ in parts),
        **stats,
    }
    if spec.get("digests"):  # after the timer
        import hashlib

        digests = {}
        for part, index in parts:
            data = Path(part).read_bytes()
            for key, off, size in index:
                digests[key] = hashlib.sha256(data[off : off + size]).hexdigest()
        result["digests"] = digests
    return result


# ------------------------------------------------------------------------------- the CT floor


def floor_ct(series: Path) -> bytes:
    """Read a CT series with pydicom (each file once), order it along the slice normal, choose the
    slice as the enhancement recipe does (largest -100..300 HU area in the central 60 %), window it
    (W400/L40) through a LUT over the stored values, PNG-encode it. No volume is ever assembled."""
    import io

    import numpy as np
    import pydicom
    from PIL import Image
    from pydicom.pixels import pixel_array

    files = sorted(series.glob("*.dcm"))
    normal = None
    planes = []  # (position along the normal, soft-tissue area, path, intercept)
    for path in files:
        ds = pydicom.dcmread(path)
        if normal is None:
            iop = np.array([float(v) for v in ds.ImageOrientationPatient])
            if not np.allclose(iop, [1, 0, 0, 0, 1, 0]):
                raise ValueError(f"{path}: the floor only handles axial LPS-stored series")
            normal = np.cross(iop[:3], iop[3:])
        if float(ds.RescaleSlope) != 1.0:
            raise ValueError(f"{path}: the floor assumes RescaleSlope 1")
        intercept = int(float(ds.RescaleIntercept))
        position = float(np.dot([float(v) for v in ds.ImagePositionPatient], normal))
        stored = pixel_array(ds)
        area = int(np.count_nonzero((stored > -100 - intercept) & (stored < 300 - intercept)))
        planes.append((position, area, path, intercept))
    planes.sort(key=lambda p: p[0])
    depth = len(planes)
    lo = int(np.floor(depth * (1 - CT_CENTRAL_FRACTION) / 2))
    hi = max(lo + 1, int(np.ceil(depth * (1 + CT_CENTRAL_FRACTION) / 2)))
    k = lo + int(np.argmax([p[1] for p in planes[lo:hi]]))
    _, _, path, intercept = planes[k]
    stored = pixel_array(pydicom.dcmread(path))  # one more read of the one chosen file
    # LUT over every int16 stored value (indexed by its uint16 bit pattern), HU = stored + intercept,
    # mapped with the toolkit's float32 window formula.
    codes = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16)
    hu = (codes.astype(np.int32) + intercept).astype(np.float32)
    centre, width = CT_WINDOW
    unit = (hu - np.float32(centre - width / 2)) / np.float32(width)
    lut = np.rint(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)
    pixels = np.take(lut, stored.astype(np.int16, copy=False).view(np.uint16))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=PNG_LEVEL, compress_type=PNG_STRATEGY)
    return buf.getvalue()


def _child_ct_floor(spec: dict[str, Any]) -> dict[str, Any]:
    import hashlib

    _preload()
    baseline_rss_kb = _status_kb("self")["VmRSS"]
    io0, cpu0 = _io_counters(), os.times()
    t0 = time.perf_counter()
    png = floor_ct(Path(spec["series"]))
    Path(spec["out"]).write_bytes(png)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "items": 1,
        "baseline_rss_mb": baseline_rss_kb / 1024,
        "digest": hashlib.sha256(png).hexdigest(),
        **_self_stats(io0, cpu0),
    }
