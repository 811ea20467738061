"""Depth-ordered marker questions: positions mapped across a resize, seeded placement with a depth
gap between markers, and letters assigned so that the answer letter is uniform.

Shared by the visual-depth (endoscopy) and wave-depth (ultrasound) recipes. Each recipe says where
a marker may sit (`allowed`, in output-image pixels) and when two centres are far enough apart in
depth (`compatible`); this module draws the centres with the item's generator.

Placement is sequential: the first centre is uniform over the allowed pixels, each next one uniform
over the pixels still compatible with (and at least `min_separation` from) every centre so far; a
dead end restarts, up to `attempts` times. Letters are drawn in the image: the recipe gives the
markers with provisional letters (`assign_letters`) and the writer re-letters them to its balanced
plan and draws them (`marker_question(..., markers=, radius=)`, medblink_build/output/lettering.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..questions import Question
from .markers import MARKER_COLOURS, Marker, bound_markers

LETTERS = "".join(MARKER_COLOURS)  # "ABCD": one colour per letter
#: How many markers a question may have; drawn per item, fewer tried when that many do not fit.
MARKER_COUNTS = (2, 3, 4)
#: Restarts of the sequential draw before a count is given up.
PLACEMENT_ATTEMPTS = 40

#: compatible(y, x, ys, xs) -> bool array: may a marker at each (ys, xs) join one at (y, x)?
Compatible = Callable[[int, int, np.ndarray, np.ndarray], np.ndarray]


def source_index(n_out: int, n_src: int) -> np.ndarray:
    """For each output index along an axis, the source index whose pixel contains its centre."""
    idx = np.floor((np.arange(n_out) + 0.5) * (n_src / n_out)).astype(np.int64)
    return np.minimum(idx, n_src - 1)


def resample_nearest(arr: np.ndarray, shape_out: tuple[int, int]) -> np.ndarray:
    """`arr` (H, W, ...) sampled at the output pixels' centres (nearest neighbour)."""
    rows = source_index(shape_out[0], arr.shape[0])
    cols = source_index(shape_out[1], arr.shape[1])
    return arr[np.ix_(rows, cols)]


def clear_border(allowed: np.ndarray, radius: int) -> np.ndarray:
    """`allowed` without the margin `markers.fits` keeps free (radius + 2 px)."""
    out = allowed.copy()
    m = radius + 2
    out[:m] = False
    out[-m:] = False
    out[:, :m] = False
    out[:, -m:] = False
    return out


def choose_positions(
    rng: np.random.Generator,
    allowed: np.ndarray,
    count: int,
    min_separation: float,
    compatible: Compatible,
    attempts: int = PLACEMENT_ATTEMPTS,
) -> np.ndarray | None:
    """`count` (x, y) centres from the True pixels of `allowed`, pairwise at least `min_separation`
    apart and pairwise compatible; None when no set was found in `attempts` restarts."""
    ys, xs = np.nonzero(allowed)
    if len(xs) < count:
        return None
    for _ in range(attempts):
        chosen: list[int] = []
        cand = np.arange(len(xs))
        while len(chosen) < count and cand.size:
            pick = int(cand[rng.integers(cand.size)])
            chosen.append(pick)
            y, x = int(ys[pick]), int(xs[pick])
            cy, cx = ys[cand], xs[cand]
            keep = (cx - x) ** 2 + (cy - y) ** 2 >= min_separation**2
            keep &= compatible(y, x, cy, cx)
            cand = cand[keep]
        if len(chosen) == count:
            return np.stack([xs[chosen], ys[chosen]], axis=1).astype(np.float64)
    return None


def assign_letters(rng: np.random.Generator, depths: Sequence[float], nearest: bool) -> tuple[list[str], int]:
    """Letters for markers with these depths, and the index of the correct letter.

    The asked-for marker (the nearest when `nearest`, else the farthest) gets a letter drawn
    uniformly from the first n; the others get the remaining letters in a seeded order. With
    `marker_question(markers=...)` these are provisional: the writer gives the final letters.
    """
    n = len(depths)
    if not 2 <= n <= len(LETTERS):
        raise ValueError(f"need 2..{len(LETTERS)} markers, got {n}")
    order = np.argsort(np.asarray(depths, dtype=np.float64), kind="stable")
    target = int(order[0] if nearest else order[-1])
    correct = int(rng.integers(n))
    remaining = [letter for j, letter in enumerate(LETTERS[:n]) if j != correct]
    others = [i for i in range(n) if i != target]
    letters = [""] * n
    letters[target] = LETTERS[correct]
    for i, p in zip(others, rng.permutation(n - 1), strict=True):
        letters[i] = remaining[int(p)]
    return letters, correct


def marker_question(text: str, n: int, correct: int, *, markers: Sequence[Marker] = (), radius: int = 0) -> Question:
    """A question whose choices are the n marker letters, in letter order. With `markers` (in
    letter order, not yet drawn) the writer re-letters them to its balanced plan and draws them."""
    bound = bound_markers(markers, radius) if markers else None
    return Question(text, tuple(f"Marker {letter}" for letter in LETTERS[:n]), correct, shuffle=False, bound=bound)


def marker_params(points: np.ndarray, letters: Sequence[str]) -> list[dict[str, Any]]:
    """Drawn markers as the JSON parameter a release pins (`ctx.choice("markers", ...)`), A first."""
    order = sorted(range(len(letters)), key=lambda i: letters[i])
    return [{"x": int(points[i][0]), "y": int(points[i][1]), "letter": letters[i]} for i in order]


def pinned_marker_points(
    placed: Sequence[dict[str, Any]], shape: tuple[int, int], radius: int, min_separation: float
) -> tuple[np.ndarray, list[str]]:
    """(points, letters) of a `markers` parameter; a pinned set that does not fit is a skip."""
    from ..errors import RecipeError, SkipItem
    from .markers import fits

    letters = [str(m["letter"]) for m in placed]
    if sorted(letters) != list(LETTERS[: len(letters)]) or not 2 <= len(letters) <= len(LETTERS):
        raise RecipeError(f"pinned marker letters {letters} are not A, B, ... in some order")
    points = np.array([[float(m["x"]), float(m["y"])] for m in placed], dtype=np.float64)
    if not fits(points, radius, shape, min_separation):
        raise SkipItem("pinned_markers_do_not_fit", "pinned markers overlap each other or the image border")
    return points, letters
