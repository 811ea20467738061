"""Finished item results kept on disk, so an interrupted build redoes only what is missing.

One JSON file per item under the build's work folder (`.<OUT>.work/` beside the output, never
inside the Hub folder). The key is (tool version, recipe name and version, seed, params, item key,
the item's file list, the PNG encoder); each entry also records the sha256 of every input file, and is used only
if the files still have those contents. A size and modification time say nothing about an edit
that keeps both (or a copy with `cp -p`), so they are never trusted. The digests of an example's
inputs are the ones its build computed anyway; only files a build did not read are hashed to store
an entry, and resuming hashes the files of each entry it reuses. Results are data (JSON with base64
images), never pickles; a corrupt or unreadable entry is a miss, not an error.
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

from ..encode import png_encoder
from ..hashing import sha256_file
from ..model import Example, InputFile, Skipped, SourceItem
from ..questions import Bound, Question
from ..version import __version__

FORMAT = 2


def work_folder(out: Path) -> Path:
    out = Path(os.path.abspath(out))
    return out.parent / f".{out.name}.work"


def item_key(item: SourceItem, recipe: str, version: str, seed: int, params: dict[str, Any]) -> str | None:
    parts: list[Any] = [FORMAT, __version__, recipe, version, seed, sorted(params.items()), item.key, list(item.files)]
    parts.append(png_encoder())  # another encoder writes other image bytes: never serve its results
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _digests(item: SourceItem, known: dict[str, str]) -> dict[str, str] | None:
    """sha256 of each of the item's files: from `known` (computed by the build), else hashed now."""
    out: dict[str, str] = {}
    for rel in item.files:
        if rel in known:
            out[rel] = known[rel]
            continue
        try:
            out[rel] = sha256_file(item.root / rel)
        except OSError:
            return None  # let the build report the unreadable file
    return out


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
                "pinned_letters": q.pinned_letters,
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
        question=Question(
            q["text"],
            tuple(q["choices"]),
            q["correct"],
            q["shuffle"],
            _bound(q.get("bound")),
            q.get("pinned_letters", False),
        ),
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

    def get(self, key: str | None, item: SourceItem) -> Example | Skipped | None:
        """The stored result for `key`, if the item's files still hold the contents it was built from."""
        if key is None:
            return None
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            if _digests(item, {}) != data["files"]:
                return None  # an input changed (whatever its size and mtime say): build again
            return _decode(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str | None, result: Example | Skipped, item: SourceItem) -> None:
        if key is None:
            return
        inputs = result.inputs if isinstance(result, Example) else []
        files = _digests(item, {i.path: i.sha256 for i in inputs if i.source_id == item.source_id})
        if files is None:
            return
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({**_encode(result), "files": files}, f, sort_keys=True)
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written only costs a rebuild
