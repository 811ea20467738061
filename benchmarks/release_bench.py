#!/usr/bin/env python3
"""The whole MedBLINK release at real sizes (issue 18, item 3): time and peak memory per task.

Writes (once, cached) a synthetic corpus with every task's source in its real layout and at real
sizes (2,000 px radiographs, 512 x 512 x 300 CT series, 512 x 512 x 500 TotalSegmentator subjects
with 117 masks, 40,000 x 40,000 pyramidal slides, 1,000 x 1,000 endoscopy frames with 16-bit
depth, 800 x 600 ultrasound, 2,900 x 1,300 dental panoramics) and enough items for the published
counts, then runs `medblink-build build --release` over it in fresh processes, with each worker
count: the whole release, then each config alone (`--tasks`), sampling the process tree.

    python benchmarks/release_bench.py --corpus ~/medblink-release-corpus            # full: 1,429 rows
    python benchmarks/release_bench.py --corpus /tmp/rb --scale 0.05 --workers 1     # smoke run
    python benchmarks/release_bench.py --corpus /tmp/rb --tasks relative_position --scale 0.1

See "Release at real sizes" in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import release_corpus as rc
from harness.corpus import byte_compile_toolkit
from harness.release_run import report, run_build
from harness.system import wait_for_quiet


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--corpus", type=Path, required=True, help="corpus cache folder (kept; reused when parameters match)"
    )
    p.add_argument("--scale", type=float, default=1.0, help="scales the counts (not the sizes), e.g. 0.05")
    p.add_argument("--workers", default="1,2", help="worker counts to measure, e.g. 1,2")
    p.add_argument("--tasks", default="", help="configs to build (comma-separated); default all nine")
    p.add_argument("--no-per-task", action="store_true", help="skip the per-config runs (whole release only)")
    p.add_argument("--no-whole", action="store_true", help="skip the whole-release runs (per config only)")
    p.add_argument("--write-only", action="store_true", help="write (or check) the corpus and the release, then stop")
    p.add_argument("--tiny", action="store_true", help="toy sizes (the same layouts): checks the command only")
    p.add_argument("--json", type=Path, default=None, help="also write every figure as JSON")
    p.add_argument("--quiet-wait", type=float, default=60.0, help="wait up to S s for a quiet machine per run")
    return p.parse_args(argv)


def _warm(root: Path) -> None:
    """Read every distinct file once: all runs read from the page cache (I/O is not measured)."""
    seen: set[int] = set()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.stat().st_ino not in seen:
            seen.add(p.stat().st_ino)
            with open(p, "rb") as f:
                while f.read(1 << 24):
                    pass


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    tasks = [t for t in args.tasks.split(",") if t] or None
    known = [t[0] for t in rc.TASKS]
    if tasks and set(tasks) - set(known):
        raise SystemExit(f"--tasks: unknown config(s) {sorted(set(tasks) - set(known))}; valid: {', '.join(known)}")
    workers = [int(w) for w in args.workers.split(",") if w]
    sizes = rc.TINY if args.tiny else rc.REAL
    counts = rc.scaled_counts(args.scale, tasks)
    root = args.corpus.resolve()
    sources = root / ("sources-tiny" if args.tiny else "sources")
    t0 = time.perf_counter()
    corpus = rc.write_corpus(sources, counts, sizes)
    corpus_s = time.perf_counter() - t0
    release = rc.release_toml(counts, root / f"release-{args.scale:g}{'-tiny' if args.tiny else ''}.toml")
    print(f"corpus ready in {corpus_s:.0f} s under {sources}; release definition {release}")
    for source, info in corpus.items():
        print(
            f"  {source:<28}{info['items']:>5} items {info['files']:>7} files {info['distinct_files']:>6} distinct "
            f"{info['disk_mb']:>9.0f} MB on disk  {info['size']}  (written in {info.get('write_s', '-')} s)"
        )
    if args.write_only:
        return 0
    _warm(sources)
    byte_compile_toolkit()
    out = root / "out"
    results: dict[str, object] = {
        "scale": args.scale,
        "subset": bool(tasks),
        "counts": counts,
        "corpus": corpus,
        "whole": [],
        "per_task": [],
    }
    for w in workers:
        if not args.no_whole:
            wait_for_quiet(args.quiet_wait)
            print(f"  whole release, {w} worker(s) ...", flush=True)
            results["whole"].append(run_build(release, sources, out, w))  # type: ignore[attr-defined]
        if not args.no_per_task:
            for config in counts:
                wait_for_quiet(args.quiet_wait)
                print(f"  {config}, {w} worker(s) ...", flush=True)
                results["per_task"].append(run_build(release, sources, out, w, [config]))  # type: ignore[attr-defined]
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
