"""Running a recipe: sources -> items -> examples (in any executor) -> one output folder.

Items are visited in a seeded order (a hash of seed, recipe and item key), so `--limit N` takes a
seeded random subset that does not depend on file-system order, worker count or executor, and
the first N successful examples per task are kept.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import MedblinkError, RecipeError
from .executors import make_executor
from .faults import crash_point
from .model import Skipped, SourceItem
from .output.dataset import DatasetWriter
from .output.folder import StagedOutput
from .registry import RecipeRef
from .result_cache import work_folder
from .seeding import stable_hash
from .sources.folder import FolderSource
from .sources.samples import materialize_sample
from .worker import Failed, Job, build_one, recipe_instance


class BuildFailed(MedblinkError):
    """An item failed in a way that must stop the build (strict mode or an internal error)."""

    def __init__(self, message: str, detail: str = "") -> None:
        self.detail = detail
        super().__init__(message)


@dataclass
class BuildSummary:
    out: Path
    counts: dict[str, int]
    letters: dict[str, dict[str, int]]
    skipped: dict[str, int]
    sample: bool
    manifest: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass
class BuildOptions:
    seed: int = 0
    limit: int | None = None  # examples per task config
    workers: int = 1
    executor: str = "process"
    scheduler: str | None = None  # Dask scheduler address for executor "dask"
    strict: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    max_shard_bytes: int | None = None
    resume: bool = True  # reuse finished item results of an interrupted run (work folder beside OUT)


def ordered_items(sources: Sequence[FolderSource], recipe_name: str, seed: int, select: Callable) -> list[SourceItem]:  # type: ignore[type-arg]
    items: list[SourceItem] = []
    seen: set[str] = set()
    for source in sources:
        for item in select(source.items()):
            if item.key in seen:
                raise MedblinkError(f"item {item.key!r} appears twice: the same source was given twice?")
            seen.add(item.key)
            items.append(item)
    return sorted(items, key=lambda it: (stable_hash(str(seed), recipe_name, it.key, length=32), it.key))


@dataclass
class RecipeRun:
    """One recipe in a build: its sources (none = its built-in sample) and per-task row limits."""

    ref: RecipeRef
    sources: Sequence[FolderSource] = ()
    limits: dict[str, int] = field(default_factory=dict)  # task id -> max rows; absent = options.limit
    selection: dict[str, list[str]] = field(default_factory=dict)  # task id -> pinned item keys, in order
    pins: dict[str, dict[str, Any]] = field(default_factory=dict)  # item key -> pinned params, published ids


def run_recipe(
    ref: RecipeRef,
    sources: Sequence[FolderSource],
    out: Path,
    options: BuildOptions,
    progress: Callable[[int | None], Any] | None = None,
) -> BuildSummary:
    """Build one recipe's configs into `out`. With no sources, its built-in sample is used."""
    return run_build([RecipeRun(ref, sources)], out, options, progress)


def run_build(
    runs: Sequence[RecipeRun],
    out: Path,
    options: BuildOptions,
    progress: Callable[[int | None], Any] | None = None,
    release: dict[str, Any] | None = None,
) -> BuildSummary:
    """Build several recipes into one output folder, in the order given, atomically."""
    if options.limit is not None and options.limit < 1:
        raise MedblinkError(f"--limit must be at least 1, got {options.limit}")
    with tempfile.TemporaryDirectory(prefix="medblink-sample-") as scratch, StagedOutput(out) as staging:
        sample = all(not run.sources for run in runs)
        writer = DatasetWriter(
            staging, options.seed, sample=sample, max_shard_bytes=options.max_shard_bytes, release=release
        )
        cache = str(work_folder(out) / "results") if options.resume else None
        for run in runs:
            _run_one(run, writer, options, Path(scratch), progress, cache)
        crash_point("before-finish")
        manifest = writer.finish()
    if options.resume:  # finished: nothing is left to resume, so the kept results go
        shutil.rmtree(work_folder(out), ignore_errors=True)
    return BuildSummary(out, writer.counts(), writer.letter_counts(), writer.skip_counts(), sample, manifest)


def _run_one(
    run: RecipeRun,
    writer: DatasetWriter,
    options: BuildOptions,
    scratch: Path,
    progress: Callable[[int | None], Any] | None,
    cache: str | None,
) -> None:
    recipe = recipe_instance(run.ref)
    sources = list(run.sources)
    if not sources:
        cache = None  # generated sample files are new on every run: nothing to resume
        if not recipe.sample_sources:
            raise RecipeError(f"recipe {recipe.name!r} has no built-in sample source; give --source")
        sources = [materialize_sample(sid, scratch) for sid in recipe.sample_sources]
    manifests = {s.id: s.manifest for s in sources}
    items = ordered_items(sources, recipe.name, options.seed, recipe.select)
    items = _apply_selection(items, run.selection)
    writer.declare(recipe.name, recipe.version, recipe.description, recipe.tasks)
    limits = {t.task_id: run.limits.get(t.task_id, options.limit) for t in recipe.tasks}

    def full(task: str) -> bool:
        limit = limits.get(task)
        return limit is not None and writer.tasks[task].shards.rows >= limit

    job = Job(run.ref, options.seed, dict(options.params), options.strict, cache, dict(run.pins))
    bar = progress(len(items)) if progress else None
    executor = make_executor(options.executor, options.workers, options.scheduler)
    # Which task each item will feed, when the recipe can tell from metadata alone. Items of a task
    # that is already full are neither built nor recorded, and the build stops once no remaining
    # item can feed a task that still has room (so --limit on a chest-only source stops early).
    expected = [recipe.expected_task(item) for item in items]
    remaining = Counter(expected)
    submitted: deque[int] = deque()

    def feed() -> Iterator[SourceItem]:
        for index, item in enumerate(items):
            open_tasks = [t for t in limits if not full(t)]
            if not open_tasks or (remaining[None] == 0 and not any(remaining[t] for t in open_tasks)):
                return
            remaining[expected[index]] -= 1
            if expected[index] is not None and full(expected[index]):
                continue
            submitted.append(index)
            yield item

    try:
        for result in executor.map_ordered(functools.partial(build_one, job), feed()):
            if bar is not None:
                bar.update(1)
            task_hint = expected[submitted.popleft()]
            if isinstance(result, Failed):
                raise BuildFailed(result.message, result.detail)
            if task_hint is not None and full(task_hint):
                continue  # built ahead by a worker, but its task filled meanwhile: as if never built
            if isinstance(result, Skipped):
                writer.skip(result)
                continue
            if result.task not in limits:
                raise BuildFailed(f"recipe {recipe.name!r} produced undeclared task {result.task!r}")
            if task_hint is not None and result.task != task_hint:
                raise BuildFailed(
                    f"recipe {recipe.name!r} said {result.key!r} would feed {task_hint!r} but built {result.task!r}"
                )
            if not full(result.task):
                writer.add(result, manifests[result.source], recipe.name)
                crash_point("after-first-row")
            if all(full(task) for task in limits):
                break
    finally:
        executor.close()
        if bar is not None:
            bar.close()


def _apply_selection(items: list[SourceItem], selection: dict[str, list[str]]) -> list[SourceItem]:
    """With pinned keys, keep only those items, in the pinned order (the published draw)."""
    if not selection:
        return items
    by_key = {item.key: item for item in items}
    pinned = [key for keys in selection.values() for key in keys]
    missing = [key for key in pinned if key not in by_key]
    if missing:
        raise MedblinkError(
            f"{len(missing)} pinned item(s) not found in the sources, first: {missing[0]!r}; "
            "the local copy differs from the one the release was pinned on"
        )
    return [by_key[key] for key in dict.fromkeys(pinned)]
