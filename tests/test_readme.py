"""The README's set-up and first steps run as written, in a venv that the first command's install gives."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def _blocks(text: str, lang: str) -> list[str]:
    return [b.strip() for b in re.findall(rf"^```{lang}\n(.*?)^```", text, re.S | re.M)]


def _requirement_names(specs: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].lower() for spec in specs}


def _installed_by(command: str) -> set[str]:
    """Distributions `pip install -e '.[extra,...]'` in `command` installs (this project's deps + extras)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    words = shlex.split(command.split("pip install", 1)[1].split("&&", 1)[0])
    (target,) = [w for w in words if w.startswith(".")]
    extras = re.findall(r"[\w-]+", target.partition("[")[2])
    names = _requirement_names(project["dependencies"])
    for extra in extras:
        names |= _requirement_names(project["optional-dependencies"][extra])
    return names


def test_exactly_two_setup_commands_one_builds_one_tests() -> None:
    setup = _blocks(_section("Set up"), "bash")
    assert len(setup) == 2 and all("\n" not in b for b in setup), setup
    assert "medblink-build build" in setup[0] and setup[1] == "bash .ci/run"
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -q -e '.[test]' && ruff check . && pytest -q" in ci  # the command the README describes


def test_the_first_command_installs_what_the_next_steps_import() -> None:
    installed = _installed_by(_blocks(_section("Set up"), "bash")[0])
    imported = set()
    for block in _blocks(README, "python"):
        imported |= {m.split(".")[0] for m in re.findall(r"^\s*(?:import|from) ([\w.]+)", block, re.M)}
    third_party = imported - set(sys.stdlib_module_names) - {"medblink_build"}
    assert "datasets" in installed
    assert third_party <= installed, third_party - installed


def _run(command: str, cwd: Path) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result.stdout


@pytest.mark.skipif(not hasattr(sys, "real_prefix") and sys.prefix == sys.base_prefix, reason="needs a venv")
def test_first_steps_run_as_written(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    first = _blocks(_section("Set up"), "bash")[0]
    after_install = first.split("pip install", 1)[1].split("&&", 1)[1].strip()  # the main job
    output = _run(after_install, tmp_path)
    last = output.strip().splitlines()[-1]
    pattern = r"output in medblink-release; load: (python -c .*); preview: (medblink-build preview .*)"
    match = re.fullmatch(pattern, last)
    assert match, last
    # The last line's commands work as printed.
    assert "num_rows" in _run(match.group(1), tmp_path)
    assert "index.html" in _run(match.group(2), tmp_path)
    steps = _section("First steps")
    for block in _blocks(steps, "python"):
        _run(f"python -c {shlex.quote(block)}", tmp_path)
    for block in _blocks(steps, "bash"):
        _run(block, tmp_path)
    assert (tmp_path / "medblink-release-preview" / "index.html").is_file()
