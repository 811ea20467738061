"""Building one item, as run inside any executor: recipe errors become skips or failures.

A file that cannot be read (ReaderError) or a recipe's SkipItem becomes a recorded skip; with
`strict` a ReaderError fails the build instead. Anything unexpected is a failure carrying the item
key and the exception, never a silent skip: a bug must not look like bad data.
"""

from __future__ import annotations

import dataclasses
import json
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import MedblinkError, ReaderError, SkipItem, clean_message
from ..fsnames import display_name
from ..model import Example, Skipped, SourceItem
from ..questions import Question
from ..readers.limits import set_item_memory
from ..recipe import ItemContext, Recipe
from ..registry import RecipeRef
from .result_cache import ResultCache, item_key


@dataclass(frozen=True)
class Job:
    recipe: RecipeRef
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    strict: bool = False
    cache: str | None = None  # folder of finished item results (resumable builds), or None
    item_memory: int | None = None  # per-item memory budget in bytes (None: the readers' default)
    pins: dict[str, dict[str, Any]] = field(default_factory=dict)  # item key -> {"params", "published"}
    explore: bool = False  # align: record parameter ranges, keep the last volume read


@dataclass(frozen=True)
class Failed:
    key: str
    message: str
    detail: str = ""


_RECIPES: dict[RecipeRef, Recipe] = {}


def recipe_instance(ref: RecipeRef) -> Recipe:
    if ref not in _RECIPES:
        _RECIPES[ref] = ref.load()()
    return _RECIPES[ref]


def build_one(job: Job, item: SourceItem) -> Example | Skipped | Failed:
    """Build `item`, or take its finished result from the cache of an earlier, interrupted run."""
    set_item_memory(job.item_memory)  # in this process, whichever executor runs it
    if job.cache is None:
        return _build(job, item)
    recipe = recipe_instance(job.recipe)
    cache = ResultCache(Path(job.cache))
    pin = job.pins.get(item.key)
    key = item_key(item, recipe.name, recipe.version, job.seed, {**job.params, "_pin": pin} if pin else job.params)
    cached = cache.get(key, item)
    if cached is not None:
        return cached
    result = _build(job, item)
    if not isinstance(result, Failed):
        cache.put(key, result, item)
    return result


def _build(job: Job, item: SourceItem) -> Example | Skipped | Failed:
    recipe = recipe_instance(job.recipe)
    pin = job.pins.get(item.key, {})
    ctx = ItemContext(item, job.seed, job.params, recipe.accepts, pin.get("params"), job.explore)
    try:
        example = recipe.build(item, ctx)
    except SkipItem as skip:
        detail = clean_message(skip.detail, [item.root])
        return _gated(job.strict, item, Skipped(item.key, skip.reason, detail), ctx.headers)
    except ReaderError as exc:
        if job.strict and not _deliberately_broken(item):
            return Failed(item.key, str(exc))
        detail = f"{_relative(item, exc.path)}: {clean_message(exc.problem, [item.root])}"
        return _gated(job.strict, item, Skipped(item.key, "unreadable", detail), ctx.headers)
    except MedblinkError as exc:
        return Failed(item.key, f"{item.key}: {exc}")
    except Exception as exc:  # a bug in a recipe or reader: fail loudly with where it happened
        return Failed(item.key, f"{item.key}: internal error {type(exc).__name__}: {exc}", traceback.format_exc())
    if not example.inputs:
        example.inputs = list(ctx.inputs)
    example.source = item.source_id  # the source is the item's, whatever the recipe set
    _pin_choices(example, ctx)
    if ctx.chosen:
        example.details["parameters"] = ctx.chosen
    if job.explore and ctx.ranges:
        example.details["parameter_ranges"] = ctx.ranges
    if pin.get("published"):
        example.details["published"] = dict(pin["published"])
    if not _finite_json(example):
        detail = "a label or provenance value is NaN or infinite (a header value no reader checks, or arithmetic)"
        return _gated(job.strict, item, Skipped(item.key, "non_finite_value", detail), ctx.headers)
    return _gated(job.strict, item, example, ctx.headers)


def gated_skip(item: SourceItem, skipped: Skipped, strict: bool = False) -> Skipped | Failed:
    """A skip the build records itself (grouping problem, metadata screen), through the same gate."""
    return _gated(strict, item, skipped)  # type: ignore[return-value]


def _deliberately_broken(item: SourceItem) -> bool:
    """A built-in sample's deliberately unreadable input (named `broken_*`, there to show a recorded
    skip): `--strict` is about the user's files, so it records these as skips too."""
    from ..manifests import builtin_manifests

    manifest = builtin_manifests().get(item.source_id)
    return bool(manifest and manifest.generator) and any(Path(f).name.startswith("broken_") for f in item.files)


def _finite_json(example: Example) -> bool:
    """Can the example's label and provenance be written as JSON? A NaN that slipped past the
    header checks skips this item instead of stopping the whole build in the writer."""
    try:
        json.dumps(
            [example.label, example.details, example.transforms, example.derivation], allow_nan=False, default=str
        )
    except ValueError:
        return False
    return True


def _pin_choices(example: Example, ctx: ItemContext) -> None:
    """A pinned `choices` order (the letter order of a published question) replaces the writer's
    balanced letter plan, when it is an order of exactly the recipe's choices."""
    q = example.question
    if q.bound is not None and ctx.pinned.get("markers"):  # pinned marker letters: kept, not re-planned
        example.question = dataclasses.replace(q, pinned_letters=True)
        return
    order = ctx.pinned.get("choices")
    if not order or not q.shuffle or sorted(order) != sorted(q.choices):
        return
    example.question = Question(q.text, tuple(order), list(order).index(q.choices[q.correct]), shuffle=False)
    ctx.chosen["choices"] = list(order)


def _relative(item: SourceItem, path: str) -> str:
    """A path as outputs name it: relative to the source root (or its pseudonym), so a manifest
    never records where a user keeps their copy (and two machines write the same bytes)."""
    try:
        rel = Path(path).resolve().relative_to(item.root.resolve()).as_posix()
    except ValueError:
        rel = Path(path).name
    if rel in item.files:
        return display_name(item.shown_name(item.files.index(rel)))
    return "an input file" if item.shown else display_name(rel)  # not one of the item's: no pseudonym to give


def _gated(
    strict: bool, item: SourceItem, result: Example | Skipped, parsed: Mapping[Path, Any] | None = None
) -> Example | Skipped | Failed:
    """Pass `result` on with local names pseudonymised, its values controlled and none of the
    item's identifiers in its texts; otherwise the item is skipped (`privacy`, naming the
    attribute, never the value), or with `strict` the build stops."""
    from ..ocr import burned_in_hit, may_carry_text
    from ..privacy import example_texts, first_hit, item_identifiers
    from ..pseudonym import redact, replacements
    from ..vocabulary import uncontrolled

    pairs = replacements(item.files, item.shown, item.local_key, item.key) if item.shown else []
    if item.shown:  # an absolute path would name the user's folder
        pairs = [(str(item.root.resolve()), "<source root>"), (str(item.root), "<source root>"), *pairs]
    task = None
    if isinstance(result, Skipped):
        result = Skipped(result.key, result.reason, redact(result.detail, pairs), result.task)
        texts, task = [result.detail], result.task
    else:
        for name in ("label", "details", "transforms", "derivation"):
            setattr(result, name, redact(getattr(result, name), pairs))
        result.question = replace(
            result.question, text=redact(result.question.text, pairs), choices=redact(result.question.choices, pairs)
        )
        texts, task = example_texts(result), result.task
        problem = uncontrolled(result, item)
        if problem is not None:
            return _refused(strict, item, "not_in_vocabulary", problem, task)
    identifiers = item_identifiers(item, parsed)
    hit = first_hit(texts, identifiers)
    if hit is not None:
        refused = _refused(strict, item, "privacy", f"the {hit.origin} would have been written to the output", task)
        return _carrying(refused, identifiers)
    if isinstance(result, Example) and result.images and may_carry_text(item, result.modality, parsed):
        try:
            burned = burned_in_hit(result.images, identifiers)
        except MedblinkError as exc:  # no tesseract, or it hung: never a silent pass
            return Failed(item.key, f"item {item.key}: {exc}")
        if burned is not None:
            return _carrying(_refused(strict, item, "burned_in_text", burned, task), identifiers)
    return _carrying(result, identifiers)


#: Where a result carries, back to the build process, the identifiers its item's gate collected.
_CARRIED = "_medblink_identifiers"


def _carrying(result: Example | Skipped | Failed, identifiers: list[Any]) -> Example | Skipped | Failed:
    """`result` with the item's identifiers attached (pickled with it to the build process, never
    written: rows, caches and manifests take named fields only), so the build's scan of the
    finished folder does not parse every input again."""
    if not isinstance(result, Failed):
        object.__setattr__(result, _CARRIED, identifiers)
    return result


def carried_identifiers(result: Example | Skipped) -> list[Any] | None:
    """The identifiers the worker's gate collected for `result`; None when it was not gated in this
    build (a result taken from the cache of an interrupted run)."""
    return getattr(result, _CARRIED, None)


def _refused(strict: bool, item: SourceItem, reason: str, detail: str, task: str | None) -> Skipped | Failed:
    if strict:
        return Failed(item.key, f"item {item.key}: {detail}; the build was stopped (--strict)")
    return Skipped(item.key, reason, detail, task)
