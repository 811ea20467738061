"""How much work a build does: --limit stops early, a rerun after a kill rebuilds nothing done."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medblink_build.faults import ENV
from medblink_build.samples.phantoms import chest_pa
from tests.conftest import run_cli

COUNTING = textwrap.dedent('''
    import os
    from medblink_build.recipes.orientation import Orientation

    class Counted(Orientation):
        """The orientation recipe, logging every item it builds (for tests of how much is built)."""
        name = "counted-orientation"

        def build(self, item, ctx):
            with open(os.environ["BUILD_LOG"], "a") as log:
                log.write(item.key + "\\n")
            return super().build(item, ctx)
''')


@pytest.fixture
def counting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "counted.py").write_text(COUNTING)
    log = tmp_path / "built.log"
    monkeypatch.setenv("BUILD_LOG", str(log))
    return recipes, log


def _built(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_limit_on_a_one_anatomy_source_stops_early(counting: tuple[Path, Path], tmp_path: Path) -> None:
    recipes, log = counting
    source = tmp_path / "chest-only"
    source.mkdir()
    rows = ["path,anatomy,view"]
    for i in range(12):
        Image.fromarray((chest_pa(i, 96) >> 4).astype(np.uint8)).save(source / f"c{i:02d}.png")
        rows.append(f"c{i:02d}.png,chest,PA")
    (source / "labels.csv").write_text("\n".join(rows) + "\n")
    code, output = run_cli(
        "recipe",
        "counted-orientation",
        "--recipes-dir",
        recipes,
        "--source",
        source,
        "--out",
        tmp_path / "out",
        "--limit",
        3,
    )
    assert code == 0, output
    assert "imaging_orientation_cxr 3, imaging_orientation_pelvic 0" in output
    assert len(_built(log)) == 3  # the pelvic config can never fill from this source: not waited for


def test_rerun_after_a_kill_builds_nothing_already_done(
    counting: tuple[Path, Path], xray_source: Path, tmp_path: Path
) -> None:
    recipes, log = counting
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "medblink_build.cli",
        "recipe",
        "counted-orientation",
        "--recipes-dir",
        str(recipes),
        "--source",
        f"medblink-sample-xray={xray_source}",
        "--out",
        str(out),
        "--quiet",
    ]
    proc = subprocess.run(command, env={**os.environ, ENV: "before-finish"}, capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    first = _built(log)
    assert first
    proc = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert _built(log) == first  # nothing rebuilt
    assert (out / "manifest.json").exists() and not (tmp_path / ".out.work").exists()
