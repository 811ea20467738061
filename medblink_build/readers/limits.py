"""Size limits that stop a hostile or broken header from allocating unbounded memory.

Two kinds: fixed caps on what a reader decodes at all (pixels per image, voxels per volume), and
a per-item memory budget checked against the sizes a header declares before anything of that size
is allocated (a 329 KB 16-bit PNG can declare 36 megapixels and take 450 MB to decode). The budget
is 2 GiB per item by default; `--item-memory SIZE` (or MEDBLINK_ITEM_MEMORY) changes it, e.g. for
very long CT series. An item over budget is a recorded skip naming the file and the sizes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import MedblinkError, ReaderError

#: Largest 2-D image (pixels per frame x samples) a reader decodes: 178 megapixels, just under
#: twice Pillow's own decompression-bomb limit, so the DICOM and raster readers agree.
MAX_IMAGE_PIXELS = 178_000_000

#: Default memory budget of one item's decode, in bytes.
DEFAULT_ITEM_MEMORY = 2 * 1024**3
MEMORY_ENV = "MEDBLINK_ITEM_MEMORY"

_budget: int | None = None  # set per build (the worker sets the job's budget before each item)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """'2G', '512M', '1.5GiB', '1000000' -> bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
    if not match or float(match.group(1)) <= 0:
        raise MedblinkError(f"{text!r} is not a memory size (e.g. 2G, 512M)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def set_item_memory(nbytes: int | None) -> None:
    global _budget
    _budget = nbytes


def item_memory() -> int:
    """The budget in force: the build's, else MEDBLINK_ITEM_MEMORY, else the default."""
    if _budget is not None:
        return _budget
    env = os.environ.get(MEMORY_ENV)
    return parse_size(env) if env else DEFAULT_ITEM_MEMORY


def decode_estimate(values: int, bytes_per_value: int) -> int:
    """Peak bytes to decode `values` stored values of `bytes_per_value` bytes into display pixels:
    the decoded buffer and its array copy (2x stored) plus about 8 bytes per value of working
    arrays (lookup index, windowed floats, output), as measured for a 16-bit PNG (12 bytes/pixel)."""
    return values * (2 * bytes_per_value + 8)


def volume_estimate(voxels: int, stored_bytes: int, value_bytes: int) -> int:
    """Peak bytes to read a volume: the stored values (file bytes or a decoded stack), the value
    array, and one canonical copy of it (transposed / flipped into LPS+)."""
    return voxels * (stored_bytes + 2 * value_bytes)


def check_memory(path: str | Path, what: str, nbytes: int) -> None:
    """ReaderError if decoding `what` (as a header declares it) would need more than the budget."""
    budget = item_memory()
    if nbytes > budget:
        raise ReaderError(
            path,
            f"{what} needs about {_human(nbytes)} to decode, above the per-item memory budget of "
            f"{_human(budget)} (--item-memory raises it)",
        )


def _human(nbytes: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} bytes"
