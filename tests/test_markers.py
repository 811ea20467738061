"""Markers: drawn where provenance says, byte-stable, and placed within their constraints."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from medblink_build.seeding import rng_for
from medblink_build.tasks.markers import MARKER_COLOURS, Marker, draw_markers, fits, marker_radius, sample_positions
from medblink_build.transforms import Transform, apply, replay


def test_marker_is_drawn_at_its_position_in_its_colour() -> None:
    img = np.full((200, 300), 128, np.uint8)
    radius = marker_radius(img.shape)
    out = apply(draw_markers([Marker(60, 50, "A"), Marker(240, 150, "B")], radius), img)
    assert out.shape == (200, 300, 3)
    # The ring between the letter and the outline carries the marker colour.
    ring = out[50, 60 - radius + 3]
    assert np.abs(ring.astype(int) - MARKER_COLOURS["A"]).max() < 40
    assert np.abs(out[150, 240 + radius - 3].astype(int) - MARKER_COLOURS["B"]).max() < 40
    assert (out[100, 150] == 128).all()  # untouched elsewhere


def test_drawing_is_byte_stable_and_replays_from_json() -> None:
    img = np.arange(128 * 128, dtype=np.uint32).reshape(128, 128).astype(np.uint8)
    t = draw_markers([Marker(30.4, 40.6, "C"), Marker(90, 90, "D")], 10)
    first = apply(t, img)
    again = replay([Transform.from_json(t.to_json())], img)
    np.testing.assert_array_equal(first, again)


@settings(max_examples=40)
@given(st.integers(0, 10_000), st.integers(2, 4), st.integers(60, 200), st.integers(60, 200))
def test_sampled_positions_respect_border_and_separation(seed: int, count: int, h: int, w: int) -> None:
    allowed = np.ones((h, w), bool)
    radius = marker_radius((h, w))
    sep = 3 * radius
    pts = sample_positions(rng_for(seed, "t", "k"), allowed, count, radius, sep)
    if pts is None:
        return  # a crowded small image may admit no placement: the caller then skips
    assert fits(pts, radius, (h, w), sep)
    assert allowed[pts[:, 1].astype(int), pts[:, 0].astype(int)].all()


def test_sampling_only_uses_allowed_pixels_and_says_when_impossible() -> None:
    allowed = np.zeros((100, 100), bool)
    allowed[40:60, 10:90] = True
    pts = sample_positions(rng_for(0, "t", "k"), allowed, 2, 9, 30)
    assert pts is not None and allowed[pts[:, 1].astype(int), pts[:, 0].astype(int)].all()
    tiny = np.zeros((100, 100), bool)
    tiny[50, 50] = True
    assert sample_positions(rng_for(0, "t", "k"), tiny, 2, 9, 30) is None
