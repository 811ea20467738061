"""Measured `medblink-build build --release` runs over the real-size corpus, and their report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .system import CLK_TCK, TreeSampler, _cpu_jiffies

TARGET_SECONDS = 600.0  # the whole 1,429-question release in under 10 minutes on 2 cores


def _cli() -> list[str]:
    """The toolkit's command line as a user runs it (the venv's console script)."""
    script = Path(sys.executable).with_name("medblink-build")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from medblink_build.cli import main; sys.exit(main())"]


def run_build(release: Path, sources: Path, out: Path, workers: int, tasks: list[str] | None = None) -> dict[str, Any]:
    """One build in a fresh process; wall time, rows per config and the memory of its process tree."""
    for old in (out, out.with_name(f".{out.name}.work")):
        shutil.rmtree(old, ignore_errors=True)
    cmd = [*_cli(), "build", "--release", str(release), "--sources-root", str(sources), "--out", str(out)]
    # --allow-empty: a config that gets no row is a figure of the report, not a crash of the harness
    cmd += ["--workers", str(workers), "--allow-empty", *(["--tasks", ",".join(tasks)] if tasks else [])]
    busy0, _ = _cpu_jiffies()
    own0 = os.times()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = TreeSampler(proc.pid, pss_every=8)  # PSS every 2 s: smaps_rollup is costly
    sampler.start()
    output, _ = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.stop()
    busy1, _ = _cpu_jiffies()
    own1 = os.times()
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-5:])
        raise SystemExit(f"build failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    manifest = json.loads((out / "manifest.json").read_text())
    skipped: dict[str, int] = {}
    for s in manifest["skipped"]["items"]:
        skipped[s["reason"]] = skipped.get(s["reason"], 0) + 1
    tree_cpu = sum(sampler.cpu_s.values())
    harness_cpu = (own1.user - own0.user) + (own1.system - own0.system)
    peaks = sampler.hwm_kb
    result = {
        "workers": workers,
        "tasks": tasks,
        "seconds": wall,
        "rows": {c: info["rows"] for c, info in manifest["configs"].items()},
        "skipped": skipped,
        "cpu_s": tree_cpu,
        "background_cores": max(0.0, ((busy1 - busy0) / CLK_TCK - tree_cpu - harness_cpu) / wall),
        "main_peak_mb": peaks.get(proc.pid, 0) / 1024,
        "max_process_peak_mb": max(peaks.values(), default=0) / 1024,
        "sum_process_peaks_mb": sum(peaks.values()) / 1024,
        "tree_pss_peak_mb": sampler.peak_total_pss_kb / 1024,
        "processes": len(peaks),
        "output_mb": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20,
    }
    for old in (out, out.with_name(f".{out.name}.work")):
        shutil.rmtree(old, ignore_errors=True)
    return result


def _line(name: str, r: dict[str, Any], wanted: int) -> str:
    rows = sum(r["rows"].values())
    return (
        f"{name:<34}{r['workers']:>3}{rows:>7}{wanted:>7}{r['seconds']:>9.1f}{rows / r['seconds']:>8.2f}"
        f"{r['max_process_peak_mb']:>8.0f}{r['sum_process_peaks_mb']:>8.0f}{r['tree_pss_peak_mb']:>8.0f}"
        f"{r['processes']:>6}{r['background_cores']:>9.2f}{r['cpu_s']:>8.1f}"
    )


def report(results: dict[str, Any]) -> str:
    """The printed table: per worker count the whole release, then each config alone."""
    counts = results["counts"]
    head = (
        f"{'run':<34}{'w':>3}{'rows':>7}{'wanted':>7}{'seconds':>9}{'rows/s':>8}"
        f"{'max MB':>8}{'sum MB':>8}{'PSS MB':>8}{'procs':>6}{'bg cores':>9}{'cpu s':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in results["whole"]:
        lines.append(_line("whole release", r, sum(counts.values())))
    for r in results["per_task"]:
        (config,) = r["tasks"]
        lines.append(_line(f"  {config}", r, counts[config]))
    lines.append("-" * len(head))
    for r in results["whole"]:
        rows = sum(r["rows"].values())
        short = {c: n - r["rows"].get(c, 0) for c, n in counts.items() if r["rows"].get(c, 0) < n}
        if results["scale"] == 1.0 and not results["subset"]:
            verdict = "PASS" if r["seconds"] < TARGET_SECONDS and not short else "FAIL"
            lines.append(
                f"whole release, {r['workers']} worker(s): {r['seconds']:.0f} s for {rows} rows, "
                f"target < {TARGET_SECONDS:.0f} s with every count reached: {verdict}"
            )
        else:
            lines.append(
                f"whole release, {r['workers']} worker(s): {r['seconds']:.0f} s for {rows} rows at scale "
                f"{results['scale']:g}{' (a subset of the tasks)' if results['subset'] else ''}; target judged at "
                f"scale 1 only (x 1/scale: {r['seconds'] / results['scale']:.0f} s, info)"
            )
        if short:
            lines.append(f"  counts not reached: {short}")
        if r["skipped"]:
            lines.append(f"  skipped items: {r['skipped']}")
    busy = [r for r in results["whole"] + results["per_task"] if r["background_cores"] > 0.25]
    if busy:
        lines.append(f"WARNING: {len(busy)} run(s) shared the machine with other work (bg cores > 0.25)")
    return "\n".join(lines)
