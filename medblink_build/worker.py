"""Building one item, as run inside any executor: recipe errors become skips or failures.

A file that cannot be read (ReaderError) or a recipe's SkipItem becomes a recorded skip; with
`strict` a ReaderError fails the build instead. Anything unexpected is a failure carrying the item
key and the exception, never a silent skip: a bug must not look like bad data.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import MedblinkError, ReaderError, SkipItem
from .model import Example, Skipped, SourceItem
from .privacy import PrivacyError, check_texts, example_texts, identifiers_of_files
from .questions import Question
from .recipe import ItemContext, Recipe
from .registry import RecipeRef
from .result_cache import ResultCache, item_key


@dataclass(frozen=True)
class Job:
    recipe: RecipeRef
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    strict: bool = False
    cache: str | None = None  # folder of finished item results (resumable builds), or None
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
    if job.cache is None:
        return _build(job, item)
    recipe = recipe_instance(job.recipe)
    cache = ResultCache(Path(job.cache))
    pin = job.pins.get(item.key)
    key = item_key(item, recipe.name, recipe.version, job.seed, {**job.params, "_pin": pin} if pin else job.params)
    cached = cache.get(key)
    if cached is not None:
        return cached
    result = _build(job, item)
    if not isinstance(result, Failed):
        cache.put(key, result)
    return result


def _build(job: Job, item: SourceItem) -> Example | Skipped | Failed:
    recipe = recipe_instance(job.recipe)
    pin = job.pins.get(item.key, {})
    ctx = ItemContext(item, job.seed, job.params, pin.get("params"), job.explore)
    try:
        example = recipe.build(item, ctx)
    except SkipItem as skip:
        return _gated(item, Skipped(item.key, skip.reason, skip.detail), [skip.detail])
    except ReaderError as exc:
        if job.strict:
            return Failed(item.key, str(exc))
        detail = f"{_relative(item, exc.path)}: {exc.problem}"
        return _gated(item, Skipped(item.key, "unreadable", detail), [detail])
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
    return _gated(item, example, example_texts(example))


def _pin_choices(example: Example, ctx: ItemContext) -> None:
    """A pinned `choices` order (the letter order of a published question) replaces the writer's
    balanced letter plan, when it is an order of exactly the recipe's choices."""
    order = ctx.pinned.get("choices")
    q = example.question
    if not order or not q.shuffle or sorted(order) != sorted(q.choices):
        return
    example.question = Question(q.text, tuple(order), list(order).index(q.choices[q.correct]), shuffle=False)
    ctx.chosen["choices"] = list(order)


def _relative(item: SourceItem, path: str) -> str:
    """A path as the source knows it: relative to its root, so a manifest never records where a
    user keeps their copy (and two machines write the same bytes)."""
    try:
        return Path(path).resolve().relative_to(item.root.resolve()).as_posix()
    except ValueError:
        return Path(path).name


def _gated(item: SourceItem, result: Example | Skipped, texts: list[str]) -> Example | Skipped | Failed:
    """Pass `result` on only if none of the item's DICOM identifiers occurs in its texts."""
    identifiers = identifiers_of_files(item.path(i) for i in range(len(item.files)))
    try:
        check_texts(texts, identifiers, exempt=[item.source_id, *item.files], where=f"item {item.key}")
    except PrivacyError as exc:
        return Failed(item.key, str(exc))
    return result
