"""Finding recipes: the shipped ones, installed plugins, and folders given on the command line.

A recipe is referred to by a `RecipeRef` (where to import it from), which is what crosses into
worker processes; each worker imports the recipe itself. A plugin that fails to import is
reported by name and does not hide the others.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from .errors import RecipeError
from .recipe import Recipe

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


def discover(recipes_dirs: tuple[Path, ...] = ()) -> Discovery:
    """All recipes by name, plus a line per plugin or file that could not be loaded."""
    found: dict[str, RecipeRef] = {}
    problems: list[str] = []

    def add(cls: type[Recipe], ref: RecipeRef) -> None:
        try:
            _check(cls, ref.origin)
        except RecipeError as exc:
            problems.append(str(exc))
            return
        if cls.name in found:
            problems.append(f"{ref.origin}: recipe name {cls.name!r} already provided by {found[cls.name].origin}")
            return
        found[cls.name] = RecipeRef(cls.name, ref.module, cls.__name__, ref.origin)

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
    return Discovery(found, problems)


def find_recipe(name: str, recipes_dirs: tuple[Path, ...] = ()) -> RecipeRef:
    discovery = discover(recipes_dirs)
    if name not in discovery.recipes:
        known = ", ".join(sorted(discovery.recipes)) or "none"
        hint = f" ({'; '.join(discovery.problems)})" if discovery.problems else ""
        raise RecipeError(f"unknown recipe {name!r}; available: {known}{hint}")
    return discovery.recipes[name]
