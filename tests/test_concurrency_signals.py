"""Builds against each other and against the machine: concurrent builds into one --out (also from
separate PID namespaces, where every build is pid 1), signals and kill -9 with worker processes,
and a full disk. Each test is a short sample build (small --limit)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from medblink_build.output.folder import OutputLock, StagedOutput
from medblink_build.release.verify import verify_folder
from tests.conftest import run_cli
from tests.test_crash_safety import build_command

LOCKED = "another build is writing this output"


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-fp", "--mount-proc", "true"], capture_output=True)
    return probe.returncode == 0


# --- 1: concurrent builds ------------------------------------------------------------------------


def test_concurrent_builds_in_separate_pid_namespaces_leave_one_verified_output(
    xray_source: Path, tmp_path: Path
) -> None:
    if not _unshare_works():
        pytest.skip("needs `unshare -fp --mount-proc` (util-linux, root or user namespaces) to give builds pid 1")
    out = tmp_path / "out"
    procs = [
        subprocess.Popen(
            ["unshare", "-fp", "--mount-proc", *build_command(xray_source, out, seed, "--limit", "3")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2, 3)
    ]
    procs.append(
        subprocess.Popen(
            build_command(xray_source, out, 4, "--limit", "3"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    winners = [r for r in results if r[0] == 0]
    assert winners, results
    for code, _stdout, stderr in results:
        if code != 0:  # lost the race: one line naming the holder, nothing else
            assert "Traceback" not in stderr and LOCKED in stderr and "pid " in stderr, stderr
            assert len(stderr.strip().splitlines()) == 1, stderr
    report = verify_folder(out)
    assert report.ok, report.problems
    code, output = run_cli("verify", out)
    assert code == 0 and "OK" in output
    seed = json.loads((out / "manifest.json").read_text())["seed"]
    assert seed in (1, 2, 3, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging, old, work or lock left


def test_a_second_build_fails_at_once_naming_the_holder(xray_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with OutputLock(out):  # this test process holds the output, as a running build would
        proc = subprocess.run(build_command(xray_source, out, 1, "--limit", "2"), capture_output=True, text=True)
    assert proc.returncode != 0
    line = proc.stderr.strip()
    assert LOCKED in line and f"pid {os.getpid()} on host " in line and "\n" not in line
    assert not out.exists()


def test_leftovers_are_recovered_whatever_their_suffix_says(tmp_path: Path) -> None:
    """Recovery runs under the lock: a moved-aside output named after a live pid (our own) is a dead
    build's too, and is put back."""
    out = tmp_path / "out"
    old = tmp_path / f".out.old-{os.getpid()}"
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps({"format": "medblink-build-output", "v": 1}))
    (tmp_path / ".out.staging-1").mkdir()
    with pytest.raises(RuntimeError), StagedOutput(out):
        raise RuntimeError("stop")
    assert json.loads((out / "manifest.json").read_text())["v"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- 2: signals and orphan workers ---------------------------------------------------------------

SLOW = textwrap.dedent('''
    import time
    from medblink_build.recipes.orientation import Orientation

    class Slow(Orientation):
        """The orientation recipe at half a second per item, so a test can signal it mid-build."""
        name = "slow-orientation"

        def build(self, item, ctx):
            time.sleep(0.5)
            return super().build(item, ctx)
''')


def _session_processes(sid: int) -> list[str]:
    """Live (not zombie) processes of session `sid`: the build and everything it started."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(stat.parent.name)
    return found


def _slow_build(tmp_path: Path, source: Path, out: Path) -> subprocess.Popen[str]:
    recipes = tmp_path / "recipes"
    recipes.mkdir(exist_ok=True)
    (recipes / "slow.py").write_text(SLOW)
    command = build_command(source, out, 5, "--workers", "2", "--no-resume")
    command[4:5] = ["slow-orientation", "--recipes-dir", str(recipes)]
    # A session of its own: every process the build starts (forkserver, workers) is in it.
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_workers(proc: subprocess.Popen[str], count: int) -> None:
    deadline = time.monotonic() + 60
    while len(_session_processes(proc.pid)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_session_processes(proc.pid)) >= count, "the build did not start its workers"
    time.sleep(1.0)  # some items in flight


def _nothing_outlives(sid: int, seconds: float = 10.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while _session_processes(sid) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _session_processes(sid)
    for pid in left:  # never leave them to the next test
        os.kill(int(pid), signal.SIGKILL)
    return left


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to list the build's processes")
def test_sigterm_stops_a_build_with_workers_cleanly(xray_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = run_cli("recipe", "orientation", "--source", xray_source, "--out", out, "--limit", 2, "--quiet")
    assert code == 0, output
    before = (out / "manifest.json").read_bytes()
    proc = _slow_build(tmp_path, xray_source, out)
    _wait_for_workers(proc, 4)  # build, resource tracker, forkserver, workers
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)  # returns only once no process holds the pipes
    assert proc.returncode == 128 + signal.SIGTERM
    assert stderr.strip().splitlines() == [
        f"Error: interrupted by SIGTERM: {out} is left as it was; rerun the command to resume"
    ]
    assert _nothing_outlives(proc.pid) == []
    assert (out / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "recipes"]  # no staging, no lock


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to list the build's processes")
def test_no_process_of_the_build_outlives_a_kill_9(xray_source: Path, tmp_path: Path) -> None:
    proc = _slow_build(tmp_path, xray_source, tmp_path / "out")
    _wait_for_workers(proc, 4)
    proc.kill()
    proc.communicate(timeout=60)  # would hang while workers hold stdout (the `| tee` hang)
    assert _nothing_outlives(proc.pid) == []
    code, output = run_cli("recipe", "orientation", "--source", xray_source, "--out", tmp_path / "out", "--limit", 2)
    assert code == 0, output  # the next build recovers the dead one's leftovers


# --- 3: full disk and mount points ---------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 900 KB tmpfs: room for a one-row output, not for a full sample build with its work folder."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=900k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_is_one_line_and_leaves_the_previous_output(xray_source: Path, small_disk: Path) -> None:
    out = small_disk / "out"
    code, output = run_cli("recipe", "orientation", "--source", xray_source, "--out", out, "--limit", 1, "--quiet")
    assert code == 0, output
    before = (out / "manifest.json").read_bytes()
    proc = subprocess.run(build_command(xray_source, out, 3), capture_output=True, text=True)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        f"Error: {small_disk}: no space left on the device while writing the build; the unfinished output and "
        f"its work folder were removed and {out} is as it was"
    ]
    assert sorted(p.name for p in small_disk.iterdir()) == ["out"]  # no staging, work folder or lock
    assert (out / "manifest.json").read_bytes() == before and verify_folder(out).ok
    proc = subprocess.run(build_command(xray_source, out, 3, "--no-resume"), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr  # without a work folder it fits: nothing stale was left to block it
    assert json.loads((out / "manifest.json").read_text())["seed"] == 3 and verify_folder(out).ok


def test_out_on_a_mount_point_is_refused_before_the_build(xray_source: Path, small_disk: Path) -> None:
    code, output = run_cli("recipe", "orientation", "--source", xray_source, "--out", small_disk, "--quiet")
    assert code != 0 and f"{small_disk}: is a mount point" in output
    assert list(small_disk.iterdir()) == []  # nothing was built there (nor beside it)
