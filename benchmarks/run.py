#!/usr/bin/env python3
"""Throughput and memory harness for medblink-build (issue #8, items 4 and 5).

Makes a corpus in real formats at realistic sizes (2,000 x 2,000 16-bit DX chest DICOMs, one
512 x 512 x N CT series), runs the toolkit's recipes on it, runs a *floor* pipeline next to it
(the same libraries doing only decode -> window -> the same transforms -> resize -> PNG encode,
written as tight as they allow), and prints items/s, peak RSS, the toolkit/floor ratio, the
speedup of --workers 2, RSS growth from the small to the large corpus and a profile of the
toolkit's hot path. Every measured run is a fresh interpreter, so peak RSS is per run.

    python benchmarks/run.py                       # full run (~10 minutes on 2 cores)
    python benchmarks/run.py --quick               # smoke mode (~2 minutes)
    python benchmarks/run.py --corpus ~/bench-corpus --json results.json

See benchmarks/README.md for what each number means and the figures measured on the reference
machine. This file imports only the standard library at module level: it is also the entry point
of the measured child processes (`run.py _child KIND SPEC.json`), and of their worker processes,
which must not pay for imports the run itself does not make.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

DX_SOURCE = "medblink-sample-xray"  # built-in manifest: one item per image file, CC0
CT_SOURCE = "medblink-sample-ct-series"  # built-in manifest: one item per DICOM series
DX_TASK = "imaging_orientation_cxr"
MAX_SIDE = 1024  # recipes/orientation.py MAX_SIDE
PNG_LEVEL = 6  # medblink_build/encode.py PNG_COMPRESS_LEVEL
PERCENTILES = (0.5, 99.5)  # medblink_build/readers/display.py PERCENTILES
CT_WINDOW = (40.0, 400.0)  # soft_tissue, medblink_build/ct_windows.py
CT_CENTRAL_FRACTION = 0.6  # recipes/enhancement.py CENTRAL_FRACTION
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"

TARGET_RATIO = 1.25  # toolkit time / floor time, one worker
TARGET_SPEEDUP = 1.7  # --workers 2 over --workers 1, on 2 cores
TARGET_RSS_GROWTH = 0.10  # peak RSS growth from the small to the large corpus
ROWS_PER_ROW_GROUP = 64  # medblink_build/output/shards.py: rows buffered before each parquet write
BUSY_CORES = 0.25  # other processes' CPU use above which a run is flagged (and a short one repeated)

QUICK = {"items_small": 20, "items_large": 60, "ct_slices": 40, "distinct": 8, "profile_items": 10}
FULL = {"items_small": 100, "items_large": 1000, "ct_slices": 300, "distinct": 50, "profile_items": 40}

RESULT_MARK = "@@medblink-bench-result@@ "


# =============================================================================== /proc helpers


def _status_kb(pid: int | str, fields: tuple[str, ...] = ("VmHWM", "VmRSS")) -> dict[str, int]:
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in fields:
                out[key] = int(value.split()[0])
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _io_counters(pid: int | str = "self") -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(":")
                out[key] = int(value)
    except OSError:
        pass
    return out


CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, steal) jiffies of the whole machine, all cores, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already inside user)
    return v[0] + v[1] + v[2] + v[5] + v[6], (v[7] if len(v) > 7 else 0)


def _proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def wait_for_quiet(max_wait: float, threshold: float = 0.15) -> dict[str, float]:
    """Wait (up to max_wait s) until other processes use less than `threshold` cores over 1 s.

    The machine may be shared (tests run by other people): a busy core halves what --workers 2
    can show and inflates every time. Returns the last measured load and the time waited."""
    t0 = time.monotonic()
    announced = False
    while True:
        b0, _ = _cpu_jiffies()
        time.sleep(1.0)
        b1, _ = _cpu_jiffies()
        load = (b1 - b0) / CLK_TCK
        waited = time.monotonic() - t0
        if load < threshold or waited >= max_wait:
            if announced:
                print(f" {'settled' if load < threshold else 'still busy, measuring anyway'} "
                      f"({load:.2f} cores, waited {waited:.0f} s)", flush=True)
            return {"load_before": load, "waited_s": waited}
        if not announced:
            print(f"    waiting for background CPU load ({load:.2f} cores) to settle ...", end="", flush=True)
            announced = True


def _descendants(root: int) -> list[int]:
    """root and every process below it, from the ppid field of /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


class TreeSampler(threading.Thread):
    """Samples a process tree: per-process VmHWM (a kernel high-water mark, so sampling cannot miss
    a peak of a process still alive at the next sample) and the tree's total RSS and PSS."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.hwm_kb: dict[int, int] = {}
        self.cpu_s: dict[int, float] = {}
        self.peak_total_rss_kb = 0
        self.peak_total_pss_kb = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def sample(self) -> None:
        total_rss = total_pss = 0
        for pid in _descendants(self.root):
            try:
                st = _status_kb(pid)
            except (OSError, ValueError):
                continue
            if "VmHWM" not in st:  # a zombie
                continue
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), st["VmHWM"])
            try:
                self.cpu_s[pid] = _proc_cpu_s(pid)
            except (OSError, ValueError, IndexError):
                pass
            total_rss += st.get("VmRSS", 0)
            total_pss += _pss_kb(pid)
        self.peak_total_rss_kb = max(self.peak_total_rss_kb, total_rss)
        self.peak_total_pss_kb = max(self.peak_total_pss_kb, total_pss)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


# =============================================================================== corpus


def _dx_variant(i: int) -> dict[str, Any]:
    """Header choices of distinct image i: half carry a VOI window, one in ten is stored mirrored."""
    return {
        "window": (1900.0 + 40.0 * (i % 5), 3400.0 + 150.0 * (i % 3)) if i % 2 == 0 else None,
        "mirrored": i % 10 == 3,
    }


def _write_distinct_dx(job: tuple[str, int, int]) -> str:
    """Write distinct DX image i (a worker of the generation pool)."""
    import numpy as np

    from medblink_build.sources.dicom_writer import write_radiograph
    from medblink_build.sources.phantoms import chest_pa

    folder, i, size = job
    path = Path(folder) / f"chest_{i:04d}.dcm"
    if path.exists():
        return str(path)
    pixels = chest_pa(i, size)
    variant = _dx_variant(i)
    orientation = ("L", "F")
    if variant["mirrored"]:  # stored mirrored and the header says so: the toolkit flips it back
        pixels, orientation = np.ascontiguousarray(pixels[:, ::-1]), ("R", "F")
    tmp = path.with_name(path.name + ".partial")
    write_radiograph(
        tmp,
        pixels,
        uid_seed=f"medblink-bench/dx/{i}",
        transfer_syntax=EXPLICIT_VR_LE,
        bits_stored=12,
        patient_orientation=orientation,
        view_position="PA",
        body_part="CHEST",
        window=variant["window"],
        pixel_spacing_mm=0.2,
    )
    os.replace(tmp, path)
    return str(path)


def _marker_ok(folder: Path, params: dict[str, Any]) -> bool:
    try:
        return json.loads((folder / ".complete.json").read_text()) == params
    except (OSError, ValueError):
        return False


def _mark(folder: Path, params: dict[str, Any]) -> None:
    (folder / ".complete.json").write_text(json.dumps(params, sort_keys=True))


def make_dx_corpus(root: Path, size: int, distinct: int, counts: list[int]) -> dict[str, Any]:
    """`distinct` phantoms written once, then one folder per item count of hard links to them."""
    import multiprocessing

    base = root / f"dx-{size}px-{distinct}v"
    dist = base / "distinct"
    params = {"size": size, "distinct": distinct, "syntax": EXPLICIT_VR_LE, "version": 1}
    t0 = time.perf_counter()
    generated = False
    if not _marker_ok(dist, params):
        if dist.exists():
            shutil.rmtree(dist)
        dist.mkdir(parents=True)
        jobs = [(str(dist), i, size) for i in range(distinct)]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(min(2, os.cpu_count() or 1)) as pool:
            for n, _ in enumerate(pool.imap_unordered(_write_distinct_dx, jobs), 1):
                print(f"\r  writing distinct DX phantoms: {n}/{distinct}", end="", flush=True)
        print()
        _mark(dist, params)
        generated = True
    sources = {}
    for n in counts:
        folder = base / f"n{n}"
        nparams = {**params, "items": n}
        if not _marker_ok(folder, nparams):
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            linked = 0
            for j in range(n):
                src, dst = dist / f"chest_{j % distinct:04d}.dcm", folder / f"chest_{j:05d}.dcm"
                try:
                    os.link(src, dst)
                    linked += 1
                except OSError:
                    shutil.copyfile(src, dst)  # another file system: a real copy
            _mark(folder, nparams)
        sources[n] = folder
    distinct_bytes = sum(p.stat().st_size for p in dist.glob("*.dcm"))
    return {
        "folder": str(base),
        "sources": {n: str(p) for n, p in sources.items()},
        "distinct_files": distinct,
        "distinct_bytes": distinct_bytes,
        "file_bytes": distinct_bytes // max(distinct, 1),
        "generated": generated,
        "seconds": time.perf_counter() - t0,
    }


def make_ct_corpus(root: Path, slices: int, scratch: Path) -> dict[str, Any]:
    base = root / f"ct-512x512x{slices}"
    params = {"slices": slices, "shape": [slices, 512, 512], "syntax": EXPLICIT_VR_LE, "version": 1}
    t0 = time.perf_counter()
    generated = False
    if not _marker_ok(base, params):
        if base.exists():
            shutil.rmtree(base)
        base.mkdir(parents=True)
        print(f"  writing the 512 x 512 x {slices} CT series ...", flush=True)
        run_child("gen_ct", {"folder": str(base), "slices": slices}, scratch, sample=False)
        _mark(base, params)
        generated = True
    files = sorted((base / "series").glob("*/*.dcm"))
    return {
        "folder": str(base),
        "series": str(files[0].parent),
        "slices": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "generated": generated,
        "seconds": time.perf_counter() - t0,
    }


def _child_gen_ct(spec: dict[str, Any]) -> dict[str, Any]:
    from medblink_build.sources.phantoms_ct import abdomen
    from medblink_build.sources.volume_writer import write_ct_series

    folder, slices = Path(spec["folder"]), int(spec["slices"])
    # The same anatomy range whatever the slice count: 300 mm of abdomen, 0.7 mm pixels (358 mm FOV).
    spacing = (300.0 / slices, 0.7, 0.7)
    phantom = abdomen(0, shape=(slices, 512, 512), spacing=spacing, contrast=True)
    write_ct_series(
        folder / "series" / "case_000",
        phantom.hu,
        phantom.spacing,
        phantom.origin,
        uid_seed="medblink-bench/ct/0",
        transfer_syntax=EXPLICIT_VR_LE,
        series_description="ABD PORTAL VENOUS",
        contrast_agent="OMNIPAQUE 350",
    )
    # The manifest names this labels table (required); the series carries its evidence in its tags.
    (folder / "overview.csv").write_text("dicom_name,Contrast\n", encoding="utf-8")
    return {}


def warm_page_cache(paths: list[Path]) -> None:
    """Read every distinct input once so that neither the first measured run nor the floor pays
    for the disk: all runs then read from the page cache (I/O is not what is measured)."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


# =============================================================================== child runs


def run_child(kind: str, spec: dict[str, Any], scratch: Path, *, sample: bool = True) -> dict[str, Any]:
    """Run `kind` in a fresh interpreter; returns its result plus the sampled memory of its tree."""
    spec_path = Path(tempfile.mkstemp(prefix=f"{kind}-", suffix=".json", dir=scratch)[1])
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, str(Path(__file__).resolve()), "_child", kind, str(spec_path)]
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
        tree_cpu = result.get("cpu_process_s", 0.0) + sum(
            v for pid, v in sampler.cpu_s.items() if pid != proc.pid)
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
            self.points.append([self.done, round(time.perf_counter() - self.t0, 2),
                                round(st["VmRSS"] / 1024, 1), round(st["VmHWM"] / 1024, 1)])

    def close(self) -> None:
        pass


def _toolkit_build(spec: dict[str, Any], profile_to: str | None = None) -> dict[str, Any]:
    from medblink_build.pipeline import BuildOptions, run_recipe
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


# ------------------------------------------------------------------------------- the DX floor

_PIL_ROTATION = {"rot90cw": "ROTATE_270", "rot180": "ROTATE_180", "rot90ccw": "ROTATE_90"}  # PIL turns CCW


def _floor_lut(ds: Any, arr: Any) -> Any:
    """uint8 display LUT over 0..max(arr): the file's window if any, else the 0.5/99.5 percentile
    window of the image's histogram (one bincount), computed the way the toolkit defines them."""
    import numpy as np
    from pydicom.pixels import apply_windowing

    n = int(arr.max()) + 1
    values = np.arange(n, dtype=np.float64)
    if "WindowCenter" in ds and "WindowWidth" in ds:  # the corpus has no rescale and MONOCHROME2 only
        out = apply_windowing(values, ds)  # pydicom's VOI window, on n values rather than 4 M pixels
        lo, hi = 0.0, float(2 ** int(ds.BitsStored) - 1)
    else:
        cum = np.cumsum(np.bincount(arr.ravel(), minlength=n), dtype=np.float64)
        total = cum[-1]
        lo = float(np.searchsorted(cum, total * PERCENTILES[0] / 100.0, side="left"))
        hi = float(np.searchsorted(cum, total * PERCENTILES[1] / 100.0, side="left"))
        out = values
    if hi == lo:
        return np.zeros(n, dtype=np.uint8)
    return np.rint(np.clip((out - lo) / (hi - lo), 0.0, 1.0) * 255.0).astype(np.uint8)


def floor_dx(path: str, rotation: str) -> bytes:
    """decode -> LUT window -> (canonicalise) -> Lanczos resize to MAX_SIDE -> rotation -> PNG."""
    import io

    import numpy as np
    import pydicom
    from PIL import Image
    from pydicom.pixels import pixel_array

    ds = pydicom.dcmread(path)
    arr = pixel_array(ds)  # the toolkit's decoder
    pixels = np.take(_floor_lut(ds, arr), arr)
    orientation = [str(v) for v in ds.get("PatientOrientation") or ()]
    if orientation == ["R", "F"]:  # stored mirrored: flip to the standard display (as the toolkit does)
        pixels = pixels[:, ::-1]
    elif orientation not in (["L", "F"], []):
        raise ValueError(f"{path}: the floor only knows the corpus orientations, got {orientation}")
    image = Image.fromarray(np.ascontiguousarray(pixels))
    h, w = pixels.shape
    if max(h, w) > MAX_SIDE:
        scale = MAX_SIDE / max(h, w)
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    if rotation != "identity":
        image = image.transpose(getattr(Image.Transpose, _PIL_ROTATION[rotation]))
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()


def _floor_part(items: list[list[str]], out_path: str) -> list[tuple[str, int, int]]:
    """Run the floor over `items` ([key, path, rotation]) appending PNGs to one file; returns the index."""
    index = []
    offset = 0
    with open(out_path, "wb") as f:
        for key, path, rotation in items:
            png = floor_dx(path, rotation)
            f.write(png)
            index.append((key, offset, len(png)))
            offset += len(png)
    return index


def _child_floor(spec: dict[str, Any]) -> dict[str, Any]:
    import multiprocessing

    _preload()
    items = json.loads(Path(spec["items"]).read_text())
    workers = int(spec["workers"])
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    baseline_rss_kb = _status_kb("self")["VmRSS"]
    io0, cpu0 = _io_counters(), os.times()
    t0 = time.perf_counter()
    if workers == 1:
        parts = [(str(out / "part-0.bin"), _floor_part(items, str(out / "part-0.bin")))]
    else:  # static split, one output file per process: the least coordination two processes can have
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["numpy", "pydicom", "pydicom.pixels", "PIL.Image"])
        jobs = [(items[i::workers], str(out / f"part-{i}.bin")) for i in range(workers)]
        with ctx.Pool(workers) as pool:
            parts = list(zip([j[1] for j in jobs], pool.starmap(_floor_part, jobs), strict=True))
    seconds = time.perf_counter() - t0
    stats = _self_stats(io0, cpu0)
    result = {
        "seconds": seconds,
        "items": len(items),
        "baseline_rss_mb": baseline_rss_kb / 1024,
        "output_bytes": sum(Path(p).stat().st_size for p, _ in parts),
        **stats,
    }
    if spec.get("digests"):  # after the timer
        import hashlib

        digests = {}
        for part, index in parts:
            data = Path(part).read_bytes()
            for key, off, size in index:
                digests[key] = hashlib.sha256(data[off : off + size]).hexdigest()
        result["digests"] = digests
    return result


# ------------------------------------------------------------------------------- the CT floor


def floor_ct(series: Path) -> bytes:
    """Read a CT series with pydicom (each file once), order it along the slice normal, choose the
    slice as the enhancement recipe does (largest -100..300 HU area in the central 60 %), window it
    (W400/L40) through a LUT over the stored values, PNG-encode it. No volume is ever assembled."""
    import io

    import numpy as np
    import pydicom
    from PIL import Image
    from pydicom.pixels import pixel_array

    files = sorted(series.glob("*.dcm"))
    normal = None
    planes = []  # (position along the normal, soft-tissue area, path, intercept)
    for path in files:
        ds = pydicom.dcmread(path)
        if normal is None:
            iop = np.array([float(v) for v in ds.ImageOrientationPatient])
            if not np.allclose(iop, [1, 0, 0, 0, 1, 0]):
                raise ValueError(f"{path}: the floor only handles axial LPS-stored series")
            normal = np.cross(iop[:3], iop[3:])
        if float(ds.RescaleSlope) != 1.0:
            raise ValueError(f"{path}: the floor assumes RescaleSlope 1")
        intercept = int(float(ds.RescaleIntercept))
        position = float(np.dot([float(v) for v in ds.ImagePositionPatient], normal))
        stored = pixel_array(ds)
        area = int(np.count_nonzero((stored > -100 - intercept) & (stored < 300 - intercept)))
        planes.append((position, area, path, intercept))
    planes.sort(key=lambda p: p[0])
    depth = len(planes)
    lo = int(np.floor(depth * (1 - CT_CENTRAL_FRACTION) / 2))
    hi = max(lo + 1, int(np.ceil(depth * (1 + CT_CENTRAL_FRACTION) / 2)))
    k = lo + int(np.argmax([p[1] for p in planes[lo:hi]]))
    _, _, path, intercept = planes[k]
    stored = pixel_array(pydicom.dcmread(path))  # one more read of the one chosen file
    # LUT over every int16 stored value (indexed by its uint16 bit pattern), HU = stored + intercept,
    # mapped with the toolkit's float32 window formula.
    codes = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16)
    hu = (codes.astype(np.int32) + intercept).astype(np.float32)
    centre, width = CT_WINDOW
    unit = (hu - np.float32(centre - width / 2)) / np.float32(width)
    lut = np.rint(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)
    pixels = np.take(lut, stored.astype(np.int16, copy=False).view(np.uint16))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()


def _child_ct_floor(spec: dict[str, Any]) -> dict[str, Any]:
    import hashlib

    _preload()
    baseline_rss_kb = _status_kb("self")["VmRSS"]
    io0, cpu0 = _io_counters(), os.times()
    t0 = time.perf_counter()
    png = floor_ct(Path(spec["series"]))
    Path(spec["out"]).write_bytes(png)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "items": 1,
        "baseline_rss_mb": baseline_rss_kb / 1024,
        "digest": hashlib.sha256(png).hexdigest(),
        **_self_stats(io0, cpu0),
    }


# ------------------------------------------------------------------------------- stage micro-timings


def _child_micro(spec: dict[str, Any]) -> dict[str, Any]:
    """Each hot-path stage timed alone (median of `reps`), the toolkit's function next to the floor's,
    on one file with a VOI window in its header and one without (percentile window). No profiler."""
    import hashlib
    import io
    import statistics

    import numpy as np
    import pydicom
    from PIL import Image
    from pydicom.pixels import pixel_array

    from medblink_build.encode import png_bytes
    from medblink_build.readers import read_image
    from medblink_build.readers.dicom_image import read_dicom_header
    from medblink_build.readers.display import to_display_uint8
    from medblink_build.transforms import apply, dihedral, resize_to_fit

    reps = int(spec.get("reps", 5))

    def med(fn: Any) -> float:
        fn()
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return 1000 * statistics.median(times)

    out: dict[str, Any] = {}
    for label, path in spec["files"].items():
        data = Path(path).read_bytes()
        ds = read_dicom_header(path, data)
        arr = pixel_array(ds)
        disp, _info = to_display_uint8(arr, ds, path=path)
        rs = resize_to_fit(disp.shape, MAX_SIDE)
        small = apply(rs, disp) if rs is not None else disp
        rows: list[tuple[str, float, float | None]] = [
            ("read file (bytes)", med(lambda p=path: Path(p).read_bytes()), None),
            ("sha256 of the input", med(lambda d=data: hashlib.sha256(d).hexdigest()), None),
            ("dcmread (toolkit: from bytes; floor: from path)",
             med(lambda p=path, d=data: read_dicom_header(p, d)), med(lambda p=path: pydicom.dcmread(p))),
            ("pixel_array (same decoder)", med(lambda d=ds: pixel_array(d)), med(lambda d=ds: pixel_array(d))),
            ("window to uint8 (toolkit to_display_uint8; floor LUT)",
             med(lambda a=arr, d=ds, p=path: to_display_uint8(a, d, path=p)),
             med(lambda a=arr, d=ds: np.take(_floor_lut(d, a), a))),
            ("canonicalising flip, full size (mirrored files only)",
             med(lambda a=disp: apply(dihedral("flip_h"), a)),
             med(lambda a=disp: np.ascontiguousarray(a[:, ::-1]))),
            ("Lanczos resize to 1024", med(lambda a=disp, t=rs: apply(t, a)),
             med(lambda a=disp, t=rs: Image.fromarray(a).resize(tuple(t.params["size"]), Image.Resampling.LANCZOS))),
            ("rotation 90 of the 1024 image", med(lambda a=small: apply(dihedral("rot90cw"), a)),
             med(lambda a=small: Image.fromarray(a).transpose(Image.Transpose.ROTATE_270))),
            ("PNG encode, level 6", med(lambda a=small: png_bytes(a)),
             med(lambda a=small: _png(Image.fromarray(a), io))),
            ("read_image, whole (read+decode+window+geometry)", med(lambda p=path, d=data: read_image(p, d)), None),
        ]
        try:
            from medblink_build.privacy import identifiers_of_files

            rows.append(("privacy gate: identifiers_of_files (header re-read)",
                         med(lambda p=path: identifiers_of_files([Path(p)])), None))
        except ImportError:
            pass
        out[label] = [{"stage": n, "toolkit_ms": a, "floor_ms": b} for n, a, b in rows]
    return {"stages": out, "reps": reps}


def _png(image: Any, io: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()


CHILDREN = {
    "toolkit": _child_toolkit,
    "profile": _child_profile,
    "floor": _child_floor,
    "ct_floor": _child_ct_floor,
    "micro": _child_micro,
    "gen_ct": _child_gen_ct,
}


def child_main(kind: str, spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    result = CHILDREN[kind](spec)
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


# =============================================================================== profile summary

#: (label, path suffix, function) whose cumulative time is reported; indentation = nested inside.
DX_STAGES = [
    ("run_recipe (whole build, profiled)", "medblink_build/pipeline.py", "run_recipe"),
    ("  list + order items", "medblink_build/pipeline.py", "ordered_items"),
    ("  Recipe.build (per item)", "medblink_build/worker.py", "build_one"),
    ("    read input file + sha256", "medblink_build/recipe.py", "read_bytes"),
    ("      sha256 of the input", "medblink_build/hashing.py", "sha256_bytes"),
    ("    dcmread (all calls, incl. the privacy gate's)", "pydicom/filereader.py", "dcmread"),
    ("    pixel_array (decode)", "pydicom/pixels/utils.py", "pixel_array"),
    ("    window (LUT)", "medblink_build/readers/display.py", "to_display_uint8"),
    ("    dihedral transforms", "medblink_build/transforms.py", "_apply_dihedral"),
    ("    Lanczos resize", "medblink_build/transforms.py", "_apply_resize"),
    ("    PNG encode (level 6)", "medblink_build/encode.py", "png_bytes"),
    ("    privacy gate: re-read DICOM headers", "medblink_build/privacy.py", "identifiers_of_files"),
    ("    result cache: write JSON + base64 PNG", "medblink_build/result_cache.py", "put"),
    ("  DatasetWriter.add (rows, digests, parquet)", "medblink_build/output/dataset.py", "add"),
    ("    make_row (JSON + PNG sha256)", "medblink_build/output/rows.py", "make_row"),
    ("    row_digest (PNG sha256 again)", "medblink_build/output/rows.py", "row_digest"),
    ("  parquet: Table.from_pylist + write (zstd)", "medblink_build/output/shards.py", "_flush"),
    ("  DatasetWriter.finish (close, sha256, card)", "medblink_build/output/dataset.py", "finish"),
]

CT_STAGES = [
    ("run_recipe (whole build, profiled)", "medblink_build/pipeline.py", "run_recipe"),
    ("  list items: group_series (header reads)", "medblink_build/readers/volume_dicom.py", "group_series"),
    ("  ItemContext.read_volume", "medblink_build/recipe.py", "read_volume"),
    ("    read_bytes: read + sha256 (per file)", "medblink_build/recipe.py", "read_bytes"),
    ("    record(): sha256_file (per file)", "medblink_build/recipe.py", "record"),
    ("    read_dicom_series", "medblink_build/readers/volume_dicom.py", "read_dicom_series"),
    ("      _stack (decode every slice into the volume)", "medblink_build/readers/volume_dicom.py", "_stack"),
    ("      canonicalise", "medblink_build/readers/volume_canonical.py", "canonicalise"),
    ("  privacy gate: re-read DICOM headers", "medblink_build/privacy.py", "identifiers_of_files"),
    ("  representative_slice", "recipes/enhancement.py", "representative_slice"),
    ("  ct_window", "medblink_build/ct_windows.py", "_apply_ct_window"),
    ("  PNG encode", "medblink_build/encode.py", "png_bytes"),
    ("  result cache: write JSON + base64 PNG", "medblink_build/result_cache.py", "put"),
    ("  DatasetWriter.finish", "medblink_build/output/dataset.py", "finish"),
]

#: functions whose call counts show how often files are opened / parsed
COUNTED = [
    ("Recipe.build calls", "medblink_build/worker.py", "build_one"),
    ("rows written", "medblink_build/output/dataset.py", "add"),
    ("pydicom dcmread calls", "pydicom/filereader.py", "dcmread"),
    ("pixel_array calls", "pydicom/pixels/utils.py", "pixel_array"),
    ("sha256_file calls", "medblink_build/hashing.py", "sha256_file"),
    ("sha256_bytes calls", "medblink_build/hashing.py", "sha256_bytes"),
    ("Lanczos resize calls", "medblink_build/transforms.py", "_apply_resize"),
    ("png_bytes calls", "medblink_build/encode.py", "png_bytes"),
]


def _match(key: tuple[str, int, str], suffix: str, func: str) -> bool:
    filename, _, name = key
    if suffix == "~":
        return filename == "~" and name == func
    return name == func and filename.replace(os.sep, "/").endswith(suffix)


def _short(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    path = filename.replace(os.sep, "/")
    for marker in ("/site-packages/", str(REPO).replace(os.sep, "/") + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{line}({name})"


def summarise_profile(stats_path: str, stages: list[tuple[str, str, str]], items: int, top: int = 15) -> dict[str, Any]:
    import pstats

    st = pstats.Stats(stats_path).stats  # type: ignore[attr-defined]
    builds = sum(v[1] for k, v in st.items() if _match(k, "medblink_build/worker.py", "build_one"))
    items = builds or items
    total = max((v[3] for k, v in st.items() if _match(k, "medblink_build/pipeline.py", "run_recipe")), default=0.0)
    out_stages = []
    for label, suffix, func in stages:
        hits = [v for k, v in st.items() if _match(k, suffix, func)]
        cum = sum(v[3] for v in hits)
        calls = sum(v[1] for v in hits)
        out_stages.append({"stage": label, "cum_s": cum, "calls": calls, "ms_per_item": 1000 * cum / max(items, 1),
                           "share": cum / total if total else 0.0})
    ranked = sorted(st.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    top_rows = [{"function": _short(k), "tottime_s": v[2], "cumtime_s": v[3], "calls": v[1],
                 "share": v[2] / total if total else 0.0} for k, v in ranked]
    counts = {label: sum(v[1] for k, v in st.items() if _match(k, s, f)) for label, s, f in COUNTED}
    return {"total_s": total, "items": items, "stages": out_stages, "top_tottime": top_rows, "counts": counts}


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
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=False).stdout.strip()
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
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=False).stdout
        diff = subprocess.run(["git", "-C", str(REPO), "diff", "HEAD", "--", "medblink_build", "recipes"],
                              capture_output=True, check=False).stdout
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
    print(f"corpus: {dx['distinct_files']} distinct {args['size']}x{args['size']} 16-bit (12 stored) DX, uncompressed "
          f"explicit VR LE, {dx['file_bytes'] / 1e6:.1f} MB each, hard-linked under {args['items_small']} / "
          f"{args['items_large']} names; CT 512x512x{ct['slices']} ({ct['bytes'] / 1e6:.0f} MB)")
    print(line)
    print(f"{'run':26s} {'items':>6s} {'seconds':>8s} {'items/s':>8s} {'s/item':>7s} {'main MB':>8s} {'max MB':>7s} "
          f"{'sum MB':>7s} {'PSS MB':>7s} {'procs':>5s} {'read/in':>7s} {'cpu s':>7s} {'bg cores':>8s}")
    for name, r in runs.items():
        m = r.get("memory", {})
        amp = r.get("read_amplification")
        print(f"{name:26s} {r['items']:6d} {r['seconds']:8.2f} {r['items'] / r['seconds']:8.2f} "
              f"{r['seconds'] / max(r['items'], 1):7.3f} {m.get('main_peak_mb', 0):8.0f} "
              f"{m.get('max_process_peak_mb', 0):7.0f} {m.get('sum_process_peaks_mb', 0):7.0f} "
              f"{m.get('sampled_total_pss_mb', 0):7.0f} {m.get('processes', 0):5d} "
              f"{'' if amp is None else f'{amp:.2f}x':>7s} {r.get('cpu_self_s', 0):7.1f} "
              f"{r.get('background_cores', 0):8.2f}")
    print(line)
    for t in res["targets"]:
        print(f"{t['name']:66s} {t['value']:>10s}  target {t['target']:>8s}  {_verdict(t['ok'])}")
    for note in res["notes"]:
        print(f"  {note}")
    micro = res.get("micro", {}).get("stages", {})
    if micro:
        print(line)
        labels = list(micro)
        print(f"stage micro-timings, ms (median of {res['micro'].get('reps')}; no profiler)"
              + "".join(f"  | {lab:>22s}" for lab in labels))
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
            print(f"  {st['stage']:50s} {st['cum_s']:8.2f} s {st['ms_per_item']:9.1f} ms/item "
                  f"{100 * st['share']:6.1f} %  ({st['calls']} calls)")
        print("  top functions by own time:")
        for t in prof["top_tottime"][:10]:
            print(f"    {100 * t['share']:5.1f} %  {t['tottime_s']:7.2f} s  {t['calls']:7d} calls  {t['function']}")
        print("  calls: " + ", ".join(f"{k} {v}" for k, v in prof["counts"].items()))
    print(line)
    gen = dx["seconds"] + ct["seconds"]
    print(f"harness total {res.get('harness_seconds', 0):.0f} s (corpus generation or cache check {gen:.0f} s)")
    print("command: " + res["command"])
    print("=" * 118)


# =============================================================================== main


def _remove_output(spec: dict[str, Any]) -> None:
    """Delete a run's output folder and whatever the toolkit left beside it (work/staging folders)."""
    if "out" not in spec:
        return
    out = Path(spec["out"])
    for p in [out, *out.parent.glob(f".{out.name}.*")]:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _rotations(keys: list[str], seed: int) -> list[str]:
    """The rotation the orientation recipe draws for each item key (same seeded generator)."""
    from medblink_build.recipes.orientation import ROTATIONS
    from medblink_build.seeding import rng_for

    names = list(ROTATIONS)
    return [names[int(rng_for(seed, DX_TASK, key).integers(len(names)))] for key in keys]


def _floor_items(folder: Path, seed: int, scratch: Path) -> Path:
    files = sorted(folder.glob("*.dcm"))
    keys = [f"{DX_SOURCE}/{p.name}" for p in files]
    items = [[k, str(p), r] for k, p, r in zip(keys, files, _rotations(keys, seed), strict=True)]
    path = scratch / f"floor-items-{folder.name}.json"
    path.write_text(json.dumps(items))
    return path


def main(argv: list[str] | None = None) -> int:
    command = shlex.join([sys.executable, *sys.argv]) if argv is None else shlex.join(["run.py", *argv])
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        return child_main(argv[1], argv[2])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--items-small", type=int, help="items of the small corpus (default 100; quick 20)")
    ap.add_argument("--items-large", type=int, help="items of the large corpus (default 1000; quick 60)")
    ap.add_argument("--ct-slices", type=int, help="slices of the 512x512 CT series (default 300; quick 40)")
    ap.add_argument("--distinct", type=int, help="distinct DX files the items are hard links to (default 50; quick 8)")
    ap.add_argument("--size", type=int, default=2000, help="DX side in pixels (default 2000)")
    ap.add_argument("--profile-items", type=int, help="items in the profiled DX run (default 40; quick 10)")
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile runs")
    ap.add_argument("--floor-large", action="store_true", help="also run the 1-process floor on the large corpus")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each small-corpus measurement; the fastest is kept (default 1)")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="before each run, wait up to this many seconds for other processes to stop using\n"
                         "the CPU (shared machine); 0 disables (default 60)")
    ap.add_argument("--quiet-budget", type=float, default=300.0,
                    help="stop waiting for a quiet machine once this many seconds were spent on it (default 300)")
    ap.add_argument("--no-resume", action="store_true",
                    help="build with resume=False (no per-item result cache written beside the output);\n"
                         "default: the toolkit's default, as `medblink-build recipe` runs")
    ap.add_argument("--quick", action="store_true", help="smoke mode, about 2 minutes")
    ap.add_argument("--corpus", type=Path, help="corpus cache folder (kept; a rerun skips generation).\n"
                    "Default: a temporary folder, deleted at the end")
    ap.add_argument("--json", type=Path, help="also write every number to this JSON file")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    base = QUICK if args.quick else FULL
    for name, value in base.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.items_large < args.items_small:
        ap.error("--items-large must be at least --items-small")
    args.profile_items = min(args.profile_items, args.items_small)

    t_start = time.perf_counter()
    code_at_start = _code_state()
    environment = _env()
    scratch = Path(tempfile.mkdtemp(prefix="medblink-bench-"))
    corpus_root = args.corpus.expanduser().resolve() if args.corpus else scratch / "corpus"
    corpus_root.mkdir(parents=True, exist_ok=True)
    try:
        print(f"corpus: {corpus_root}")
        counts = sorted({args.items_small, args.items_large, args.profile_items})
        dx = make_dx_corpus(corpus_root, args.size, args.distinct, counts)
        ct = make_ct_corpus(corpus_root, args.ct_slices, scratch)
        warm_page_cache([*Path(dx["folder"], "distinct").glob("*.dcm"), *Path(ct["series"]).glob("*.dcm")])
        print(f"corpus ready in {time.perf_counter() - t_start:.0f} s")

        small, large = args.items_small, args.items_large
        resume = False if args.no_resume else None  # None: the toolkit's default
        src = {int(n): Path(p) for n, p in dx["sources"].items()}
        runs: dict[str, dict[str, Any]] = {}
        serial = itertools.count()
        waited = [0.0]  # seconds spent waiting for a quiet machine, over the whole harness

        def measure(name: str, kind: str, spec: dict[str, Any], repeat: int, input_bytes: int | None) -> None:
            best = None
            all_s: list[float] = []
            attempts = 0
            while attempts < repeat or (
                # a short run disturbed by other processes is measured once more (the fastest is kept)
                best is not None and best["background_cores"] > BUSY_CORES and best["seconds"] < 60
                and attempts < repeat + 1
            ):
                r = attempts
                attempts += 1
                if "out" in spec:  # a new output folder every run: nothing of an earlier run can be reused
                    spec["out"] = str(scratch / f"out-{next(serial)}")
                budget = min(args.quiet_wait, args.quiet_budget - waited[0])
                quiet = wait_for_quiet(budget) if budget > 0 else {}
                waited[0] += quiet.get("waited_s", 0.0)
                print(f"  {name}{f' (run {r + 1})' if attempts > 1 or repeat > 1 else ''} ...", end="", flush=True)
                res = run_child(kind, spec, scratch)
                res.update(quiet)
                print(f" {res['seconds']:.1f} s, background load {res['background_cores']:.2f} cores", flush=True)
                all_s.append(res["seconds"])
                if best is None or res["seconds"] < best["seconds"]:
                    best = res
                _remove_output(spec)
            assert best is not None
            best["all_seconds"] = all_s
            best["read_amplification"] = best["rchar"] / input_bytes if input_bytes else None
            runs[name] = best

        def toolkit(name: str, n: int, workers: int, repeat: int = 1, digests: bool = False) -> None:
            spec = {"recipe": "orientation", "source": f"{DX_SOURCE}={src[n]}", "out": str(scratch / "out-dx"),
                    "workers": workers, "seed": args.seed, "digests": digests, "resume": resume}
            measure(name, "toolkit", spec, repeat, n * dx["file_bytes"] if workers == 1 else None)

        def floor(name: str, n: int, workers: int, repeat: int = 1, digests: bool = False) -> None:
            spec = {"items": str(_floor_items(src[n], args.seed, scratch)), "out": str(scratch / "out-floor"),
                    "workers": workers, "digests": digests}
            measure(name, "floor", spec, repeat, n * dx["file_bytes"] if workers == 1 else None)

        f1, t1 = f"floor 1 proc  N={small}", f"toolkit w1    N={small}"
        f2, t2 = f"floor 2 procs N={small}", f"toolkit w2    N={small}"
        f1l, t1l, t2l = f"floor 1 proc  N={large}", f"toolkit w1    N={large}", f"toolkit w2    N={large}"
        ctf_name, ctt_name = "CT floor     (1 series)", "CT toolkit w1 (1 series)"
        print("measuring (each run in a fresh interpreter):")
        floor(f1, small, 1, args.repeat, digests=True)
        toolkit(t1, small, 1, args.repeat, digests=True)
        floor(f2, small, 2, args.repeat)
        toolkit(t2, small, 2, args.repeat)
        if large != small:
            if args.floor_large:
                floor(f1l, large, 1)
            toolkit(t1l, large, 1)
            toolkit(t2l, large, 2)
        measure(ctf_name, "ct_floor", {"series": ct["series"], "out": str(scratch / "ct.png")}, args.repeat,
                ct["bytes"])
        measure(ctt_name, "toolkit", {"recipe": "enhancement", "source": f"{CT_SOURCE}={ct['folder']}",
                                      "out": str(scratch / "out-ct"), "workers": 1, "seed": args.seed,
                                      "digests": True, "resume": resume}, args.repeat, ct["bytes"])

        print("  stage micro-timings (no profiler) ...", flush=True)
        distinct = Path(dx["folder"], "distinct")
        micro = run_child("micro", {"files": {"window in header": str(distinct / "chest_0000.dcm"),
                                              "percentile window": str(distinct / "chest_0001.dcm")}},
                          scratch, sample=False)
        profiles: dict[str, Any] = {}
        limit_check: dict[str, Any] = {}
        if not args.no_profile:
            print("  profiling the toolkit (cProfile, 1 worker) ...", flush=True)
            n_prof = args.profile_items
            for label, recipe, source, stages, items in (
                ("orientation DX", "orientation", f"{DX_SOURCE}={src[n_prof]}", DX_STAGES, n_prof),
                ("enhancement CT", "enhancement", f"{CT_SOURCE}={ct['folder']}", CT_STAGES, 1),
            ):
                stats = scratch / "run.pstats"
                spec = {"recipe": recipe, "source": source, "out": str(scratch / f"out-{next(serial)}"),
                        "workers": 1, "seed": args.seed, "stats": str(stats), "resume": resume}
                run_child("profile", spec, scratch, sample=False)
                profiles[label] = summarise_profile(str(stats), stages, items)
                _remove_output(spec)
            # --limit on a source that feeds only one of the recipe's two configs
            lim = max(1, n_prof // 4)
            stats = scratch / "limit.pstats"
            spec = {"recipe": "orientation", "source": f"{DX_SOURCE}={src[n_prof]}", "workers": 1,
                    "out": str(scratch / f"out-{next(serial)}"), "seed": args.seed, "limit": lim,
                    "stats": str(stats), "resume": resume}
            r = run_child("profile", spec, scratch, sample=False)
            c = summarise_profile(str(stats), DX_STAGES, n_prof)["counts"]
            limit_check = {"limit": lim, "items_in_source": n_prof, "rows": r["rows"],
                           "builds": c.get("Recipe.build calls", 0)}
            _remove_output(spec)

        res = derive(args, command, dx, ct, runs, micro, profiles, limit_check,
                     names=(f1, t1, f2, t2, f1l, t1l, t2l, ctf_name, ctt_name))
        res["environment"] = environment
        if _code_state() != code_at_start:
            res["notes"].append("WARNING the toolkit's code changed while the harness ran (commit or working tree): "
                                "runs may have measured different versions")
        res["harness_seconds"] = time.perf_counter() - t_start
        print_report(res)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(res, indent=1, default=str) + "\n")
            print(f"wrote {args.json}")
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def derive(args: argparse.Namespace, command: str, dx: dict[str, Any], ct: dict[str, Any],
           runs: dict[str, dict[str, Any]], micro: dict[str, Any], profiles: dict[str, Any],
           limit_check: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    f1, t1, f2, t2, f1l, t1l, t2l, ctf_name, ctt_name = names
    small, large = args.items_small, args.items_large

    def secs(name: str) -> float:
        return runs[name]["seconds"]

    targets: list[dict[str, Any]] = []
    notes: list[str] = []

    def target(name: str, value: str, goal: str, ok: bool | None) -> None:
        targets.append({"name": name, "value": value, "target": goal, "ok": ok})

    ratio = secs(t1) / secs(f1)
    target(f"toolkit time / floor time, 1 worker, N={small}", f"{ratio:.3f}x", f"<= {TARGET_RATIO}x",
           ratio <= TARGET_RATIO)
    if f1l in runs and t1l in runs:
        r_l = secs(t1l) / secs(f1l)
        target(f"toolkit time / floor time, 1 worker, N={large}", f"{r_l:.3f}x", f"<= {TARGET_RATIO}x",
               r_l <= TARGET_RATIO)
    elif t1l in runs:
        r_l = secs(t1l) / (secs(f1) * large / small)
        target(f"toolkit N={large} time / floor N={small} time x {large // small} (info)", f"{r_l:.3f}x", "-", None)
    if t1l in runs:
        sp = secs(t1l) / secs(t2l)
        target(f"speedup --workers 2 over 1, N={large}", f"{sp:.2f}x", f">= {TARGET_SPEEDUP}x", sp >= TARGET_SPEEDUP)
    sp_s = secs(t1) / secs(t2)
    target(f"speedup --workers 2 over 1, N={small}", f"{sp_s:.2f}x", f">= {TARGET_SPEEDUP}x", sp_s >= TARGET_SPEEDUP)
    target(f"  floor 2 procs over 1 proc, N={small} (what 2 cores give)", f"{secs(f1) / secs(f2):.2f}x", "-", None)
    if t1l in runs:
        for label, run_s, run_l, key in (
            ("w1, main process", t1, t1l, "main_peak_mb"),
            ("w2, sum over processes", t2, t2l, "sum_process_peaks_mb"),
            ("w2, max over processes", t2, t2l, "max_process_peak_mb"),
        ):
            a, b = runs[run_s]["memory"][key], runs[run_l]["memory"][key]
            growth = b / a - 1.0
            # below one parquet row group the small run never flushed one: not comparable
            comparable = small > ROWS_PER_ROW_GROUP
            target(f"peak RSS growth N={small} -> N={large} ({label})", f"{100 * growth:+.1f} %",
                   f"< {100 * TARGET_RSS_GROWTH:.0f} %", growth < TARGET_RSS_GROWTH if comparable else None)
        if small <= ROWS_PER_ROW_GROUP:
            notes.append(f"RSS growth not judged: N={small} is within one parquet row group ({ROWS_PER_ROW_GROUP} "
                         "rows), whose first flush sets the toolkit's peak; use --items-small > 64")
    ctf, ctt = runs[ctf_name], runs[ctt_name]
    target("CT: toolkit time / floor time (info)", f"{ctt['seconds'] / ctf['seconds']:.2f}x", "-", None)
    target("CT: toolkit peak RSS / floor peak RSS (info)",
           f"{ctt['memory']['main_peak_mb'] / ctf['memory']['main_peak_mb']:.2f}x", "-", None)

    # output identity: the floor must do the same work, so its PNGs must be the toolkit's
    tk, fl = runs[t1].pop("digests", {}), runs[f1].pop("digests", {})
    same = sum(1 for k, d in fl.items() if tk.get(k) == d)
    ct_digest = next(iter(ctt.pop("digests", {}).values()), None)
    identity = {"dx_identical": same, "dx_compared": len(fl), "dx_toolkit_rows": len(tk),
                "ct_identical": ct_digest == ctf.get("digest")}
    notes.append(f"floor output byte-identical to the toolkit's: {same}/{len(fl)} DX PNGs; CT slice PNG "
                 f"{'identical' if identity['ct_identical'] else 'DIFFERENT'}")
    notes.append(f"toolkit w1 N={small}: {runs[t1]['items'] / secs(t1):.2f} items/s, floor {small / secs(f1):.2f} "
                 f"items/s; toolkit overhead {1000 * (secs(t1) - secs(f1)) / small:+.1f} ms/item")
    busy = {n: r["background_cores"] for n, r in runs.items() if r.get("background_cores", 0) > BUSY_CORES}
    if busy:
        notes.append("WARNING other processes used the CPU during: " + ", ".join(
            f"{n.strip()} ({v:.2f} cores)" for n, v in busy.items()) + " - those numbers are pessimistic")
    steal = {n: r["steal_cores"] for n, r in runs.items() if r.get("steal_cores", 0) > 0.05}
    if steal:
        notes.append("WARNING hypervisor steal during: " + ", ".join(f"{n.strip()} ({v:.2f} cores)"
                                                                   for n, v in steal.items()))
    for name in (t1l, t2l):
        curve = runs.get(name, {}).get("rss_curve") or []
        if curve:
            picks = [pt for pt in curve if pt[0] in {curve[0][0], 60, 70, small, large // 2, curve[-1][0]}] or curve
            notes.append(f"{name.strip()}: main-process RSS MB after k results: " + ", ".join(
                f"k={int(pt[0])}: {pt[2]:.0f}" for pt in picks) + f" (peak {curve[-1][3]:.0f})")
    reused = {n: r["read_amplification"] for n, r in runs.items()
              if r.get("read_amplification") is not None and r["read_amplification"] < 0.95}
    if reused:
        notes.append("WARNING read less than the input (results reused from a cache?): " + ", ".join(
            f"{n.strip()} ({v:.2f}x)" for n, v in reused.items()))
    work = {n: r["work_folder_bytes"] for n, r in runs.items() if r.get("work_folder_bytes")}
    if work:
        notes.append("left beside the output after a successful build (work folder): " + ", ".join(
            f"{n.strip()} {v / 1e6:.0f} MB" for n, v in work.items()))
    if limit_check:
        notes.append(f"--limit {limit_check['limit']} on a {limit_check['items_in_source']}-item chest-only source: "
                     f"{limit_check['builds']} items built for {limit_check['rows']} rows kept")
    return {
        "command": command,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "environment": {},  # filled in by main, as it was when the harness started
        "corpus": {"dx": dx, "ct": ct},
        "runs": runs,
        "targets": targets,
        "identity": identity,
        "notes": notes,
        "micro": micro,
        "profiles": profiles,
        "limit_check": limit_check,
    }


if __name__ == "__main__":
    sys.exit(main())
