"""The environment recorded with each run, and the printed report."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from .common import REPO

# =============================================================================== reporting


def _env() -> dict[str, Any]:
    import zlib
    from importlib.metadata import PackageNotFoundError, version

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        mem_gib = _status_kb_meminfo() / 1024 / 1024
    except OSError:
        pass
    libs = {}
    for dist in ("medblink-build", "numpy", "pillow", "pydicom", "pyarrow", "pylibjpeg", "scikit-image"):
        try:
            libs[dist] = version(dist)
        except PackageNotFoundError:
            libs[dist] = "absent"
    libs["zlib"] = zlib.ZLIB_RUNTIME_VERSION
    commit = ""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if dirty:
            commit += " (+ uncommitted changes)"
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": libs,
        "commit": commit,
    }


def _code_state() -> str:
    """A digest of the toolkit's code as it stands (HEAD plus uncommitted changes to tracked files)."""
    import hashlib

    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        ).stdout
        diff = subprocess.run(
            ["git", "-C", str(REPO), "diff", "HEAD", "--", "medblink_build", "recipes"],
            capture_output=True,
            check=False,
        ).stdout
    except OSError:
        return ""
    return hashlib.sha256(head.encode() + diff).hexdigest()


def _status_kb_meminfo() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def print_report(res: dict[str, Any]) -> None:
    env, args, runs = res["environment"], res["config"], res["runs"]
    line = "-" * 118
    print()
    print("=" * 118)
    print(f"medblink-build benchmark  {env['date']}  {env['cpu']} ({env['cores']} cores, {env['memory_gib']} GiB)")
    print(f"python {env['python']}  " + "  ".join(f"{k} {v}" for k, v in env["libraries"].items()))
    print(f"commit {env['commit']}")
    dx, ct = res["corpus"]["dx"], res["corpus"]["ct"]
    print(
        f"corpus: {dx['distinct_files']} distinct {args['size']}x{args['size']} 16-bit (12 stored) DX, uncompressed "
        f"explicit VR LE, {dx['file_bytes'] / 1e6:.1f} MB each, hard-linked under {args['items_small']} / "
        f"{args['items_large']} names; CT 512x512x{ct['slices']} ({ct['bytes'] / 1e6:.0f} MB)"
    )
    print(line)
    print(
        f"{'run':26s} {'items':>6s} {'seconds':>8s} {'items/s':>8s} {'s/item':>7s} {'main MB':>8s} {'max MB':>7s} "
        f"{'sum MB':>7s} {'PSS MB':>7s} {'procs':>5s} {'read/in':>7s} {'cpu s':>7s} {'bg cores':>8s}"
    )
    for name, r in runs.items():
        m = r.get("memory", {})
        amp = r.get("read_amplification")
        print(
            f"{name:26s} {r['items']:6d} {r['seconds']:8.2f} {r['items'] / r['seconds']:8.2f} "
            f"{r['seconds'] / max(r['items'], 1):7.3f} {m.get('main_peak_mb', 0):8.0f} "
            f"{m.get('max_process_peak_mb', 0):7.0f} {m.get('sum_process_peaks_mb', 0):7.0f} "
            f"{m.get('sampled_total_pss_mb', 0):7.0f} {m.get('processes', 0):5d} "
            f"{'' if amp is None else f'{amp:.2f}x':>7s} {r.get('cpu_self_s', 0):7.1f} "
            f"{r.get('background_cores', 0):8.2f}"
        )
    print(line)
    for t in res["targets"]:
        print(f"{t['name']:66s} {t['value']:>10s}  target {t['target']:>8s}  {_verdict(t['ok'])}")
    for note in res["notes"]:
        print(f"  {note}")
    micro = res.get("micro", {}).get("stages", {})
    if micro:
        print(line)
        labels = list(micro)
        print(
            f"stage micro-timings, ms (median of {res['micro'].get('reps')}; no profiler)"
            + "".join(f"  | {lab:>22s}" for lab in labels)
        )
        print(f"{'':58s}" + "".join(f"  | {'toolkit':>10s} {'floor':>11s}" for _ in labels))
        for i, row in enumerate(micro[labels[0]]):
            cells = ""
            for lab in labels:
                r = micro[lab][i]
                fl = "-" if r["floor_ms"] is None else f"{r['floor_ms']:.1f}"
                cells += f"  | {r['toolkit_ms']:10.1f} {fl:>11s}"
            print(f"  {row['stage']:56s}{cells}")
    for name, prof in res.get("profiles", {}).items():
        print(line)
        print(f"profile: {name} (cProfile, {prof['items']} items, 1 worker; times include cProfile overhead)")
        for st in prof["stages"]:
            print(
                f"  {st['stage']:50s} {st['cum_s']:8.2f} s {st['ms_per_item']:9.1f} ms/item "
                f"{100 * st['share']:6.1f} %  ({st['calls']} calls)"
            )
        print("  top functions by own time:")
        for t in prof["top_tottime"][:10]:
            print(f"    {100 * t['share']:5.1f} %  {t['tottime_s']:7.2f} s  {t['calls']:7d} calls  {t['function']}")
        print("  calls: " + ", ".join(f"{k} {v}" for k, v in prof["counts"].items()))
    print(line)
    gen = dx["seconds"] + ct["seconds"]
    print(f"harness total {res.get('harness_seconds', 0):.0f} s (corpus generation or cache check {gen:.0f} s)")
    print("command: " + res["command"])
    print("=" * 118)
