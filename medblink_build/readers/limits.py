"""Size limits that stop a hostile or broken header from allocating unbounded memory."""

from __future__ import annotations

#: Largest 2-D image (pixels per frame x samples) a reader decodes: 400 megapixels.
MAX_IMAGE_PIXELS = 400_000_000
