"""Turning a release definition and a folder of local sources into recipe runs.

With `--sources-root DIR` each task's sources are looked for at DIR/<source id>; a task whose
sources are all missing is reported (in the summary, manifest.json and the card), never silently
dropped. Without it every recipe runs on its built-in sample: a sample release.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RecipeError
from ..pipeline import RecipeRun
from ..registry import find_recipe
from ..sources.folder import FolderSource
from ..sources.resolve import resolve_source
from .definition import ReleaseDefinition, check_version


@dataclass
class ReleasePlan:
    runs: list[RecipeRun]
    missing: dict[str, str]  # task id -> why it is not built
    info: dict[str, Any]  # recorded as manifest.json "release"


def plan_release(
    definition: ReleaseDefinition,
    sources_root: Path | None,
    version: str | None = None,
    recipes_dirs: tuple[Path, ...] = (),
) -> ReleasePlan:
    missing: dict[str, str] = {}
    runs: list[RecipeRun] = []
    for recipe_name in definition.recipes():
        tasks = [t for t in definition.tasks if t.recipe == recipe_name]
        try:
            ref = find_recipe(recipe_name, recipes_dirs)
        except RecipeError as exc:
            missing.update({t.id: str(exc) for t in tasks})
            continue
        bound: dict[str, FolderSource] = {}
        if sources_root is not None:
            for task in tasks:
                found = []
                for source_id in task.sources:
                    folder = sources_root / source_id
                    if folder.is_dir():
                        bound.setdefault(source_id, resolve_source(f"{source_id}={folder}"))
                        found.append(source_id)
                if not found:
                    expected = ", ".join(str(sources_root / s) for s in task.sources)
                    missing[task.id] = f"sources not found: {expected}"
            if not bound:
                continue
        built = [t for t in tasks if t.id not in missing]
        runs.append(
            RecipeRun(
                ref,
                sources=list(bound.values()),
                limits={t.id: t.count for t in tasks},
                selection={t.id: list(t.selection) for t in built if t.selection},
            )
        )
    info = {
        "name": definition.name,
        "version": check_version(version) if version else definition.version,
        "definition": definition.origin,
        "pinned": definition.pinned,
        "selection": "pinned item keys" if definition.pinned else f"seeded draw (seed {definition.seed})",
        "expected_counts": {t.id: t.count for t in definition.tasks},
        "missing_tasks": dict(sorted(missing.items())),
    }
    return ReleasePlan(runs, missing, info)
