"""Encoding output images. PNG at a fixed zlib level: lossless and byte-stable for a given zlib."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .bounds import check_output_size

PNG_COMPRESS_LEVEL = 6


def png_bytes(pixels: np.ndarray) -> bytes:
    """uint8 (H, W) or (H, W, 3) pixels as PNG bytes (no timestamps or text chunks)."""
    if pixels.dtype != np.uint8:
        raise ValueError(f"PNG output expects uint8 pixels, got {pixels.dtype}")
    if pixels.ndim not in (2, 3):
        raise ValueError(f"PNG output expects (H, W) or (H, W, 3) pixels, got shape {pixels.shape}")
    check_output_size(pixels.shape[1], pixels.shape[0])
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()
