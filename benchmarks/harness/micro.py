"""Each hot-path stage timed alone, the toolkit's function next to the floor's."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .common import MAX_SIDE, PNG_LEVEL, PNG_STRATEGY
from .floors import _floor_lut

# ------------------------------------------------------------------------------- stage micro-timings


def _child_micro(spec: dict[str, Any]) -> dict[str, Any]:
    """Each hot-path stage timed alone (median of `reps`), the toolkit's function next to the floor's,
    on one file with a VOI window in its header and one without (percentile window). No profiler."""
    import hashlib
    import io
    import statistics

    import numpy as np
    import pydicom
    from PIL import Image
    from pydicom.pixels import pixel_array

    from medblink_build.encode import png_bytes
    from medblink_build.readers import read_image
    from medblink_build.readers.dicom_image import read_dicom_header
    from medblink_build.readers.display import to_display_uint8
    from medblink_build.transforms import apply, dihedral, resize_to_fit

    reps = int(spec.get("reps", 5))

    def med(fn: Any) -> float:
        fn()
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return 1000 * statistics.median(times)

    out: dict[str, Any] = {}
    for label, path in spec["files"].items():
        data = Path(path).read_bytes()
        ds = read_dicom_header(path, data)
        arr = pixel_array(ds)
        disp, _info = to_display_uint8(arr, ds, path=path)
        rs = resize_to_fit(disp.shape, MAX_SIDE)
        small = apply(rs, disp) if rs is not None else disp
        rows: list[tuple[str, float, float | None]] = [
            ("read file (bytes)", med(lambda p=path: Path(p).read_bytes()), None),
            ("sha256 of the input", med(lambda d=data: hashlib.sha256(d).hexdigest()), None),
            (
                "dcmread (toolkit: from bytes; floor: from path)",
                med(lambda p=path, d=data: read_dicom_header(p, d)),
                med(lambda p=path: pydicom.dcmread(p)),
            ),
            ("pixel_array (same decoder)", med(lambda d=ds: pixel_array(d)), med(lambda d=ds: pixel_array(d))),
            (
                "window to uint8 (toolkit to_display_uint8; floor LUT)",
                med(lambda a=arr, d=ds, p=path: to_display_uint8(a, d, path=p)),
                med(lambda a=arr, d=ds: np.take(_floor_lut(d, a), a)),
            ),
            (
                "canonicalising flip, full size (mirrored files only)",
                med(lambda a=disp: apply(dihedral("flip_h"), a)),
                med(lambda a=disp: np.ascontiguousarray(a[:, ::-1])),
            ),
            (
                "Lanczos resize to 1024",
                med(lambda a=disp, t=rs: apply(t, a)),
                med(lambda a=disp, t=rs: Image.fromarray(a).resize(tuple(t.params["size"]), Image.Resampling.LANCZOS)),
            ),
            (
                "rotation 90 of the 1024 image",
                med(lambda a=small: apply(dihedral("rot90cw"), a)),
                med(lambda a=small: Image.fromarray(a).transpose(Image.Transpose.ROTATE_270)),
            ),
            (
                "PNG encode, level 6",
                med(lambda a=small: png_bytes(a)),
                med(lambda a=small: _png(Image.fromarray(a), io)),
            ),
            ("read_image, whole (read+decode+window+geometry)", med(lambda p=path, d=data: read_image(p, d)), None),
        ]
        try:
            from medblink_build.privacy import identifiers_of_files

            rows.append(
                (
                    "privacy gate: identifiers_of_files (header re-read)",
                    med(lambda p=path: identifiers_of_files([Path(p)])),
                    None,
                )
            )
        except ImportError:
            pass
        out[label] = [{"stage": n, "toolkit_ms": a, "floor_ms": b} for n, a, b in rows]
    return {"stages": out, "reps": reps}


def _png(image: Any, io: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=PNG_LEVEL, compress_type=PNG_STRATEGY)
    return buf.getvalue()
