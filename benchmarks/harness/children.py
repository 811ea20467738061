"""Measured runs in fresh interpreters, and the toolkit build each toolkit child makes."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import RESULT_MARK, RUN_PY
from .system import CLK_TCK, TreeSampler, _cpu_jiffies, _io_counters, _status_kb

# =============================================================================== child runs


def run_child(kind: str, spec: dict[str, Any], scratch: Path, *, sample: bool = True) -> dict[str, Any]:
    """Run `kind` in a fresh interpreter; returns its result plus the sampled memory of its tree."""
    spec_path = Path(tempfile.mkstemp(prefix=f"{kind}-", suffix=".json", dir=scratch)[1])
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, str(RUN_PY), "_child", kind, str(spec_path)]
    busy0, steal0 = _cpu_jiffies()
    own0 = os.times()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=str(scratch))
    sampler = TreeSampler(proc.pid) if sample else None
    if sampler is not None:
        sampler.start()
    stdout, _ = proc.communicate()
    wall = time.perf_counter() - t0
    if sampler is not None:
        sampler.stop()
    busy1, steal1 = _cpu_jiffies()
    own1 = os.times()
    spec_path.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child {kind} failed with exit code {proc.returncode}: {shlex.join(cmd)}")
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if not lines:
        raise SystemExit(f"benchmark child {kind} printed no result:\n{stdout}")
    result = json.loads(lines[-1][len(RESULT_MARK) :])
    result["process_wall_s"] = wall
    if sampler is not None:
        # CPU used on the machine during the run by processes outside the measured tree (and not
        # this harness): other people's work on a shared machine. Steal: taken by the hypervisor.
        tree_cpu = result.get("cpu_process_s", 0.0) + sum(v for pid, v in sampler.cpu_s.items() if pid != proc.pid)
        harness_cpu = (own1.user - own0.user) + (own1.system - own0.system)
        background = (busy1 - busy0) / CLK_TCK - tree_cpu - harness_cpu
        result["background_cores"] = max(0.0, background / wall)
        result["steal_cores"] = (steal1 - steal0) / CLK_TCK / wall
        result["harness_sampler_cpu_s"] = harness_cpu
        others = {pid: kb for pid, kb in sampler.hwm_kb.items() if pid != proc.pid}
        # the main process's peak as it reported it at the end of the build (later verification
        # reads in the child must not count)
        main_kb = result.get("self_hwm_kb") or sampler.hwm_kb.get(proc.pid, 0)
        result["memory"] = {
            "main_peak_mb": main_kb / 1024,
            "max_process_peak_mb": max([main_kb, *others.values()]) / 1024,
            "sum_process_peaks_mb": (main_kb + sum(others.values())) / 1024,
            "sampled_total_rss_mb": sampler.peak_total_rss_kb / 1024,
            "sampled_total_pss_mb": sampler.peak_total_pss_kb / 1024,
            "processes": 1 + len(others),
            "other_process_peaks_mb": sorted((kb / 1024 for kb in others.values()), reverse=True),
        }
    return result


def _preload() -> None:
    """Imports both the toolkit and the floor need, made before any timer starts."""
    import numpy  # noqa: F401
    import pydicom
    import pydicom.pixels  # noqa: F401
    from PIL import Image  # noqa: F401


def _self_stats(io0: dict[str, int], cpu0: os.times_result) -> dict[str, Any]:
    io1 = _io_counters()
    cpu1 = os.times()
    return {
        "self_hwm_kb": _status_kb("self")["VmHWM"],
        "rchar": io1.get("rchar", 0) - io0.get("rchar", 0),
        "wchar": io1.get("wchar", 0) - io0.get("wchar", 0),
        "cpu_self_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
        "cpu_process_s": cpu1.user + cpu1.system,  # the whole life of the process so far
    }


class MemoryCurve:
    """A progress callback for run_recipe: the main process's RSS and peak RSS after every k results."""

    def __init__(self, points: int = 20) -> None:
        self.wanted = points
        self.every = 1
        self.done = 0
        self.t0 = time.perf_counter()
        self.points: list[list[float]] = []  # [results so far, seconds, VmRSS MB, VmHWM MB]

    def __call__(self, total: int | None) -> MemoryCurve:
        self.every = max(1, (total or 0) // self.wanted)
        self.t0 = time.perf_counter()
        return self

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.done % self.every == 0:
            st = _status_kb("self")
            self.points.append(
                [
                    self.done,
                    round(time.perf_counter() - self.t0, 2),
                    round(st["VmRSS"] / 1024, 1),
                    round(st["VmHWM"] / 1024, 1),
                ]
            )

    def close(self) -> None:
        pass


def _toolkit_build(spec: dict[str, Any], profile_to: str | None = None) -> dict[str, Any]:
    from medblink_build.build.pipeline import BuildOptions, run_recipe
    from medblink_build.registry import find_recipe
    from medblink_build.sources.resolve import resolve_source

    _preload()
    ref = find_recipe(spec["recipe"])
    sources = [resolve_source(spec["source"])]
    import dataclasses

    wanted = {"seed": spec["seed"], "limit": spec.get("limit"), "workers": spec["workers"], "executor": "process"}
    if spec.get("resume") is not None:
        wanted["resume"] = spec["resume"]
    known = {f.name for f in dataclasses.fields(BuildOptions)}
    options = BuildOptions(**{k: v for k, v in wanted.items() if k in known})
    baseline_rss_kb = _status_kb("self")["VmRSS"]
    io0, cpu0 = _io_counters(), os.times()
    profiler = None
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    curve = MemoryCurve()
    t0 = time.perf_counter()
    summary = run_recipe(ref, sources, Path(spec["out"]), options, progress=curve)
    seconds = time.perf_counter() - t0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_to)
    stats = _self_stats(io0, cpu0)
    out = Path(spec["out"])
    result = {
        "seconds": seconds,
        "items": sum(summary.counts.values()) + sum(summary.skipped.values()),
        "rows": sum(summary.counts.values()),
        "skipped": summary.skipped,
        "baseline_rss_mb": baseline_rss_kb / 1024,
        "build_options": {k: v for k, v in dataclasses.asdict(options).items() if isinstance(v, (int, str, bool))},
        "output_bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
        "rss_curve": curve.points,
        "work_folder_bytes": sum(p.stat().st_size for p in out.parent.glob(f".{out.name}.*/**/*") if p.is_file()),
        **stats,
    }
    if spec.get("digests"):  # after the timer: the PNG digests the toolkit recorded per example
        import pyarrow.parquet as pq

        digests = {}
        for part in sorted(out.glob("data/*/*.parquet")):
            for prov in pq.read_table(part, columns=["provenance"]).column("provenance").to_pylist():
                p = json.loads(prov)
                digests[p["example_key"]] = p["images"][0]["sha256"]
        result["digests"] = digests
    return result


def _child_toolkit(spec: dict[str, Any]) -> dict[str, Any]:
    return _toolkit_build(spec)


def _child_profile(spec: dict[str, Any]) -> dict[str, Any]:
    return _toolkit_build(spec, profile_to=spec["stats"])
