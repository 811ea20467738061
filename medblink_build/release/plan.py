"""Turning a release definition and a folder of local sources into recipe runs.

With `--sources-root DIR` each task's sources are looked for at DIR/<source id>; a task whose
sources are all missing is reported (in the summary, manifest.json and the card), never silently
dropped. Without it every recipe runs on its built-in sample: a sample release.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..build.pipeline import RecipeRun
from ..errors import RecipeError, SourceError
from ..registry import find_recipe
from ..sources.check import check_source
from ..sources.folder import FolderSource
from ..sources.resolve import LOCAL_MANIFEST, resolve_source
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
    allow_changed: bool = False,
) -> ReleasePlan:
    """Runs for every recipe of the release. Sources whose manifests pin their files are checked
    first: a changed or missing pinned file stops the build unless `allow_changed`; either way
    the result is recorded (and the real digests are in manifest.json's inputs)."""
    missing: dict[str, str] = {}
    checks: dict[str, dict[str, int]] = {}
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
                        if source_id not in bound:
                            bound[source_id] = _bind(source_id, folder)
                            checks.update(_check(bound[source_id], allow_changed))
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
                # a config of the recipe that the release leaves out (build --tasks) gets no row
                limits={**{t.task_id: 0 for t in ref.load().tasks}, **{t.id: t.count for t in tasks}},
                selection={t.id: list(t.selection) for t in built if t.selection},
                pins={p.key: {"params": p.params, "published": p.published()} for t in built for p in t.pins},
            )
        )
    info = {
        "name": definition.name,
        "version": check_version(version) if version else definition.version,
        "definition": definition.origin,
        "pinned": definition.pinned,
        "selection": _selection_kind(definition),
        "expected_counts": {t.id: t.count for t in definition.tasks},
        "missing_tasks": dict(sorted(missing.items())),
        "input_checks": dict(sorted(checks.items())),
    }
    if any(t.pins for t in definition.tasks):
        info["regeneration"] = {
            "kind": "pinned regeneration: the pinned items, built with the pinned parameters",
            "pinned_items": {t.id: len(t.pins) for t in definition.tasks if t.pins},
            **definition.regeneration,
        }
    return ReleasePlan(runs, missing, info)


def _selection_kind(definition: ReleaseDefinition) -> str:
    if any(t.pins for t in definition.tasks):
        return "pinned item keys and parameters (a pinned regeneration)"
    return "pinned item keys" if definition.pinned else f"seeded draw (seed {definition.seed})"


def _bind(source_id: str, folder: Path) -> FolderSource:
    """A folder's own source.toml (e.g. one with pinned files) wins over the built-in manifest."""
    if (folder / LOCAL_MANIFEST).is_file():
        source = resolve_source(str(folder))
        if source.id != source_id:
            raise SourceError(f"{folder / LOCAL_MANIFEST}: id {source.id!r} but the release expects {source_id!r}")
        return source
    return resolve_source(f"{source_id}={folder}")


def _check(source: FolderSource, allow_changed: bool) -> dict[str, dict[str, int]]:
    if not source.manifest.files:
        return {}
    report = check_source(source)
    summary = {
        "pinned": report.pinned,
        "missing": len(report.missing),
        "changed": len(report.changed),
        "extra": len(report.extra),
    }
    if not report.ok and not allow_changed:
        first = (report.changed or report.missing)[0]
        raise SourceError(
            f"{source.root}: differs from the files {source.manifest.origin} pins ({summary['changed']} changed, "
            f"{summary['missing']} missing; first: {first}); use --allow-changed to build anyway"
        )
    return {source.id: summary}
