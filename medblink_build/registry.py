"""Finding recipes: the shipped ones, installed plugins, and folders given on the command line.

A recipe is referred to by a `RecipeRef` (where to import it from), which is what crosses into
worker processes; each worker imports the recipe itself. A plugin that fails to import is
reported by name and does not hide the others.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import pkgutil
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from .errors import RecipeError
from .recipe import Param, Recipe

BUILTIN_PACKAGE = "medblink_build.recipes"
ENTRY_POINT_GROUP = "medblink_build.recipes"


@dataclass(frozen=True)
class RecipeRef:
    """Where a recipe class lives: a module name, or a file path for --recipes-dir recipes."""

    name: str
    module: str
    qualname: str
    origin: str  # "builtin", "plugin <dist>", or the file path

    def load(self) -> type[Recipe]:
        if self.origin.endswith(".py"):
            module = _import_file(Path(self.origin))
        else:
            module = importlib.import_module(self.module)
        cls = getattr(module, self.qualname)
        return cls


def _import_file(path: Path):  # type: ignore[no-untyped-def]
    name = f"medblink_user_recipes.{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RecipeError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module


def _recipes_in(module: object) -> list[type[Recipe]]:
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Recipe) and obj is not Recipe and obj.__module__ == getattr(module, "__name__", None)
    ]


def _check(cls: type[Recipe], where: str) -> None:
    for attr in ("name", "version", "tasks"):
        if not getattr(cls, attr, None):
            raise RecipeError(f"{where}: recipe class {cls.__name__} lacks {attr!r}")


@dataclass
class Discovery:
    recipes: dict[str, RecipeRef]
    problems: list[str]
    clashes: dict[str, list[str]] = field(default_factory=dict)  # name -> every origin providing it
    configs: dict[str, str] = field(default_factory=dict)  # task config -> recipe name


def discover(recipes_dirs: tuple[Path, ...] = ()) -> Discovery:
    """All recipes by name, plus a line per plugin or file that could not be loaded."""
    found: dict[str, RecipeRef] = {}
    problems: list[str] = []
    clashes: dict[str, list[str]] = {}
    configs: dict[str, str] = {}

    def add(cls: type[Recipe], ref: RecipeRef) -> None:
        try:
            _check(cls, ref.origin)
        except RecipeError as exc:
            problems.append(str(exc))
            return
        if cls.name in found:
            problems.append(f"{ref.origin}: recipe name {cls.name!r} already provided by {found[cls.name].origin}")
            clashes.setdefault(cls.name, [found[cls.name].origin]).append(ref.origin)
            return
        found[cls.name] = RecipeRef(cls.name, ref.module, cls.__name__, ref.origin)
        for task in cls.tasks:
            configs.setdefault(task.task_id, cls.name)

    package = importlib.import_module(BUILTIN_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module_name = f"{BUILTIN_PACKAGE}.{info.name}"
        module = importlib.import_module(module_name)  # a broken built-in recipe is our bug: fail loudly
        for cls in _recipes_in(module):
            add(cls, RecipeRef(cls.name, module_name, cls.__name__, "builtin"))
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            obj = ep.load()
        except Exception as exc:
            problems.append(f"plugin {ep.name} ({ep.value}): failed to load: {type(exc).__name__}: {exc}")
            continue
        classes = [obj] if inspect.isclass(obj) else _recipes_in(obj)
        for cls in classes:
            dist = ep.dist.name if ep.dist else "?"
            add(cls, RecipeRef(cls.name, cls.__module__, cls.__name__, f"plugin {dist}"))
    for folder in recipes_dirs:
        if not folder.is_dir():
            problems.append(f"{folder}: recipes folder does not exist")
            continue
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            try:
                module = _import_file(path.resolve())
            except Exception as exc:
                problems.append(f"{path}: failed to load: {type(exc).__name__}: {exc}")
                continue
            for cls in _recipes_in(module):
                add(cls, RecipeRef(cls.name, module.__name__, cls.__name__, str(path.resolve())))
    return Discovery(found, problems, clashes, configs)


def find_recipe(name: str, recipes_dirs: tuple[Path, ...] = ()) -> RecipeRef:
    """The recipe called `name`; a config name, a near miss or a name two origins claim is an error
    that says what to type instead."""
    discovery = discover(recipes_dirs)
    if name in discovery.clashes:
        raise RecipeError(
            f"recipe name {name!r} is provided by {' and by '.join(discovery.clashes[name])}; "
            "rename the recipe outside the toolkit (its `name`) so that it is unique"
        )
    if name not in discovery.recipes:
        if name in discovery.configs:
            recipe = discovery.configs[name]
            raise RecipeError(f"{name!r} is a task config, made by recipe {recipe!r}: medblink-build recipe {recipe}")
        known = ", ".join(sorted(discovery.recipes)) or "none"
        close = difflib.get_close_matches(name, [*discovery.recipes, *discovery.configs], n=3, cutoff=0.6)
        suggestions = list(dict.fromkeys(discovery.configs.get(c, c) for c in close))
        guess = f"; did you mean {' or '.join(repr(c) for c in suggestions)}?" if suggestions else ""
        hint = f" ({'; '.join(discovery.problems)})" if discovery.problems else ""
        raise RecipeError(f"unknown recipe {name!r}{guess} available: {known}{hint}")
    return discovery.recipes[name]


def builtin_names() -> tuple[set[str], set[str]]:
    """(recipe names, task config names) of the recipes shipped with the toolkit."""
    discovery = discover()
    builtin = {n for n, ref in discovery.recipes.items() if ref.origin == "builtin"}
    return builtin, {c for c, n in discovery.configs.items() if n in builtin}


def parse_params(recipes: list[type[Recipe]], values: dict[str, str]) -> dict[str, Any]:
    """`--param` values converted to the types the recipes declare (`Recipe.params`).

    A name no recipe declares, or a value its type refuses, is an error listing the valid names."""
    declared: dict[str, Param] = {}
    for cls in recipes:
        for key, spec in cls.params.items():
            declared.setdefault(key, spec)
    valid = "; ".join(f"{k} ({p.type.__name__}: {p.help})" for k, p in sorted(declared.items())) or "none"
    names = ", ".join(sorted({cls.name for cls in recipes}))
    out: dict[str, Any] = {}
    for key, text in values.items():
        spec = declared.get(key)
        if spec is None:
            raise RecipeError(f"--param {key}: not a parameter of {names}; valid: {valid}")
        try:
            out[key] = _convert(spec.type, text)
        except ValueError:
            raise RecipeError(f"--param {key}={text!r}: not a {spec.type.__name__}; valid: {valid}") from None
    return out


def _convert(kind: type, text: str) -> Any:
    if kind is bool:
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(text)
        return lowered in ("true", "1", "yes")
    value = kind(text)
    if isinstance(value, float) and value != value:  # NaN is no parameter value
        raise ValueError(text)
    return value
