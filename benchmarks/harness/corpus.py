"""The benchmark corpus in real formats: 2,000 x 2,000 DX DICOMs (hard-linked) and a CT series."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .children import run_child
from .common import EXPLICIT_VR_LE

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

    from medblink_build.samples.dicom_writer import write_radiograph
    from medblink_build.samples.phantoms import chest_pa

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


def ensure_written(base: Path, params: dict[str, Any], what: str, write: Callable[[], Any]) -> bool:
    """Write the corpus folder `base` with `write()` unless its marker says it holds `params`
    (a rerun with the same parameters writes nothing). True if it was written now."""
    if _marker_ok(base, params):
        return False
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    print(f"  writing {what} ...", flush=True)
    write()
    _mark(base, params)
    return True


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
    spec = {"folder": str(base), "slices": slices}
    generated = ensure_written(
        base, params, f"the 512 x 512 x {slices} CT series", lambda: run_child("gen_ct", spec, scratch, sample=False)
    )
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
    from medblink_build.samples.phantoms_ct import abdomen
    from medblink_build.samples.volume_writer import write_ct_series

    folder, slices = Path(spec["folder"]), int(spec["slices"])
    # The same anatomy range whatever the slice count: 300 mm of abdomen, 0.7 mm pixels (358 mm FOV).
    spacing = (300.0 / slices, 0.7, 0.7)
    phantom = abdomen(0, shape=(slices, 512, 512), spacing=spacing, contrast=True)
    for n in range(int(spec.get("series", 1))):  # the same anatomy, distinct UIDs: one series each
        write_ct_series(
            folder / "series" / f"case_{n:03d}",
            phantom.hu,
            phantom.spacing,
            phantom.origin,
            uid_seed=f"medblink-bench/ct/{n}",
            transfer_syntax=EXPLICIT_VR_LE,
            series_description="ABD PORTAL VENOUS",
            contrast_agent="OMNIPAQUE 350",
        )
    # The manifest names this labels table (required); the series carries its evidence in its tags.
    (folder / "overview.csv").write_text("dicom_name,Contrast\n", encoding="utf-8")
    return {}


def byte_compile_toolkit() -> None:
    """Compile the toolkit's modules (and its shipped recipes) to bytecode, as installing a package
    does. From a source checkout with PYTHONDONTWRITEBYTECODE set (this sandbox sets it), every
    build process would otherwise compile each module it imports inside the measured time, which
    the floor, using only installed libraries, never pays."""
    import compileall

    import medblink_build
    import medblink_build.recipes

    for package in (medblink_build, medblink_build.recipes):
        for folder in package.__path__:
            compileall.compile_dir(folder, quiet=1)


def warm_page_cache(paths: list[Path]) -> None:
    """Read every distinct input once so that neither the first measured run nor the floor pays
    for the disk: all runs then read from the page cache (I/O is not what is measured)."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass
