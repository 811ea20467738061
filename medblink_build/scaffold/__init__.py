"""`medblink-build new NAME`: a working recipe, a source manifest stub and a test, from templates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import MedblinkError

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Scaffold:
    recipe: Path
    manifest: Path
    test: Path


def names(name: str) -> dict[str, str]:
    if not _NAME.match(name):
        raise MedblinkError(f"recipe name {name!r} must be lower-case words joined by '-', e.g. 'slice-order'")
    snake = name.replace("-", "_")
    return {
        "name": name,
        "module": snake,
        "task_id": snake,
        "class_name": "".join(part.capitalize() for part in name.split("-")),
        "source_id": f"{name}-source",
    }


def _render(template: str, values: dict[str, str]) -> str:
    text = resources.files(__package__).joinpath(template).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def write_scaffold(name: str, recipes_dir: Path, manifests_dir: Path, tests_dir: Path) -> Scaffold:
    """Write the three files; refuses to overwrite any existing one, or a built-in recipe's name."""
    from ..registry import builtin_names

    values = names(name)
    recipes, configs = builtin_names()
    if name in recipes or values["task_id"] in configs:
        clash = "recipe name" if name in recipes else f"task config {values['task_id']!r}"
        raise MedblinkError(f"{name!r}: clashes with a built-in {clash}; choose another name")
    targets = Scaffold(
        recipe=recipes_dir / f"{values['module']}.py",
        manifest=manifests_dir / f"{values['source_id']}.toml",
        test=tests_dir / f"test_{values['module']}.py",
    )
    existing = [p for p in (targets.recipe, targets.manifest, targets.test) if p.exists()]
    if existing:
        raise MedblinkError(f"{existing[0]}: already exists; choose another name or remove it")
    values["recipes_dir"] = str(recipes_dir)
    for template, target in (
        ("recipe.py.tmpl", targets.recipe),
        ("manifest.toml.tmpl", targets.manifest),
        ("test.py.tmpl", targets.test),
    ):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_render(template, values), encoding="utf-8")
        except OSError as exc:
            raise MedblinkError(f"{target}: cannot write: {exc.strerror or exc}") from exc
    return targets
