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
    assert "orientation 1.0.0" in output
    assert "imaging_orientation_cxr" in output and "imaging_orientation_pelvic" in output


def test_sources_lists_and_shows_manifests(cli) -> None:  # type: ignore[no-untyped-def]
    code, output = cli("sources")
    assert code == 0 and "medblink-sample-xray" in output
    code, output = cli("sources", "show", "medblink-sample-xray")
    assert code == 0 and "CC0-1.0" in output
    code, output = cli("sources", "show", "nope")
    assert code != 0 and "unknown source 'nope'" in output
