"""Volume-sized voxel buffers, reused once their volume is dropped.

A TotalSegmentator subject decodes a 262 MB CT and ten 131 MB masks one after another, and a CT
release decodes one 157 MB series after another. Each fresh `np.empty` of that size is mapped
from the kernel and faulted in page by page (zeroed, and on a VM possibly fetched from the host)
on first write: about as costly as inflating a mask. A buffer whose volume nobody references any
more (the recipe moved on to the next mask, the previous item ended) is handed out again instead.

Only large buffers are pooled, and at most `KEEP` free ones are kept, so a worker holds no more
than a few volumes' worth between items. A buffer counts as free when the pool holds the only
reference to it: every array handed out is a view of it, and a view keeps its base alive.
"""

from __future__ import annotations

import sys
from math import prod

import numpy as np

#: Smaller arrays come straight from numpy (the allocator reuses those well enough).
MIN_BYTES = 16 << 20
#: Free buffers kept between uses (least recently used ones are released first).
KEEP = 3

_pool: list[np.ndarray] = []  # flat uint8 buffers, least recently used first


def empty(shape: tuple[int, ...], dtype: np.dtype | type | str) -> np.ndarray:
    """An uninitialised C-ordered array, as `np.empty(shape, dtype)`, in a reused buffer when one
    of the same size is free."""
    dtype = np.dtype(dtype)
    nbytes = prod(int(n) for n in shape) * dtype.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    for i in range(len(_pool)):
        if _pool[i].nbytes == nbytes and _is_free(i):
            buffer = _pool.pop(i)
            break
    else:
        buffer = np.empty(nbytes, np.uint8)
        _release_extra()
    _pool.append(buffer)
    return buffer.view(dtype).reshape(shape)


def _is_free(i: int) -> bool:
    # the list's reference and getrefcount's own argument: nothing else holds it (no view)
    return sys.getrefcount(_pool[i]) <= 2


def _release_extra() -> None:
    """Drop free buffers beyond KEEP, oldest first."""
    free = [i for i in range(len(_pool)) if _is_free(i)]
    for i in reversed(free[: max(0, len(free) - KEEP)]):
        del _pool[i]


def release() -> None:
    """Drop every free buffer (e.g. when a worker is done with volumes)."""
    for i in reversed(range(len(_pool))):
        if _is_free(i):
            del _pool[i]
