"""Writing a pinned release definition (PINS.toml): the items and parameters of a published release.

The file is an ordinary release definition (`release/definition.py` reads it back): per task the
recipe, the sources, the count, and a `selection` of tables `{key, question_id, question, answer,
params}` in published order. `build --release PINS.toml --sources-root DIR` then regenerates exactly
those items with those parameters, each row carrying its published question id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from ..errors import OutputError
from .definition import Pin, ReleaseDefinition, parse_release


@dataclass
class PinnedTask:
    id: str
    recipe: str
    sources: tuple[str, ...]
    pins: list[Pin] = field(default_factory=list)


def pins_toml(
    base: ReleaseDefinition, tasks: Sequence[PinnedTask], regeneration: dict[str, Any], comment: str = ""
) -> str:
    """The TOML text of a pinned definition derived from `base` (name, version, seed)."""
    data: dict[str, Any] = {
        "name": base.name,
        "version": base.version,
        "seed": base.seed,
        "description": f"{base.description} Pinned regeneration of a published copy.".strip(),
        "task": [
            {
                "id": t.id,
                "recipe": t.recipe,
                "count": len(t.pins),
                "sources": list(t.sources),
                "selection": [
                    {
                        "key": p.key,
                        "question_id": p.question_id,
                        "question": p.question,
                        "answer": p.answer,
                        "params": p.params,
                    }
                    for p in t.pins
                ],
            }
            for t in tasks
            if t.pins
        ],
        "regeneration": regeneration,
    }
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    return header + tomli_w.dumps(_plain(data))


def write_pins(path: Path, text: str) -> None:
    """Write PINS.toml, after checking it reads back as a release definition."""
    parse_release(text, str(path))
    tmp = path.with_name(path.name + ".partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from exc


def _plain(value: Any) -> Any:
    """TOML has no null: None values are left out (tuples become lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value if v is not None]
    return value
