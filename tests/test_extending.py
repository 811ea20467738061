"""Extending: the scaffold, recipes from a folder, entry-point plugins, and the documented example."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from medblink_build.manifests import load_manifest_file
from tests.conftest import load_config, run_cli

ROOT = Path(__file__).resolve().parents[1]


def test_scaffold_runs_before_any_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = run_cli("new", "half-brightness")
    assert code == 0, output
    recipe = tmp_path / "recipes" / "half_brightness.py"
    assert "Bump `version`" in recipe.read_text()  # the comments say what each part is for
    manifest = load_manifest_file(tmp_path / "data_manifests" / "half-brightness-source.toml")
    assert manifest.tasks == ("half_brightness",)
    code, output = run_cli("recipe", "half-brightness", "--recipes-dir", "recipes", "--out", "out", "--workers", 2)
    assert code == 0, output
    rows = load_config(tmp_path / "out", "half_brightness")
    assert len(rows) > 5
    # The scaffolded test passes as written.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_scaffold_refuses_to_overwrite_and_bad_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli("new", "my-task")[0] == 0
    code, output = run_cli("new", "my-task")
    assert code != 0 and "already exists" in output
    code, output = run_cli("new", "My Task")
    assert code != 0 and "lower-case words" in output


def _write_plugin(site: Path, dist: str, module: str, body: str, entry: str) -> None:
    (site / module).mkdir(parents=True)
    (site / module / "__init__.py").write_text(textwrap.dedent(body))
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[medblink_build.recipes]\n{entry}\n")


def test_entry_point_plugins_list_and_build_and_a_broken_one_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    scaffold = (ROOT / "medblink_build" / "scaffold" / "recipe.py.tmpl").read_text()
    body = (
        scaffold.replace("{{name}}", "plugged")
        .replace("{{task_id}}", "plugged_task")
        .replace("{{class_name}}", "Plugged")
    )
    _write_plugin(site, "good-plugin", "good_plugin", body, "plugged = good_plugin:Plugged")
    _write_plugin(
        site, "bad-plugin", "bad_plugin", "raise ImportError('missing dependency xyz')\n", "broken = bad_plugin:Nothing"
    )
    monkeypatch.syspath_prepend(str(site))
    code, output = run_cli("list")
    assert code == 0
    assert "plugged 0.1.0  [plugin good-plugin]" in output
    assert "orientation" in output  # built-ins still listed
    assert "plugin broken (bad_plugin:Nothing): failed to load: ImportError: missing dependency xyz" in output
    code, output = run_cli("recipe", "plugged", "--out", tmp_path / "out", "--limit", 3)
    assert code == 0, output
    assert len(load_config(tmp_path / "out", "plugged_task")) == 3


def test_documented_example_builds_and_its_answers_follow_the_geometry(tmp_path: Path) -> None:
    code, output = run_cli(
        "recipe", "slice-order", "--recipes-dir", ROOT / "docs" / "examples", "--out", tmp_path / "out", "--seed", 5
    )
    assert code == 0, output
    rows = load_config(tmp_path / "out", "ct_slice_order")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    sample = Path(manifest["inputs"][0]["path"]).parts[0]
    assert sample.startswith("s")  # items are the generated CT subjects
    assert len(rows) >= 4
    answers = set()
    for row in rows:
        label = json.loads(row["label"])
        assert len(row["images"]) == 2
        z1, z2 = label["z_mm"]
        assert abs(z1 - z2) >= 30.0
        expected = "Image 1" if z1 > z2 else "Image 2"
        assert row["choices"]["AB".index(row["answer"])] == expected
        answers.add(row["answer"])
    card = (tmp_path / "out" / "README.md").read_text()
    assert "slice-order" in card and "LPS z coordinate" in card  # the card takes the recipe's description
