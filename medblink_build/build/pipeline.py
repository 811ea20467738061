"""Running a recipe: sources -> items -> examples (in any executor) -> one output folder.

Items are visited in a seeded order (a hash of seed, recipe and item key), so `--limit N` takes a
seeded random subset that does not depend on file-system order, worker count or executor, and
the first N successful examples per task are kept.

Every file under each source root is accounted for (`accounting.py`): items whose metadata states
a modality the recipe does not take, or that `select` leaves out, are recorded filters; items not
built because the limit was reached are filtered as `limit_reached`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import signal
import tempfile
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MedblinkError, OutputError, RecipeError
from ..faults import crash_point
from ..model import Skipped, SourceItem
from ..output.accounting import FILTERED, IN_ROWS, SKIPPED, SourceAccount, totals
from ..output.dataset import DatasetWriter
from ..output.folder import OutputLock, StagedOutput, swap_in_progress
from ..privacy import check_output, item_identifiers
from ..recipe import Recipe
from ..registry import RecipeRef
from ..seeding import stable_hash
from ..sources.folder import FolderSource
from ..sources.samples import materialize_sample
from ..subject import screen
from .executors import Executor, make_executor
from .result_cache import work_folder
from .worker import Failed, Job, build_one, carried_identifiers, gated_skip, recipe_instance


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
    accounting: dict[str, int] = field(default_factory=dict)  # files / in_rows / skipped / filtered


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
    allow_empty: bool = False  # write an output with no rows at all (else: an error, previous output kept)
    item_memory: int | None = None  # bytes one item's decode may need (None: readers.limits default / env)


def ordered_items(sources: Sequence[FolderSource], recipe_name: str, seed: int, select: Callable) -> list[SourceItem]:  # type: ignore[type-arg]
    return _ordered((item for source in sources for item in select(source.items())), recipe_name, seed)


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
    with _stopped_by_signals(out), OutputLock(out):  # the work folder and the output are this build's alone
        try:
            return _build_locked(runs, out, options, progress, release)
        except (OSError, MedblinkError) as exc:
            if not _disk_full(exc):
                raise
            # Resuming needs the space the kept results take: they go too (staging already went).
            shutil.rmtree(work_folder(out), ignore_errors=True)
            raise OutputError(
                f"{Path(os.path.abspath(out)).parent}: no space left on the device while writing the build; "
                f"the unfinished output and its work folder were removed and {out} is as it was"
            ) from exc


def _disk_full(exc: BaseException) -> bool:
    """ENOSPC / EDQUOT anywhere in the chain, whoever raised it (pyarrow, json, Pillow, our own errors)."""
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class BuildInterrupted(MedblinkError):
    """SIGTERM / SIGINT / SIGHUP during a build: it stops cleanly (staging removed, workers ended,
    the previous output untouched, finished items kept for a rerun). `exit_code` is 128 + signal."""

    def __init__(self, message: str, exit_code: int) -> None:
        self.exit_code = exit_code
        super().__init__(message)


@contextlib.contextmanager
def _stopped_by_signals(out: Path) -> Iterator[None]:
    """SIGTERM (what `timeout`, `docker stop` and `kill` send) and SIGHUP stop a build the way
    Ctrl-C does. Only in the main thread, where Python runs signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: Any) -> None:
        if swap_in_progress():
            return  # the build is complete and being moved into place: let it finish
        name = signal.Signals(signum).name
        raise BuildInterrupted(
            f"interrupted by {name}: {out} is left as it was; rerun the command to resume", 128 + signum
        )

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _build_locked(
    runs: Sequence[RecipeRun],
    out: Path,
    options: BuildOptions,
    progress: Callable[[int | None], Any] | None,
    release: dict[str, Any] | None,
) -> BuildSummary:
    if not options.resume:  # results it will not use must not fill the disk either
        shutil.rmtree(work_folder(out), ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="medblink-sample-") as scratch, StagedOutput(out) as staging:
        sample = all(not run.sources for run in runs)
        writer = DatasetWriter(
            staging, options.seed, sample=sample, max_shard_bytes=options.max_shard_bytes, release=release
        )
        cache = str(work_folder(out) / "results") if options.resume else None
        seen: list[list[Any]] = []  # per item that took part: the identifiers its gate collected
        # One pool for every recipe of the build: workers start (and import) once, and the items a
        # run built ahead of its last row finish while the next run's items queue behind them.
        executor = make_executor(options.executor, options.workers, options.scheduler)
        try:
            for run in runs:
                _run_one(run, writer, executor, options, Path(scratch), progress, cache, seen)
        except BaseException:
            executor.close(abort=True)
            raise
        executor.close()
        crash_point("before-finish")
        if not options.allow_empty and not any(writer.counts().values()):
            raise BuildFailed(_empty_message(out, writer.skip_counts()))
        manifest = writer.finish()
        # The value gate's second pass: no identifier of any item that took part, anywhere in the
        # folder (rows, card, manifest, croissant); a hit here stops the build before the swap.
        check_output(staging, [i for ids in seen for i in ids], _builtin_texts(runs))
    if options.resume:  # finished: nothing is left to resume, so the kept results go
        shutil.rmtree(work_folder(out), ignore_errors=True)
    return BuildSummary(
        out,
        writer.counts(),
        writer.letter_counts(),
        writer.skip_counts(),
        sample,
        manifest,
        totals(manifest.get("accounting", [])),
    )


def _empty_message(out: Path, skipped: dict[str, int]) -> str:
    reasons = ", ".join(f"{reason} {n}" for reason, n in skipped.items()) or "no items found"
    return (
        f"no rows were built ({sum(skipped.values())} item(s) skipped: {reasons}); {out} is left as it was "
        "(--allow-empty writes an output without rows)"
    )


def _run_one(
    run: RecipeRun,
    writer: DatasetWriter,
    executor: Executor,
    options: BuildOptions,
    scratch: Path,
    progress: Callable[[int | None], Any] | None,
    cache: str | None,
    seen: list[list[Any]],
) -> None:
    recipe = recipe_instance(run.ref)
    sources = list(run.sources)
    if not sources:
        cache = None  # generated sample files are new on every run: nothing to resume
        if not recipe.sample_sources:
            raise RecipeError(f"recipe {recipe.name!r} has no built-in sample source; give --source")
        sources = [materialize_sample(sid, scratch) for sid in recipe.sample_sources]
    manifests = {s.id: s.manifest for s in sources}
    accounts: dict[str, SourceAccount] = {}  # filled per source by _screened
    items = _ordered(_screened(recipe, sources, writer, accounts, options.strict), recipe.name, options.seed)
    pinned = _apply_selection(items, run.selection)
    kept = {item.key for item in pinned}
    for item in items:
        if item.key not in kept:
            accounts[item.source_id].mark(item.files, FILTERED, "not_in_release_selection")
    items = pinned
    accepted = f" {recipe.accepts.describe()}" if recipe.accepts is not None else ""
    writer.declare(recipe.name, recipe.version, recipe.description + accepted, recipe.tasks)
    limits = {t.task_id: run.limits.get(t.task_id, options.limit) for t in recipe.tasks}

    def full(task: str) -> bool:
        limit = limits.get(task)
        return limit is not None and writer.tasks[task].shards.rows >= limit

    job = Job(
        run.ref,
        options.seed,
        dict(options.params),
        options.strict,
        cache,
        item_memory=options.item_memory,
        pins=dict(run.pins),
    )
    bar = progress(len(items)) if progress else None
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

    done: set[int] = set()  # items that ended as a row or a skip; the rest were cut by the limit
    results = executor.map_ordered(functools.partial(build_one, job), feed())
    try:
        for result in results:
            if bar is not None:
                bar.update(1)
            index = submitted.popleft()
            task_hint, item = expected[index], items[index]
            if isinstance(result, Failed):
                raise BuildFailed(result.message, result.detail)
            if task_hint is not None and full(task_hint):
                continue  # built ahead by a worker, but its task filled meanwhile: as if never built
            carried = carried_identifiers(result)
            seen.append(carried if carried is not None else item_identifiers(items[index]))
            if isinstance(result, Skipped):
                writer.skip(result)
                accounts[item.source_id].mark(item.files, SKIPPED)
                done.add(index)
                continue
            if result.task not in limits:
                raise BuildFailed(f"recipe {recipe.name!r} produced undeclared task {result.task!r}")
            if task_hint is not None and result.task != task_hint:
                raise BuildFailed(
                    f"recipe {recipe.name!r} said {result.key!r} would feed {task_hint!r} but built {result.task!r}"
                )
            if not full(result.task):
                writer.add(result, manifests[result.source], recipe.name)
                account = accounts[item.source_id]
                account.mark((f.path for f in result.inputs if f.source_id == item.source_id), IN_ROWS)
                account.mark(item.files, FILTERED, "companion")  # the item's files the row did not use
                done.add(index)
                crash_point("after-first-row")
            if all(full(task) for task in limits):
                break
    finally:
        results.close()  # items not started are cancelled; the build's caller ends the pool
        if bar is not None:
            bar.close()
    for index, item in enumerate(items):
        if index not in done:
            accounts[item.source_id].mark(item.files, FILTERED, "limit_reached")
    for account in accounts.values():
        writer.account(account)


def _screened(
    recipe: Recipe,
    sources: Sequence[FolderSource],
    writer: DatasetWriter,
    accounts: dict[str, SourceAccount],
    strict: bool = False,
) -> Iterator[SourceItem]:
    """The items the recipe will try, each source scanned once; every other file is recorded.

    Grouping problems (e.g. DICOM without SeriesInstanceUID) and metadata stating a non-human
    species become skips; metadata stating another modality, and items `select` leaves out,
    become filters.
    """
    for source in sources:
        scan = source.scan()
        account = accounts[source.id] = SourceAccount(source.id, recipe.name, scan.inventory, source.shown_path)
        for problem in scan.problems:
            _record_skip(writer, SourceItem(problem.key, source.id, source.root, problem.files), problem, strict)
            account.mark(problem.files, SKIPPED)
        kept: list[SourceItem] = []
        for item in scan.items:
            verdict = screen(recipe.accepts, item.metadata, item.shown_name(0))
            if verdict is None:
                kept.append(item)
            elif verdict[0] == "filter":
                account.mark(item.files, FILTERED, verdict[1])
            else:
                _record_skip(writer, item, Skipped(item.key, verdict[1], verdict[2]), strict)
                account.mark(item.files, SKIPPED)
        selected = list(recipe.select(kept))
        chosen = {item.key for item in selected}
        for item in kept:
            if item.key not in chosen:
                account.mark(item.files, FILTERED, recipe.filter_reason(item))
        yield from selected


def _record_skip(writer: DatasetWriter, item: SourceItem, skipped: Skipped, strict: bool) -> None:
    """Record a skip made outside the workers, after the privacy gate the workers' skips pass."""
    result = gated_skip(item, skipped, strict)
    if isinstance(result, Failed):
        raise BuildFailed(result.message, result.detail)
    writer.skip(result)


def _ordered(items: Iterable[SourceItem], recipe_name: str, seed: int) -> list[SourceItem]:
    """Items in the seeded visiting order; a key seen twice (the same source given twice) is an error."""
    seen: set[str] = set()
    out: list[SourceItem] = []
    for item in items:
        if item.key in seen:
            raise MedblinkError(f"item {item.key!r} appears twice: the same source was given twice?")
        seen.add(item.key)
        out.append(item)
    return sorted(out, key=lambda it: (stable_hash(str(seed), recipe_name, it.key, length=32), it.key))


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


def _builtin_texts(runs: Sequence[RecipeRun]) -> list[str]:
    """What the shipped recipes write on every card whatever the inputs (descriptions, task texts):
    a name part that is one of their words (a patient called "Perfusion" beside "perfusion maps")
    is not a leak there. A plugin's texts are not exempt: they are checked like any output."""
    texts: list[str] = []
    for run in runs:
        if run.ref.origin == "builtin":
            recipe = recipe_instance(run.ref)
            texts.append(recipe.description)
            for info in recipe.tasks:
                texts += [info.description, info.question, info.modality, info.anatomy]
    return texts
