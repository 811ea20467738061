"""Imports point down the data flow: no cycles, and no stage reaches back up.

manifest -> source adapter (sources/) -> reader (readers/) -> recipe (recipes/, with tasks/) -> example
-> writer (output/), driven by build/; release/ and cli on top; samples/ generates inputs beside the
flow and may use readers, nothing above them. Every import counts,
including those inside functions (a lazy import is still a dependency). Recipes live in `recipes/`
and are installed as `medblink_build.recipes`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = "medblink_build"

#: stage -> what it must never import (itself or anything below it in the tree).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "readers": ("sources", "samples", "tasks", "recipe", "recipes", "registry", "build", "output", "release"),
    "sources": ("tasks", "recipes", "build", "output", "release"),
    "samples": ("sources", "tasks", "recipes", "build", "output", "release"),
    "tasks": ("sources", "samples", "recipes", "build", "output", "release"),
    "recipes": ("sources", "samples", "build", "output", "release"),
    "output": ("sources", "samples", "recipes", "build", "release"),
    "build": ("release",),
}


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for path in sorted((ROOT / PKG).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    for path in sorted((ROOT / "recipes").glob("*.py")):
        mods[f"{PKG}.recipes" + ("" if path.stem == "__init__" else f".{path.stem}")] = path
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.add(full if full in mods else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in mods and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, mods) for name, path in mods.items()}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_stage_imports_a_later_one(graph: dict[str, set[str]]) -> None:
    back = [
        f"{m} -> {t}"
        for m, targets in sorted(graph.items())
        for t in sorted(targets)
        if _stage(t) in FORBIDDEN.get(_stage(m), ()) or t == f"{PKG}.cli"
    ]
    assert not back, "imports reaching back up the data flow:\n" + "\n".join(back)


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    """Tarjan's strongly connected components: any component of two or more modules is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The rules above are only as good as the parser: a function-level relative import is seen."""
    mods = {f"{PKG}.readers.coco": tmp_path / "coco.py", f"{PKG}.readers.labelbox": tmp_path / "labelbox.py"}
    (tmp_path / "coco.py").write_text("def f():\n    from .labelbox import parse\n")
    assert _imports(f"{PKG}.readers.coco", tmp_path / "coco.py", mods) == {f"{PKG}.readers.labelbox"}
