"""From a recipe's Example to a dataset row: final letters, prompt, label and provenance JSON."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..manifests import Manifest
from ..model import Example
from ..questions import LETTERS, FinalQuestion
from ..seeding import stable_hash
from ..version import __version__

TOOL_NAME = "medblink-build"


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def example_id(task: str, key: str) -> str:
    return f"{task}-{stable_hash(task, key, length=16)}"


def make_row(
    example: Example, final: FinalQuestion, manifest: Manifest, recipe_name: str, recipe_version: str, seed: int
) -> dict[str, Any]:
    row_id = example_id(example.task, example.key)
    read = dict(example.details)
    extra = {name: read.pop(name) for name in ("parameters", "published") if name in read}
    provenance = {
        "tool": {"name": TOOL_NAME, "version": __version__},
        "recipe": {"name": recipe_name, "version": recipe_version},
        "seed": seed,
        "example_key": example.key,
        "source": {
            "id": manifest.id,
            "name": manifest.name,
            "license": manifest.license,
            "synthetic": manifest.synthetic,
        },
        "inputs": [i.to_json() for i in example.inputs],
        "read": read,
        **extra,  # the recipe's drawn/pinned parameters; for a pinned regeneration, the published question id
        "transforms": example.transforms,
        "label_derivation": example.derivation,
        "images": [{"sha256": hashlib.sha256(b).hexdigest(), "format": "PNG"} for b in example.images],
    }
    return {
        "id": row_id,
        "task": example.task,
        "question": final.text,
        "choices": list(final.choices),
        "answer": final.answer,
        "answer_text": final.choices[LETTERS.index(final.answer)],
        "images": [{"bytes": b, "path": f"{row_id}-{i}.png"} for i, b in enumerate(example.images)],
        "prompt": final.prompt,
        "modality": example.modality or manifest.modality,
        "anatomy": example.anatomy or manifest.anatomy,
        "source": manifest.id,
        "license": manifest.license,
        "label": canonical_json(example.label),
        "provenance": canonical_json(provenance),
    }


def row_digest(row: dict[str, Any]) -> str:
    """sha256 over every column of a row (images by their bytes): the per-example digest."""
    h = hashlib.sha256()
    for name in sorted(row):
        value = row[name]
        if name == "images":
            value = [{"sha256": hashlib.sha256(img["bytes"]).hexdigest(), "path": img["path"]} for img in value]
        h.update(name.encode())
        h.update(b"\0")
        h.update(canonical_json(value).encode())
        h.update(b"\0")
    return h.hexdigest()
