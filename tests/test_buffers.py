"""readers/buffers.py: a volume buffer is handed out again only when nothing references it."""

from __future__ import annotations

import numpy as np
import pytest

from medblink_build.readers import buffers


@pytest.fixture(autouse=True)
def small_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buffers, "MIN_BYTES", 1024)
    monkeypatch.setattr(buffers, "_pool", [])


def test_a_dropped_volume_s_buffer_is_reused_and_a_live_one_never() -> None:
    a = buffers.empty((4, 32, 32), np.int16)
    a[...] = 7
    b = buffers.empty((4, 32, 32), np.int16)
    assert not np.shares_memory(a, b)  # a is alive
    b[...] = 9
    address = a.__array_interface__["data"][0]
    del a
    c = buffers.empty((8, 32, 32), np.uint8)  # same size, another dtype and shape
    assert (
        c.__array_interface__["data"][0] == address
        and c.shape == (8, 32, 32)
        and c.flags.c_contiguous
        and c.flags.writeable
    )
    assert (b == 9).all()  # the live volume is untouched


def test_a_view_keeps_its_buffer_in_use() -> None:
    a = buffers.empty((4, 32, 32), np.int16)
    plane = a[2]
    del a
    b = buffers.empty((4, 32, 32), np.int16)
    assert not np.shares_memory(plane, b)


def test_small_arrays_are_not_pooled_and_free_buffers_are_bounded() -> None:
    assert buffers.empty((4, 4), np.uint8).base is None
    for n in range(buffers.KEEP + 3):
        buffers.empty((n + 2, 32, 32), np.uint8)  # each of another size, dropped at once
    assert len(buffers._pool) <= buffers.KEEP + 1  # the free ones kept, and the last one handed out
    buffers.release()
    assert buffers._pool == []
