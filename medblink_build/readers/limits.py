"""Size limits that stop a hostile or broken header from allocating unbounded memory."""

from __future__ import annotations

#: Largest 2-D image (pixels per frame x samples) a reader decodes: 178 megapixels, just under
#: twice Pillow's own decompression-bomb limit, so the DICOM and raster readers agree.
MAX_IMAGE_PIXELS = 178_000_000
