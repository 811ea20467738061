"""Bounds on every image a build writes, so a lying header cannot make a PNG no loader accepts.

Checked by every resize (before Pillow allocates the result) and by the PNG encoder, so no recipe
can forget them; an image outside them is a recorded skip (`image_out_of_bounds`). `verify` opens
every image of an output and checks the same bounds.
"""

from __future__ import annotations

from .errors import SkipItem

#: Bounds of every output image (and of every resize on the way to one). A square-pixel resize
#: follows the header's pixel spacing; PixelSpacing 50\0.0025 would ask for 96 x 1,920,000 pixels.
#: Recipes write at most 1024 px on the longer side; these bounds leave room for any honest image.
MAX_OUTPUT_SIDE = 8192
MAX_OUTPUT_ASPECT = 12.0  # longer side / shorter side
MAX_OUTPUT_PIXELS = 16_777_216  # 4096 x 4096


def output_size_problem(width: int, height: int) -> str | None:
    """Why an output image of `width` x `height` is refused, or None if it is within the bounds."""
    if width < 1 or height < 1:
        return f"output image of {width} x {height} pixels is empty"
    long, short = max(width, height), min(width, height)
    if long > MAX_OUTPUT_SIDE:
        return f"output image of {width} x {height} pixels: longer side above {MAX_OUTPUT_SIDE}"
    if long / short > MAX_OUTPUT_ASPECT:
        return f"output image of {width} x {height} pixels: aspect ratio {long / short:.1f} above {MAX_OUTPUT_ASPECT:g}"
    if width * height > MAX_OUTPUT_PIXELS:
        return f"output image of {width} x {height} pixels: more than {MAX_OUTPUT_PIXELS} pixels"
    return None


def check_output_size(width: int, height: int) -> None:
    """SkipItem("image_out_of_bounds") for an output image outside the bounds (checked before
    anything of that size is allocated)."""
    problem = output_size_problem(width, height)
    if problem is not None:
        raise SkipItem("image_out_of_bounds", f"{problem} (a pixel spacing or crop out of proportion?)")


def image_problem(data: bytes) -> str | None:
    """Why stored image bytes are not a loadable output image (decoded in full), or None."""
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                problem = output_size_problem(*image.size)
                if problem is None:
                    image.load()
    except Exception as exc:  # Pillow raises many types for a broken or oversized image
        return f"image cannot be opened: {type(exc).__name__}: {exc}"
    return problem
