"""How long `align` takes, and how well it matches, on two corpora (a script, not a test).

python benchmarks/align_bench.py sample [--work DIR]
    The full sample release: `samples write`, `build --release medblink-sample-1.0`, export,
    launder (JPEG at 512 px, new ids, shuffled, 10 answers replaced), `align` cold and warm
    (cached index), and the rebuild from the pins. Prints the per-task table and the times.

python benchmarks/align_bench.py large [--items 10000] [--published 500] [--size 64] [--workers 1]
    A generic folder of ITEMS small greyscale PNGs (distinct random blob images, chest,
    labels.csv) through the orientation recipe: a PUBLISHED-row copy drawn with seed 3 is
    laundered and aligned against the whole folder (4 rotation candidates per image). Prints the
    index build time, the matching time and the share of rows matched to the right item and
    rotation.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from medblink_build.cli import main  # noqa: E402
from tests.align_helpers import launder  # noqa: E402


def cli(*args: object) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"medblink-build {' '.join(map(str, args))} failed:\n{result.output}")
    return result.output


def timed(label: str, *args: object) -> tuple[float, str]:
    t0 = time.perf_counter()
    output = cli(*args)
    seconds = time.perf_counter() - t0
    print(f"{label:44s} {seconds:8.1f} s", flush=True)
    return seconds, output


def sample(work: Path) -> None:
    src, rel = work / "sources", work / "release"
    timed("samples write", "samples", "write", src)
    timed("build --release medblink-sample-1.0", "build", "--release", "medblink-sample-1.0", "--sources-root", src,
          "--out", rel, "--quiet")  # fmt: skip
    timed("export --format medblink", "export", rel, "--format", "medblink", "--to", work / "export")
    truth = launder(work / "export", work / "published" / "val.parquet", 10)
    args = ("--sources-root", src, "--release", "medblink-sample-1.0", "--out", work / "PINS.toml")
    _, table = timed("align (cold: index built)", "align", work / "published", *args, "--report", work / "A1.json")
    timed("align (warm: index from the cache)", "align", work / "published", *args, "--report", work / "A2.json")
    timed("build --release PINS.toml", "build", "--release", work / "PINS.toml", "--sources-root", src,
          "--out", work / "rebuilt", "--quiet")  # fmt: skip
    audit = json.loads((work / "A1.json").read_text())
    flagged = {r["question_id"] for r in audit["rows"] if r["label_agrees"] is False}
    replaced = {q for q, t in truth.items() if t["replaced"]}
    print(table)
    print(
        f"replaced answers flagged: {len(flagged & replaced)}/{len(replaced)}, false flags: {len(flagged - replaced)}"
    )


def _blobs(i: int, size: int) -> np.ndarray:
    """A distinct, non-symmetric greyscale image: a few Gaussian blobs placed by seed i."""
    rng = np.random.default_rng(i)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size))
    for _ in range(6):
        cx, cy, s, a = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.2), rng.uniform(-1, 1)
        img += a * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    img -= img.min()
    return (255 * img / max(img.max(), 1e-9)).astype(np.uint8)


def large(work: Path, items: int, published: int, size: int, workers: int) -> None:
    root = work / "sources" / "bench-xray"
    (root / "png").mkdir(parents=True, exist_ok=True)
    rows = ["path,anatomy,view"]
    t0 = time.perf_counter()
    for i in range(items):
        rel = f"png/img_{i:06d}.png"
        if not (root / rel).exists():
            Image.fromarray(_blobs(i, size)).save(root / rel)
        rows.append(f"{rel},chest,PA")
    (root / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "source.toml").write_text(
        'id = "bench-xray"\nname = "align benchmark images"\nlicense = "CC0-1.0"\naccess = "open"\n'
        'how_to_obtain = "Written by benchmarks/align_bench.py."\nmodality = "X-ray"\nanatomy = "chest"\n'
        'homepage = "https://example.org/align-bench"\ncitation = "none: synthetic"\nsynthetic = true\n',
        encoding="utf-8",
    )
    print(f"{'corpus: ' + str(items) + ' PNGs of ' + str(size) + ' px':44s} {time.perf_counter() - t0:8.1f} s")
    release = work / "bench.toml"
    release.write_text(
        'name = "align bench"\nversion = "1.0.0"\nseed = 0\n[[task]]\nid = "imaging_orientation_cxr"\n'
        f'recipe = "orientation"\ncount = {published}\nsources = ["bench-xray"]\n',
        encoding="utf-8",
    )
    timed(f"published copy: recipe --limit {published} --seed 3", "recipe", "orientation", "--source", root,
          "--limit", published, "--seed", 3, "--out", work / "published-build", "--quiet")  # fmt: skip
    cli("export", work / "published-build", "--format", "medblink", "--to", work / "export")
    truth = launder(work / "export", work / "published.parquet", 0)
    args = ("--sources-root", work / "sources", "--release", release, "--out", work / "PINS.toml",
            "--workers", workers)  # fmt: skip
    cold, table = timed("align (cold: index built)", "align", work / "published.parquet", *args, "--report",
                        work / "A1.json")  # fmt: skip
    warm, _ = timed("align (warm: index from the cache)", "align", work / "published.parquet", *args, "--report",
                    work / "A2.json")  # fmt: skip
    audit = json.loads((work / "A1.json").read_text())
    by_id = {}
    for path in sorted((work / "published-build" / "data").rglob("*.parquet")):
        import pyarrow.parquet as pq

        for row in pq.read_table(path, columns=["id", "provenance"]).to_pylist():
            p = json.loads(row["provenance"])
            by_id[row["id"]] = (p["example_key"], p["parameters"]["rotation"])
    right = sum(
        (r["item_key"], r.get("params", {}).get("rotation")) == by_id[truth[r["question_id"]]["original"]]
        for r in audit["rows"]
    )
    print(table)
    index = audit["summary"]["index"]
    print(
        f"{items} source images -> {index['candidates']} candidates; {len(audit['rows'])} published rows, "
        f"{right} matched to the right item and rotation; cold {cold:.1f} s ({1000 * cold / items:.1f} ms per "
        f"source image), warm {warm:.1f} s"
    )


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", choices=["sample", "large"])
    ap.add_argument("--work", type=Path, default=None, help="working folder (kept); default a temporary one")
    ap.add_argument("--items", type=int, default=10000)
    ap.add_argument("--published", type=int, default=500)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="align-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.corpus == "sample":
            sample(work)
        else:
            large(work, args.items, args.published, args.size, args.workers)


if __name__ == "__main__":
    main_()
