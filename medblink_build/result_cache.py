"""Finished item results kept on disk, so an interrupted build redoes only what is missing.

One JSON file per item under the build's work folder (`.<OUT>.work/` beside the output, never
inside the Hub folder). The key is (tool version, recipe name and version, seed, params, item key,
and each input file's path, size and modification time: the same identity the hash cache uses in
place of re-hashing). Results are data (JSON with base64 images), never pickles; a corrupt or
unreadable entry is a miss, not an error.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .model import Example, InputFile, Skipped, SourceItem
from .questions import Bound, Question
from .version import __version__

FORMAT = 1


def work_folder(out: Path) -> Path:
    out = Path(os.path.abspath(out))
    return out.parent / f".{out.name}.work"


def item_key(item: SourceItem, recipe: str, version: str, seed: int, params: dict[str, Any]) -> str | None:
    parts: list[Any] = [FORMAT, __version__, recipe, version, seed, sorted(params.items()), item.key]
    for rel in item.files:
        try:
            stat = (item.root / rel).stat()
        except OSError:
            return None  # let the build report the unreadable file
        parts.append([rel, stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _encode(result: Example | Skipped) -> dict[str, Any]:
    if isinstance(result, Skipped):
        return {"skipped": {"key": result.key, "reason": result.reason, "detail": result.detail, "task": result.task}}
    q = result.question
    return {
        "example": {
            "task": result.task,
            "key": result.key,
            "images": [base64.b64encode(b).decode("ascii") for b in result.images],
            "question": {
                "text": q.text,
                "choices": list(q.choices),
                "correct": q.correct,
                "shuffle": q.shuffle,
                "bound": dataclasses.asdict(q.bound) if q.bound else None,
            },
            "label": result.label,
            "inputs": [i.to_json() for i in result.inputs],
            "transforms": result.transforms,
            "derivation": result.derivation,
            "details": result.details,
            "modality": result.modality,
            "anatomy": result.anatomy,
            "source": result.source,
            "license": result.license,
        }
    }


def _decode(data: dict[str, Any]) -> Example | Skipped:
    if "skipped" in data:
        s = data["skipped"]
        return Skipped(s["key"], s["reason"], s["detail"], s.get("task"))
    e = data["example"]
    q = e["question"]
    return Example(
        task=e["task"],
        key=e["key"],
        images=[base64.b64decode(b) for b in e["images"]],
        question=Question(q["text"], tuple(q["choices"]), q["correct"], q["shuffle"], _bound(q.get("bound"))),
        label=e["label"],
        inputs=[InputFile(i["source"], i["path"], i["sha256"]) for i in e["inputs"]],
        transforms=e["transforms"],
        derivation=e["derivation"],
        details=e["details"],
        modality=e["modality"],
        anatomy=e["anatomy"],
        source=e["source"],
        license=e["license"],
    )


def _bound(data: dict[str, Any] | None) -> Bound | None:
    if not data:
        return None
    lists = ("label_keys", "per_slot_keys")
    positions = tuple(tuple(p) for p in data["positions"])
    return Bound(**{k: tuple(v) if k in lists else v for k, v in data.items() if k != "positions"}, positions=positions)


class ResultCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str | None) -> Example | Skipped | None:
        if key is None:
            return None
        try:
            return _decode(json.loads(self._path(key).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str | None, result: Example | Skipped) -> None:
        if key is None:
            return
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(_encode(result), f, sort_keys=True)
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written only costs a rebuild
