"""Re-lettering an example whose choices are bound to slots in its images (`Question.bound`).

The writer plans the answer letter of every question so letters are balanced per task. When the
letters are part of the images (lettered markers) or the choices name the images ("Image 1"),
the slot permutation that `finalize` chose is applied here to everything that names a slot: the
marker drawing (done here, on the image the recipe left unmarked, and recorded as the last
transform so provenance replays it), the image order, the label and the derivation.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..encode import png_bytes
from ..model import Example
from ..questions import Bound
from ..tasks.markers import Marker, draw_markers
from ..transforms import apply

_PLACEHOLDER = re.compile(r"\{([A-J]|[1-9][0-9]?)\}")


def reletter(example: Example, slots: Sequence[int]) -> Example:
    """`example` with slot i shown at position `slots[i]` (as `finalize` planned it)."""
    bound = example.question.bound
    if bound is None:
        return example
    rename = {bound.name(i): bound.name(p) for i, p in enumerate(slots)}
    label = _map_label(example.label, bound, rename, slots)
    derivation = _PLACEHOLDER.sub(lambda m: str(rename.get(_token(m.group(1)), m.group(0))), example.derivation)
    images, transforms = list(example.images), list(example.transforms)
    if bound.kind == "markers":
        markers = sorted(
            (Marker(float(x), float(y), str(rename[bound.name(i)])) for i, (x, y) in enumerate(bound.positions)),
            key=lambda m: m.letter,
        )
        step = draw_markers(markers, bound.radius)
        images[bound.image] = png_bytes(apply(step, _pixels(images[bound.image])))
        transforms.append(step.to_json())
    else:
        images = _permuted(images, slots)
    details = example.details
    drawn = details.get("parameters", {}).get("markers") if bound.kind == "markers" else None
    if isinstance(drawn, list) and any(k != v for k, v in rename.items()):
        # the recorded parameter names the letters shown (A first), so a pin reproduces the image
        relettered = [{**m, "letter": rename.get(m.get("letter"), m.get("letter"))} for m in drawn]
        parameters = {**details["parameters"], "markers": sorted(relettered, key=lambda m: str(m["letter"]))}
        details = {**details, "parameters": parameters}
    return dataclasses.replace(
        example, images=images, label=label, derivation=derivation, transforms=transforms, details=details
    )


def _token(text: str) -> str | int:
    return int(text) if text.isdigit() else text


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)


def _permuted(values: Sequence[Any], slots: Sequence[int]) -> list[Any]:
    out: list[Any] = [None] * len(slots)
    for i, p in enumerate(slots):
        out[p] = values[i]
    return out


def _map_label(value: Any, bound: Bound, rename: dict[Any, Any], slots: Sequence[int], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _map_label(v, bound, rename, slots, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [_map_label(v, bound, rename, slots, key) for v in value]
        return _permuted(items, slots) if key in bound.per_slot_keys and len(items) == len(slots) else items
    if key in bound.label_keys and not isinstance(value, bool) and value in rename:
        return rename[value]
    return value


def lettered_variants(example: Example) -> Iterator[Example]:
    """The example as the writer could show it: for choices bound to markers, once per letter
    assignment (at most 4! = 24), markers drawn; otherwise the example itself. `align` matches a
    published image against these, since which letters a marker got is the writer's plan."""
    bound = example.question.bound
    if bound is None:
        yield example
        return
    for slots in itertools.permutations(range(len(example.question.choices))):
        yield reletter(example, slots)


def as_drawn(example: Example) -> Example:
    """The example with bound markers drawn with the letters the recipe (or a pin) gave them."""
    bound = example.question.bound
    return example if bound is None else reletter(example, tuple(range(len(example.question.choices))))
