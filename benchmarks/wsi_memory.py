#!/usr/bin/env python3
"""Memory harness of the whole-slide reader (issue #5): peak RSS must not grow with slide size.

Writes tiled pyramidal TIFF slides of S x S pixels (default S = 10,000 and 50,000; 0.25 um/px,
levels 1, 4, 16, 64, 256 while wider than 256 px, 512-pixel tiles, deflate) with tifffile,
streaming one tile at a time from a handful of precomputed tiles, so the full image never exists
in memory (a 50,000 x 50,000 RGB slide is 7.5 GB of pixels, a few hundred MB on disk). A GeoJSON
annotation (two classes, left and right halves of the tissue) is written beside each slide.

Then, for each size, a fresh interpreter (so peak RSS is per run) measures three things:

- `regions`: open the slide, compute the tissue mask from the overview, read N regions of
  512 x 512 px at 1.0 um/px (level 1, no resampling) and N at 0.5 um/px (level 0 read at 2x, Lanczos);
- `recipe`: one item of the histology-structure recipe (tissue, tile screening, one tile, markers)
  on the slide and its GeoJSON;

and prints the peak RSS (ru_maxrss) above the interpreter's RSS after imports, per size, and the
growth from the smallest to the largest slide. OpenSlide keeps a 32 MiB tile cache per slide.

    python benchmarks/wsi_memory.py                          # 10k and 50k, slides in a temp folder
    python benchmarks/wsi_memory.py --dir ~/wsi-bench --keep # keep (and reuse) the slides
    python benchmarks/wsi_memory.py --sizes 20000 50000 80000 --regions 50

Writing the 50,000 x 50,000 slide takes about 35 s (deflate level 1 of ~10,000 level-0 tiles),
100,000 x 100,000 about 140 s; measuring takes seconds. Needs the package installed
(pip install -e '.[test]': tifffile).

Measured (2 cores, Python 3.11, openslide 4.0.1; peak RSS above the interpreter after imports):

    slide              RGB GiB   regions (40 reads)   recipe (1 item)
    10,000 x 10,000        0.3        89 MiB              29 MiB
    50,000 x 50,000        7.0        90 MiB              70 MiB
    100,000 x 100,000     27.9        88 MiB              57 MiB

The region reads are flat; the recipe grows from 10k to 50k while its overview (tissue mask and
tile screening, OVERVIEW_MAX_SIDE = 1024 px) and OpenSlide's 32 MiB tile cache fill up, then stays
flat: both are capped, whatever the slide size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TILE = 512
MPP = 0.25


def _tiles():  # type: ignore[no-untyped-def]
    import numpy as np

    rng = np.random.default_rng(0)
    glass = np.full((TILE, TILE, 3), 244, np.uint8)
    tissue = []
    for k in range(4):
        t = np.empty((TILE, TILE, 3), np.uint8)
        t[...] = (226, 150, 196) if k % 2 else (150, 90, 170)
        dots = rng.integers(0, TILE, size=(2500, 2))
        t[dots[:, 0], dots[:, 1]] = (70, 40, 120)
        tissue.append(t)
    return glass, tissue


def write_slide(path: Path, size: int) -> None:
    """A size x size pyramid: an elliptical tissue section on glass, streamed tile by tile."""
    from medblink_build.samples.tiff_writer import write_streamed_pyramid_tiff

    glass, tissue = _tiles()
    downsamples = [1]
    while size // (downsamples[-1] * 4) >= 256:
        downsamples.append(downsamples[-1] * 4)

    def tile_at(level: int, row: int, col: int):  # type: ignore[no-untyped-def]
        ds = downsamples[level]
        r, c = row * TILE, col * TILE
        # tile centre in level-0 coordinates, relative to the slide centre
        y, x = (r + TILE / 2) * ds / size - 0.5, (c + TILE / 2) * ds / size - 0.5
        inside = (x / 0.42) ** 2 + (y / 0.36) ** 2 < 1
        return tissue[(row + col) % len(tissue)] if inside else glass

    write_streamed_pyramid_tiff(path, (size, size), tile_at, downsamples, MPP, tile=TILE)
    half = size / 2
    features = []
    for name, xs in (("Tumor", (0.1 * size, half)), ("Stroma", (half, 0.9 * size))):
        ring = [[xs[0], 0.16 * size], [xs[1], 0.16 * size], [xs[1], 0.84 * size], [xs[0], 0.84 * size]]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "properties": {"classification": {"name": name}},
            }
        )
    path.with_suffix(".geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(mode: str, path: Path, regions: int) -> None:
    import numpy as np

    from medblink_build.readers.tissue import slide_tissue
    from medblink_build.readers.wsi import open_slide, read_region_at_mpp

    if mode == "recipe":
        from medblink_build.manifests import parse_manifest
        from medblink_build.recipe import ItemContext
        from medblink_build.recipes.histology_structure import HistologyStructure
        from medblink_build.sources.folder import FolderSource
    baseline = _maxrss_mib()
    start = time.perf_counter()
    if mode == "regions":
        rng = np.random.default_rng(1)
        with open_slide(path) as slide:
            tissue, _ = slide_tissue(slide, 32.0)
            w, h = slide.dimensions
            for mpp in (1.0, 0.5):
                for _ in range(regions):
                    x, y = (int(v) for v in rng.integers(0, [w - 4096, h - 4096]))
                    pixels, _ = read_region_at_mpp(slide, x, y, 512, 512, mpp)
                    assert pixels.shape == (512, 512, 3)
        detail = {"tissue_fraction": tissue.info["tissue_fraction"], "regions": 2 * regions}
    else:
        manifest = parse_manifest(
            f'id = "bench"\nname = "bench"\nlicense = "CC0-1.0"\naccess = "generated"\n'
            f'how_to_obtain = "benchmark"\nmodality = "histology"\nanatomy = "none"\n'
            f'[layout]\ninclude = ["{path.name}"]\ncompanions = ["{{stem}}.geojson"]\n',
            "bench.toml",
        )
        (item,) = list(FolderSource(path.parent, manifest).items())
        example = HistologyStructure().build(item, ItemContext(item, 0, {}))
        detail = {"label": example.label["structure"], "level": example.details["region"]["level"]}
    seconds = time.perf_counter() - start
    print(json.dumps({"baseline_mib": baseline, "peak_mib": _maxrss_mib(), "seconds": seconds, **detail}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--regions", type=int, default=20, help="regions read per resolution")
    parser.add_argument("--dir", type=Path, default=None, help="where slides are written (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the slides (they are reused when present)")
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="wsi-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for size in args.sizes:
            path = folder / f"slide_{size}.tif"
            if not path.exists():
                t = time.perf_counter()
                write_slide(path, size)
                print(f"wrote {path} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.0f} s")
            for mode in ("regions", "recipe"):
                out = subprocess.run(
                    [sys.executable, __file__, "_child", mode, str(path), str(args.regions)],
                    check=True,
                    capture_output=True,
                    text=True,
                    env={**os.environ, "PYTHONHASHSEED": "0"},
                )
                data = json.loads(out.stdout.strip().splitlines()[-1])
                data.update(size=size, mode=mode, rgb_gib=size * size * 3 / 2**30)
                results.append(data)
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"{'slide':>13} {'RGB GiB':>8} {'mode':>8} {'peak RSS':>9} {'above imports':>14} {'seconds':>8}")
    for r in results:
        print(
            f"{r['size']:>6} x {r['size']:<6}{r['rgb_gib']:>8.1f} {r['mode']:>8} {r['peak_mib']:>7.0f} M "
            f"{r['peak_mib'] - r['baseline_mib']:>12.0f} M {r['seconds']:>8.2f}"
        )
    for mode in ("regions", "recipe"):
        rows = [r for r in results if r["mode"] == mode]
        if len(rows) > 1:
            growth = (rows[-1]["peak_mib"] - rows[-1]["baseline_mib"]) - (rows[0]["peak_mib"] - rows[0]["baseline_mib"])
            sizes = f"{rows[0]['size']} to {rows[-1]['size']}"
            print(f"{mode}: growth of peak RSS above imports from {sizes}: {growth:+.0f} MiB")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(main())
