"""The command line: help for every command, list, sources."""

from __future__ import annotations

import pytest

from medblink_build.cli import main


def _commands(group, prefix=()):  # type: ignore[no-untyped-def]
    yield prefix
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize("path", list(_commands(main)), ids=lambda p: " ".join(p) or "main")
def test_every_command_has_help(path, cli) -> None:  # type: ignore[no-untyped-def]
    code, output = cli(*path, "--help")
    assert code == 0
    assert "Usage:" in output


def test_list_shows_recipes_and_their_configs(cli) -> None:  # type: ignore[no-untyped-def]
    code, output = cli("list")
    assert code == 0
    assert "orientation 1.1.0" in output
    assert "imaging_orientation_cxr" in output and "imaging_orientation_pelvic" in output


def test_sources_lists_and_shows_manifests(cli) -> None:  # type: ignore[no-untyped-def]
    code, output = cli("sources")
    assert code == 0 and "medblink-sample-xray" in output
    code, output = cli("sources", "show", "medblink-sample-xray")
    assert code == 0 and "CC0-1.0" in output
    code, output = cli("sources", "show", "nope")
    assert code != 0 and "unknown source 'nope'" in output


def test_recipe_params_reach_the_recipe(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from tests.conftest import run_cli

    code, output = run_cli("recipe", "histology-structure", "--out", tmp_path / "a", "--quiet")
    assert code == 0, output
    skipped = json.loads((tmp_path / "a" / "manifest.json").read_text())["skipped"]["by_reason"]
    assert skipped.get("no_mpp") == 1  # the sample slide that states no resolution
    code, output = run_cli("recipe", "histology-structure", "--out", tmp_path / "b", "--quiet", "--param", "mpp=0.5")
    assert code == 0, output
    skipped = json.loads((tmp_path / "b" / "manifest.json").read_text())["skipped"]["by_reason"]
    assert "no_mpp" not in skipped
    code, output = run_cli("recipe", "orientation", "--param", "novalue")
    assert code != 0 and "is not KEY=VALUE" in output
