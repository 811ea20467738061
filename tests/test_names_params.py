"""Recipe names and parameters: config names and near misses point at the recipe, parameters are typed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from medblink_build.errors import RecipeError
from medblink_build.recipe import Recipe
from medblink_build.registry import find_recipe, parse_params
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


def _one_line_error(args: tuple) -> str:
    code, output = run_cli(*args)
    lines = [line for line in output.splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1, output
    return lines[0]


def test_a_config_name_points_at_its_recipe() -> None:
    line = _one_line_error(("recipe", "relative_position"))
    assert "'relative_position' is a task config, made by recipe 'relative-position'" in line
    assert "medblink-build recipe relative-position" in line


def test_near_misses_are_suggested() -> None:
    assert "did you mean 'orientation'?" in _one_line_error(("recipe", "orientaton"))
    with pytest.raises(RecipeError, match="did you mean 'visual-depth'"):
        find_recipe("visual_depth")
    with pytest.raises(RecipeError, match="did you mean 'age'"):
        find_recipe("age_estimatio")


def test_unknown_and_ill_typed_params_are_refused_before_the_build(tmp_path: Path) -> None:
    out = tmp_path / "out"
    line = _one_line_error(("recipe", "histology-structure", "--param", "foo=bar", "--out", out))
    assert "--param foo: not a parameter of histology-structure; valid: mpp (float:" in line
    line = _one_line_error(("recipe", "histology-structure", "--param", "mpp=abc", "--out", out))
    assert "--param mpp='abc': not a float" in line and "valid: mpp" in line
    assert "valid: none" in _one_line_error(("recipe", "orientation", "--param", "mpp=0.5", "--out", out))
    assert not out.exists()  # refused before anything was built


def test_params_are_converted_to_the_declared_types() -> None:
    histology = find_recipe("histology-structure").load()
    assert parse_params([histology], {"mpp": "0.5"}) == {"mpp": 0.5}
    with pytest.raises(RecipeError, match="not a float"):
        parse_params([histology], {"mpp": "nan"})
    assert all(isinstance(spec.help, str) and spec.help for spec in histology.params.values())
    assert Recipe.params == {}


def test_new_refuses_a_built_in_name(tmp_path: Path) -> None:
    dirs = ("--dir", tmp_path / "r", "--manifests-dir", tmp_path / "m", "--tests-dir", tmp_path / "t")
    assert "clashes with a built-in recipe name" in _one_line_error(("new", "orientation", *dirs))
    assert "task config 'age_estimation'" in _one_line_error(("new", "age-estimation", *dirs))
    assert not (tmp_path / "r").exists()
    code, output = run_cli("new", "orientation-check", *dirs)
    assert code == 0, output


def test_a_recipes_dir_recipe_with_a_built_in_name_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    text = (ROOT / "docs" / "examples" / "slice_order.py").read_text()
    (folder / "mine.py").write_text(text.replace('name = "slice-order"', 'name = "orientation"'))
    line = _one_line_error(("recipe", "orientation", "--recipes-dir", folder, "--out", tmp_path / "out"))
    assert "recipe name 'orientation' is provided by builtin and by" in line and "mine.py" in line
    shutil.rmtree(folder)
