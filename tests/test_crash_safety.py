"""A build killed at any point leaves the previous complete output (or none), never a partial one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medblink_build.faults import CRASH_POINTS, ENV
from medblink_build.output.folder import StagedOutput
from medblink_build.release.verify import verify_folder
from tests.conftest import run_cli


def build_command(source: Path, out: Path, seed: int, *extra: str) -> list[str]:
    """The CLI command of an orientation build of the sample X-ray source (for subprocess tests)."""
    command = [sys.executable, "-m", "medblink_build.cli", "recipe", "orientation"]
    command += ["--source", f"medblink-sample-xray={source}", "--out", str(out), "--seed", str(seed), "--quiet"]
    return [*command, *extra]


def _build(source: Path, out: Path, seed: int, env_extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.Popen(build_command(source, out, seed), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _first_build(source: Path, out: Path) -> dict:
    code, output = run_cli(
        "recipe", "orientation", "--source", f"medblink-sample-xray={source}", "--out", out, "--seed", 1, "--quiet"
    )
    assert code == 0, output
    return json.loads((out / "manifest.json").read_text())


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_killed_build_keeps_the_previous_output(point: str, xray_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = _first_build(xray_source, out)
    proc = _build(xray_source, out, seed=2, env_extra={ENV: point})
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL

    if out.exists():  # the previous complete output, untouched
        assert json.loads((out / "manifest.json").read_text()) == before
        assert verify_folder(out).ok
    else:
        assert point == "between-renames"  # killed between moving the old output aside and the new in

    # The next build recovers: leftovers of the dead build are cleaned, and it completes.
    code, output = run_cli(
        "recipe", "orientation", "--source", f"medblink-sample-xray={xray_source}", "--out", out, "--seed", 2, "--quiet"
    )
    assert code == 0, output
    assert json.loads((out / "manifest.json").read_text())["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # work folder gone after success


def test_a_build_killed_between_renames_is_restored_by_the_next_run(xray_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _first_build(xray_source, out)
    before = (out / "manifest.json").read_bytes()
    proc = _build(xray_source, out, seed=2, env_extra={ENV: "between-renames"})
    proc.communicate(timeout=120)
    assert not out.exists()
    with pytest.raises(RuntimeError), StagedOutput(out):  # any next build first puts the old output back
        raise RuntimeError("stop before writing")
    assert (out / "manifest.json").read_bytes() == before


def test_interrupted_build_removes_its_staging_folder(xray_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _build(xray_source, out, seed=3)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert [p.name for p in tmp_path.iterdir() if "staging" in p.name] == []
    if out.exists():  # it may have finished before the signal: then it is complete
        assert verify_folder(out).ok


def test_rerun_after_a_kill_reuses_finished_items_and_matches_a_clean_build(xray_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _build(xray_source, out, seed=4, env_extra={ENV: "before-finish"})
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL and not out.exists()
    cached = sorted((tmp_path / ".out.work").rglob("*.json"))
    assert cached  # every finished item was kept

    code, output = run_cli(
        "recipe", "orientation", "--source", f"medblink-sample-xray={xray_source}", "--out", out, "--seed", 4, "--quiet"
    )
    assert code == 0, output
    assert not (tmp_path / ".out.work").exists()  # removed once the build completed

    clean = tmp_path / "clean"
    code, output = run_cli(
        "recipe",
        "orientation",
        "--source",
        f"medblink-sample-xray={xray_source}",
        "--out",
        clean,
        "--seed",
        4,
        "--quiet",
        "--no-resume",
    )
    assert code == 0, output
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(clean) for p in clean.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_bytes() == (clean / rel).read_bytes(), rel
