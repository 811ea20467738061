"""Release definitions (`data_manifests/releases/*.toml`): tasks, recipes, sources, counts, pins.

Parsed as data with tomllib. A definition names for each task the recipe that makes it, the
source manifests it reads, the published item count and optionally the pinned item keys.

A `selection` entry is an item key, or (a pinned regeneration, as `align` writes it) a table
`{key, params, question_id, question, answer}`: the recipe parameters that reproduce a published
row (`ItemContext.choice` names) and the published row's id and texts. A `[regeneration]` table
says what was aligned and lists the audit's label disagreements; builds copy it to the manifest.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import MedblinkError, SourceError

_SEMVER = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")


@dataclass(frozen=True)
class Pin:
    """One pinned item: its key, the recipe parameters to use, and the published row it reproduces."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)
    question_id: str = ""
    question: str = ""
    answer: str = ""

    def published(self) -> dict[str, str]:
        return {"question_id": self.question_id} if self.question_id else {}


@dataclass(frozen=True)
class ReleaseTask:
    id: str
    recipe: str
    count: int
    sources: tuple[str, ...]
    selection: tuple[str, ...] = ()
    pins: tuple[Pin, ...] = ()  # the selection's entries that carry parameters or a published id


@dataclass(frozen=True)
class ReleaseDefinition:
    name: str
    version: str
    seed: int
    description: str
    tasks: tuple[ReleaseTask, ...]
    origin: str = ""
    pinned: bool = field(default=False)
    regeneration: dict[str, Any] = field(default_factory=dict)  # the [regeneration] table, if any

    def recipes(self) -> list[str]:
        return list(dict.fromkeys(t.recipe for t in self.tasks))


def check_version(version: str) -> str:
    if not _SEMVER.match(version):
        raise SourceError(f"release version {version!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    return version


def parse_release(text: str, origin: str) -> ReleaseDefinition:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(f"{origin}: invalid TOML: {exc}") from exc
    tasks = []
    for i, t in enumerate(data.get("task", [])):
        try:
            pins = tuple(_pin(entry) for entry in t.get("selection", ()))
            task = ReleaseTask(
                id=str(t["id"]),
                recipe=str(t["recipe"]),
                count=int(t["count"]),
                sources=tuple(str(s) for s in t["sources"]),
                selection=tuple(p.key for p in pins),
                pins=tuple(p for p in pins if p.params or p.question_id),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError(f"{origin}: task[{i}] needs id, recipe, count and sources ({exc})") from None
        twice = [k for k, n in Counter(task.selection).items() if n > 1]
        if twice:
            raise SourceError(f"{origin}: task {task.id}: item {twice[0]!r} is selected twice")
        if task.count < 1:
            raise SourceError(f"{origin}: task {task.id}: count must be >= 1")
        tasks.append(task)
    if not tasks:
        raise SourceError(f"{origin}: no [[task]] entries")
    for key in ("name", "version"):
        if not isinstance(data.get(key), str):
            raise SourceError(f"{origin}: missing {key}")
    return ReleaseDefinition(
        name=data["name"],
        version=check_version(data["version"]),
        seed=int(data.get("seed", 0)),
        description=str(data.get("description", "")),
        tasks=tuple(tasks),
        origin=origin,
        pinned=all(t.selection for t in tasks),
        regeneration=dict(data.get("regeneration", {})),
    )


def _pin(entry: Any) -> Pin:
    if isinstance(entry, str):
        return Pin(entry)
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        raise ValueError(f"a selection entry is an item key or a table with a key, got {entry!r}")
    params = entry.get("params", {})
    if not isinstance(params, dict):
        raise ValueError(f"selection {entry['key']!r}: params must be a table")
    return Pin(
        entry["key"],
        dict(params),
        str(entry.get("question_id", "")),
        str(entry.get("question", "")),
        str(entry.get("answer", "")),
    )


@cache
def builtin_releases() -> dict[str, ReleaseDefinition]:
    folder = resources.files("medblink_build.data_manifests.releases")
    found = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            definition = parse_release(entry.read_text(encoding="utf-8"), f"data_manifests/releases/{entry.name}")
            found[entry.name.removesuffix(".toml")] = definition
    return found


def load_release(spec: str) -> ReleaseDefinition:
    """A built-in release by name (e.g. 'medblink-1.0') or a release TOML file path."""
    releases = builtin_releases()
    if spec in releases:
        return releases[spec]
    path = Path(spec)
    if path.is_file():
        return parse_release(path.read_text(encoding="utf-8"), str(path))
    raise SourceError(f"unknown release {spec!r}; built-in: {', '.join(sorted(releases))}, or give a TOML file")


def narrow_release(
    definition: ReleaseDefinition, tasks: Sequence[str] = (), limit: int | None = None, seed: int | None = None
) -> ReleaseDefinition:
    """`definition` restricted to some task configs or recipes (`build --tasks`), with at most
    `limit` items per task and another seed; unknown names are an error listing the valid ones."""
    kept = definition.tasks
    if tasks:
        configs = {t.id for t in definition.tasks}
        recipes = set(definition.recipes())
        unknown = [name for name in tasks if name not in configs | recipes]
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(configs | recipes), n=1)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            raise MedblinkError(
                f"--tasks {unknown[0]!r}: not a task config or recipe of release {definition.name}{guess}; "
                f"configs: {', '.join(sorted(configs))}; recipes: {', '.join(sorted(recipes))}"
            )
        kept = tuple(t for t in definition.tasks if t.id in tasks or t.recipe in tasks)
    if limit is not None:
        kept = tuple(replace(t, count=min(t.count, limit)) for t in kept)
    return replace(definition, tasks=kept, seed=definition.seed if seed is None else seed)
