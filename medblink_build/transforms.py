"""Image transforms as values: a name plus JSON-safe parameters, applied and recorded the same way.

A recipe samples parameters (with its seeded generator), builds a `Transform`, applies it with
`apply`, and records `transform.to_json()` in provenance. `replay` re-applies a recorded list, which
is how tests (and users) check that an output image is exactly what its provenance says.
Sampling is the recipe's job; this module only applies, so replay never needs a random generator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from .bounds import check_output_size
from .errors import MedblinkError

# --- the dihedral group of the square (image coordinates: x to the right, y down) ---------------

#: 2x2 integer matrices acting on centred (x, y) pixel coordinates: new = M @ old.
DIHEDRAL_MATRICES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "identity": ((1, 0), (0, 1)),
    "rot90cw": ((0, -1), (1, 0)),
    "rot180": ((-1, 0), (0, -1)),
    "rot90ccw": ((0, 1), (-1, 0)),
    "flip_h": ((-1, 0), (0, 1)),
    "flip_v": ((1, 0), (0, -1)),
    "transpose": ((0, 1), (1, 0)),
    "antitranspose": ((0, -1), (-1, 0)),
}
DIHEDRAL_ELEMENTS: tuple[str, ...] = tuple(DIHEDRAL_MATRICES)

_DIHEDRAL_ARRAY_OPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda a: a,
    "rot90cw": lambda a: np.rot90(a, -1),
    "rot180": lambda a: np.rot90(a, 2),
    "rot90ccw": lambda a: np.rot90(a, 1),
    "flip_h": lambda a: a[:, ::-1],
    "flip_v": lambda a: a[::-1, :],
    "transpose": lambda a: np.swapaxes(a, 0, 1),
    "antitranspose": lambda a: np.rot90(np.swapaxes(a, 0, 1), 2),
}


def _matrix(element: str) -> np.ndarray:
    try:
        return np.array(DIHEDRAL_MATRICES[element], dtype=np.int64)
    except KeyError:
        raise MedblinkError(f"unknown dihedral element {element!r}; valid: {', '.join(DIHEDRAL_ELEMENTS)}") from None


def _element_of(matrix: np.ndarray) -> str:
    for name, m in DIHEDRAL_MATRICES.items():
        if np.array_equal(matrix, np.array(m)):
            return name
    raise AssertionError("not a dihedral matrix")  # unreachable: the group is closed


def dihedral_compose(first: str, then: str) -> str:
    """The single element equal to applying `first` and then `then`."""
    return _element_of(_matrix(then) @ _matrix(first))


def dihedral_inverse(element: str) -> str:
    return _element_of(_matrix(element).T)


def dihedral_map_points(element: str, points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Map (x, y) pixel positions of an image of `shape` (h, w) through `element`.

    Used to move marker and centroid positions along with the pixels they sit on.
    """
    h, w = shape[:2]
    m = _matrix(element)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    centred = pts - np.array([(w - 1) / 2, (h - 1) / 2])
    moved = centred @ m.T
    swaps_axes = m[0, 0] == 0
    nh, nw = (w, h) if swaps_axes else (h, w)
    return moved + np.array([(nw - 1) / 2, (nh - 1) / 2])


# --- transform values -------------------------------------------------------------------------

RESAMPLE_FILTERS: dict[str, Image.Resampling] = {
    "lanczos": Image.Resampling.LANCZOS,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
}


@dataclass(frozen=True)
class Transform:
    """One applied operation: `name` picks the operation, `params` are all it needs (JSON-safe)."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Transform:
        return cls(str(data["name"]), dict(data.get("params", {})))


def dihedral(element: str) -> Transform:
    _matrix(element)  # validate
    return Transform("dihedral", {"element": element})


def resize_to_fit(shape: tuple[int, int], max_side: int, resample: str = "lanczos") -> Transform | None:
    """A resize that brings the longer side down to `max_side` (never up); None if already within."""
    if max_side < 1:
        raise MedblinkError(f"max_side must be >= 1, got {max_side}")
    if resample not in RESAMPLE_FILTERS:
        raise MedblinkError(f"unknown resample filter {resample!r}; valid: {', '.join(RESAMPLE_FILTERS)}")
    h, w = shape[:2]
    if max(h, w) <= max_side:
        return None
    scale = max_side / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    return Transform("resize", {"size": [new_w, new_h], "filter": resample})


def crop(box: tuple[int, int, int, int]) -> Transform:
    """Crop to (x0, y0, x1, y1), half-open, in pixel coordinates of the current image."""
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (x1 > x0 >= 0 and y1 > y0 >= 0):
        raise MedblinkError(f"crop box must satisfy 0 <= x0 < x1 and 0 <= y0 < y1, got {box}")
    return Transform("crop", {"box": [x0, y0, x1, y1]})


def _apply_dihedral(arr: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    element = params["element"]
    _matrix(element)
    return np.ascontiguousarray(_DIHEDRAL_ARRAY_OPS[element](arr))


def _apply_resize(arr: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    if arr.dtype != np.uint8:
        raise MedblinkError(f"resize expects a uint8 display image, got {arr.dtype}")
    w, h = (int(v) for v in params["size"])
    check_output_size(w, h)  # before Pillow allocates it
    image = Image.fromarray(arr)
    return np.asarray(image.resize((w, h), RESAMPLE_FILTERS[params["filter"]]))


def _apply_crop(arr: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    x0, y0, x1, y1 = params["box"]
    if y1 > arr.shape[0] or x1 > arr.shape[1]:
        raise MedblinkError(f"crop box {params['box']} exceeds image of shape {arr.shape[:2]}")
    return np.ascontiguousarray(arr[y0:y1, x0:x1])


_APPLY: dict[str, Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]] = {
    "dihedral": _apply_dihedral,
    "resize": _apply_resize,
    "crop": _apply_crop,
}


def register(name: str, fn: Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]) -> None:
    """Add an operation (for recipes that need one the toolkit lacks); names must be unique."""
    if name in _APPLY:
        raise MedblinkError(f"transform {name!r} is already registered")
    _APPLY[name] = fn


def apply(transform: Transform, arr: np.ndarray) -> np.ndarray:
    try:
        fn = _APPLY[transform.name]
    except KeyError:
        raise MedblinkError(f"unknown transform {transform.name!r}; known: {', '.join(sorted(_APPLY))}") from None
    return fn(arr, transform.params)


def replay(transforms: Iterable[Transform | Mapping[str, Any]], arr: np.ndarray) -> np.ndarray:
    """Apply a recorded list of transforms (values or their JSON form) in order."""
    for t in transforms:
        arr = apply(t if isinstance(t, Transform) else Transform.from_json(t), arr)
    return arr
