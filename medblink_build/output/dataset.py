"""Writes a whole output folder: rows into shards per config, then the card and the manifest."""

from __future__ import annotations

import json
import platform
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..encode import png_encoder
from ..hashing import sha256_file
from ..manifests import Manifest
from ..model import Example, Skipped
from ..questions import LetterPlanner, finalize
from ..recipe import TaskInfo
from ..version import __version__
from .accounting import SourceAccount
from .card import render_card
from .folder import MANIFEST_NAME, OUTPUT_FORMAT
from .lettering import reletter
from .licenses import config_license
from .rows import canonical_json, make_row, row_digest
from .shards import ShardWriter


def _library_versions() -> dict[str, str]:
    import zlib
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version(), "zlib": zlib.ZLIB_RUNTIME_VERSION, "png_encoder": png_encoder()}
    for dist in ("numpy", "pillow", "pyarrow", "pydicom"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = "absent"
    return versions


def described(values: Counter[str]) -> str:
    """What the rows say, for the card and manifest: every distinct value, most frequent first."""
    named = sorted(((n, v) for v, n in values.items() if v), key=lambda nv: (-nv[0], nv[1]))
    return ", ".join(v for _, v in named) or "unknown"


@dataclass
class TaskState:
    info: TaskInfo
    shards: ShardWriter
    planner: LetterPlanner
    recipe: str
    letters: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)  # correct answer texts: the label distribution
    sources: set[str] = field(default_factory=set)
    modalities: Counter[str] = field(default_factory=Counter)  # of the rows written, not the task's declaration
    anatomies: Counter[str] = field(default_factory=Counter)
    digests: list[list[str]] = field(default_factory=list)


class DatasetWriter:
    """Accepts examples in a deterministic order and writes the Hub-ready folder at `root`."""

    def __init__(
        self,
        root: Path,
        seed: int,
        *,
        sample: bool,
        max_shard_bytes: int | None = None,
        release: dict[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.seed = seed
        self.sample = sample
        self.release = release
        self.max_shard_bytes = max_shard_bytes
        self.tasks: dict[str, TaskState] = {}
        self.sources: dict[str, Manifest] = {}
        self.recipes: dict[str, str] = {}
        self.recipe_descriptions: dict[str, str] = {}
        self.inputs: dict[tuple[str, str], str] = {}
        self.skipped: list[Skipped] = []
        self.accounting: list[dict[str, Any]] = []

    def declare(self, recipe_name: str, version: str, description: str, tasks: tuple[TaskInfo, ...]) -> None:
        self.recipes[recipe_name] = version
        self.recipe_descriptions[recipe_name] = description
        for info in tasks:
            kwargs = {"max_shard_bytes": self.max_shard_bytes} if self.max_shard_bytes else {}
            self.tasks[info.task_id] = TaskState(
                info,
                ShardWriter(self.root / "data" / info.task_id, **kwargs),
                LetterPlanner(self.seed, info.task_id),
                recipe_name,
            )

    def add(self, example: Example, manifest: Manifest, recipe_name: str) -> str:
        state = self.tasks[example.task]
        final = finalize(example.question, state.planner, self.seed, example.task, example.key)
        if final.slots:  # choices bound to markers or images: letter them as planned
            example = reletter(example, final.slots)
        row = make_row(example, final, manifest, recipe_name, self.recipes[recipe_name], self.seed)
        payload = sum(len(b) for b in example.images) + len(row["provenance"]) + len(row["label"])
        state.shards.add(row, payload)
        state.letters[final.answer] += 1
        state.answers[row["answer_text"]] += 1
        state.sources.add(manifest.id)
        state.modalities[row["modality"]] += 1
        state.anatomies[row["anatomy"]] += 1
        state.digests.append([row["id"], row_digest(row)])
        self.sources[manifest.id] = manifest
        for item in example.inputs:
            self.inputs[(item.source_id, item.path)] = item.sha256
        return row["id"]

    def skip(self, skipped: Skipped) -> None:
        self.skipped.append(skipped)

    def account(self, account: SourceAccount) -> None:
        """Record where every file of one source ended in one recipe's run (`accounting.py`)."""
        self.accounting.append(account.to_json())

    def counts(self) -> dict[str, int]:
        return {task: state.shards.rows for task, state in self.tasks.items()}

    def letter_counts(self) -> dict[str, dict[str, int]]:
        return {task: dict(sorted(state.letters.items())) for task, state in self.tasks.items()}

    def skip_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(s.reason for s in self.skipped).items()))

    def finish(self) -> dict[str, Any]:
        """Close shards, write README.md and manifest.json; returns the manifest."""
        configs: dict[str, Any] = {}
        for task, state in self.tasks.items():
            paths = state.shards.close()
            if state.shards.rows == 0:
                continue
            used = [self.sources[k] for k in sorted(state.sources)]
            configs[task] = {
                "recipe": state.recipe,
                "recipe_version": self.recipes[state.recipe],
                "modality": described(state.modalities),
                "anatomy": described(state.anatomies),
                "description": state.info.description,
                "question": state.info.question,
                "sources": [m.id for m in used],
                **config_license(used),
                "rows": state.shards.rows,
                "num_bytes": state.shards.nbytes,
                "answer_letters": dict(sorted(state.letters.items())),
                "answer_texts": dict(sorted(state.answers.items())),
                "files": [
                    {"path": p.relative_to(self.root).as_posix(), "sha256": sha256_file(p), "bytes": p.stat().st_size}
                    for p in paths
                ],
                "examples": state.digests,
            }
        sources = [self.sources[k] for k in sorted(self.sources)]
        manifest = {
            "format": OUTPUT_FORMAT,
            "format_version": 1,
            "tool": {"name": "medblink-build", "version": __version__},
            "environment": _library_versions(),
            "recipes": dict(sorted(self.recipes.items())),
            "seed": self.seed,
            "sample": self.sample,
            "release": self.release,
            "recipe_descriptions": dict(sorted(self.recipe_descriptions.items())),
            "sources": [s.to_json() for s in sources],
            "inputs": [{"source": s, "path": p, "sha256": d} for (s, p), d in sorted(self.inputs.items())],
            "configs": configs,
            "accounting": sorted(self.accounting, key=lambda a: (a["source"], a["recipe"])),
            "skipped": {
                "by_reason": self.skip_counts(),
                "items": [
                    {"key": s.key, "reason": s.reason, "detail": s.detail}
                    for s in sorted(self.skipped, key=lambda s: s.key)
                ],
            },
        }
        all_tasks = [state.info for state in self.tasks.values()]
        card = render_card(
            tasks=all_tasks,
            described={task: (info["modality"], info["anatomy"]) for task, info in configs.items()},
            counts=self.counts(),
            letters=self.letter_counts(),
            sources=sources,
            recipes=self.recipes,
            recipe_descriptions=self.recipe_descriptions,
            seed=self.seed,
            tool_version=__version__,
            sample=self.sample,
            skipped=self.skip_counts(),
            licenses={
                task: {k: info[k] for k in ("license", "non_commercial", "redistributable")}
                for task, info in configs.items()
            },
            release=self.release,
            sizes={
                task: {"num_bytes": info["num_bytes"], "download_size": sum(f["bytes"] for f in info["files"])}
                for task, info in configs.items()
            },
        )
        (self.root / "README.md").write_text(card, encoding="utf-8")
        (self.root / MANIFEST_NAME).write_text(
            json.dumps(json.loads(canonical_json(manifest)), indent=1, sort_keys=True, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        from .croissant import write_croissant  # derived from manifest.json, so not listed in it

        write_croissant(self.root)
        return manifest
