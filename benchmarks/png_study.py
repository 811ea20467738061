"""PNG encoder study: time, size, byte-stability and losslessness of candidate encoders on the images
the toolkit really writes (issue 18, item 4).

    python benchmarks/png_study.py            # 3-5 minutes on 2 cores
    python benchmarks/png_study.py --quick    # ~25 s (fewer repeats, fewer candidates)
    python benchmarks/png_study.py --json results.json --dicom RG3_J2KR.dcm --dicom RG1_J2KI.dcm

The images are captured from real recipe runs: each recipe's call of `png_bytes` is intercepted, so
each study image is exactly an array the toolkit encodes (after its window, resize, markers and
crops). Sources: a 2,000 px chest radiograph (DX DICOM, the benchmark corpus's variant 0) through
`orientation`; a 512 x 512 x 40 CT series through `enhancement`; 1,000 x 1,000 endoscopy frames
through `visual-depth`; the built-in histology and ultrasound samples through `histology-structure`
and `wave-depth`. `--dicom PATH` adds a real radiograph (e.g. pydicom-data's RG3_J2KR.dcm), read
and resized by the toolkit's own functions. It is a script, not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the `harness` package beside this file

# ================================================================================ images


def _capture(recipe: str, source: str | None, out: Path, limit: int) -> list[np.ndarray]:
    """Arrays the recipe hands to `png_bytes`, in a serial in-process build of `limit` rows per config."""
    import importlib

    from medblink_build.build.pipeline import BuildOptions, run_recipe
    from medblink_build.registry import find_recipe
    from medblink_build.sources.resolve import resolve_source

    ref = find_recipe(recipe)
    module = importlib.import_module(ref.module)
    original = module.png_bytes
    seen: list[np.ndarray] = []

    def spy(pixels: np.ndarray) -> bytes:
        seen.append(np.array(pixels, copy=True))
        return original(pixels)

    module.png_bytes = spy
    try:
        sources = [resolve_source(source)] if source else []
        options = BuildOptions(seed=0, limit=limit, executor="serial", resume=False, allow_empty=True)
        run_recipe(ref, sources, out, options)
    finally:
        module.png_bytes = original
    return seen


def _largest(arrays: list[np.ndarray]) -> np.ndarray:
    if not arrays:
        raise SystemExit("a recipe run encoded no image: the study has nothing to measure")
    return max(arrays, key=lambda a: a.size)


def radiograph_image(path: Path) -> np.ndarray:
    """A real radiograph as orientation writes it: the toolkit's DICOM reader (window, MONOCHROME1
    inversion) and its resize of the longer side to 1,024 px (Lanczos)."""
    from medblink_build.readers import read_image
    from medblink_build.transforms import apply, resize_to_fit

    pixels = read_image(str(path), path.read_bytes()).pixels
    resize = resize_to_fit(pixels.shape, 1024)
    return apply(resize, pixels) if resize else pixels


def study_images(scratch: Path, ct_slices: int) -> dict[str, np.ndarray]:
    """One image per kind the toolkit writes, each captured from a real build."""
    from harness.corpus import _child_gen_ct, _write_distinct_dx

    from medblink_build.samples.sample_endoscopy import write_endoscopy_sample

    dx = scratch / "dx"
    dx.mkdir()
    _write_distinct_dx((str(dx), 0, 2000))  # variant 0: VOI window in the header, like most real DX
    ct = scratch / "ct"
    _child_gen_ct({"folder": str(ct), "slices": ct_slices})
    endo = write_endoscopy_sample(scratch / "endo", width=1000, height=1000, frames=2)
    runs = {
        "DX chest 1024": ("orientation", f"medblink-sample-xray={dx}"),
        "CT soft tissue 512": ("enhancement", f"medblink-sample-ct-series={ct}"),
        "endoscopy 1000": ("visual-depth", f"medblink-sample-endoscopy={endo}"),
        "histology tile": ("histology-structure", None),
        "ultrasound + markers": ("wave-depth", None),
    }
    images = {}
    for name, (recipe, source) in runs.items():
        images[name] = _largest(_capture(recipe, source, scratch / f"out-{recipe}", limit=1))
    return images


# ============================================================================ candidates

Encoder = Callable[[np.ndarray], bytes]
Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE, Z_FIXED = 1, 2, 3, 4  # zlib strategies (zlib.h)


def _pillow(level: int | None = None, **options: Any) -> Encoder:
    from PIL import Image

    def encode(a: np.ndarray) -> bytes:
        buf = io.BytesIO()
        kwargs = dict(options) if level is None else {"compress_level": level, **options}
        Image.fromarray(a).save(buf, format="PNG", **kwargs)
        return buf.getvalue()

    return encode


def _chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def _redeflated(compress: Callable[[bytes], bytes]) -> Encoder:
    """Pillow's filtered scanlines (its per-row adaptive filter, written with stored deflate blocks at
    level 0), inflated and deflated again by another library into a standard PNG. Only the study
    does this: it shows what the deflate alone is worth, with the filter held fixed."""
    stored = _pillow(0)

    def encode(a: np.ndarray) -> bytes:
        png = stored(a)
        pos, head, idat = 8, b"", []
        while pos < len(png):
            n = int.from_bytes(png[pos : pos + 4], "big")
            kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + n]
            if kind == b"IHDR":
                head = data
            elif kind == b"IDAT":
                idat.append(data)
            pos += 12 + n
        scanlines = zlib.decompress(b"".join(idat))
        return png[:8] + _chunk(b"IHDR", head) + _chunk(b"IDAT", compress(scanlines)) + _chunk(b"IEND", b"")

    return encode


def candidates(quick: bool) -> dict[str, Encoder]:
    """Every encoder the study measures; a library that is not installed is left out (and said so)."""
    from medblink_build.encode import png_bytes

    out: dict[str, Encoder] = {"toolkit png_bytes (as checked out)": png_bytes}
    out["pillow default (level 6, Z_FILTERED)"] = _pillow()
    for level in (1,) if quick else range(1, 10):
        out[f"pillow level {level}"] = _pillow(level)
    if not quick:
        out["pillow optimize=True"] = _pillow(optimize=True)
        out["pillow level 6 Z_DEFAULT_STRATEGY"] = _pillow(6, compress_type=0)
        out["pillow level 6 Z_HUFFMAN_ONLY"] = _pillow(6, compress_type=Z_HUFFMAN_ONLY)
        out["pillow level 1 Z_RLE"] = _pillow(1, compress_type=Z_RLE)
        out["pillow level 9 Z_RLE"] = _pillow(9, compress_type=Z_RLE)
    out["pillow level 6 Z_RLE"] = _pillow(6, compress_type=Z_RLE)
    try:
        import imagecodecs as ic
    except ImportError:
        print("  (imagecodecs not installed: its candidates are left out)")
    else:
        flt, st = ic.PNG.FILTER, ic.PNG.STRATEGY
        for level in () if quick else (1, 6):
            out[f"imagecodecs png (libpng) level {level}"] = lambda a, lv=level: ic.png_encode(a, level=lv)
        out["imagecodecs png (libpng) level 6 RLE"] = lambda a: ic.png_encode(a, level=6, strategy=st.RLE)
        if not quick:
            for name in ("SUB", "UP", "PAETH"):
                f = getattr(flt, name)
                out[f"imagecodecs png level 6 RLE filter {name}"] = lambda a, f=f: ic.png_encode(
                    a, level=6, strategy=st.RLE, filter=f
                )
            out["imagecodecs png level 1 RLE filter SUB (OpenCV fast)"] = lambda a: ic.png_encode(
                a, level=1, strategy=st.RLE, filter=flt.SUB
            )
            for level in (1, 6):
                out[f"imagecodecs spng level {level}"] = lambda a, lv=level: ic.spng_encode(a, level=lv)
        for level in (3,) if quick else (1, 3, 6, 9):
            out[f"pillow filter + zlib-ng {level}"] = _redeflated(lambda s, lv=level: ic.zlibng_encode(s, level=lv))
        for level in (1, 6) if quick else (1, 3, 6, 9, 12):
            out[f"pillow filter + libdeflate {level}"] = _redeflated(lambda s, lv=level: ic.deflate_encode(s, level=lv))
    try:
        import cv2
    except ImportError:
        print("  (opencv-python-headless not installed: cv2.imencode is left out)")
    else:

        def _cv2(a: np.ndarray, level: int, strategy: int = 0) -> bytes:
            bgr = a if a.ndim == 2 else np.ascontiguousarray(a[..., ::-1])
            params = [cv2.IMWRITE_PNG_COMPRESSION, level, cv2.IMWRITE_PNG_STRATEGY, strategy]
            return cv2.imencode(".png", bgr, params)[1].tobytes()

        for level in () if quick else (1, 3, 6, 9):
            out[f"cv2.imencode level {level}"] = lambda a, lv=level: _cv2(a, lv)
        out["cv2.imencode level 6 RLE"] = lambda a: _cv2(a, 6, cv2.IMWRITE_PNG_STRATEGY_RLE)
    if not quick:
        try:
            import png as pypng
        except ImportError:
            print("  (pypng not installed: left out)")
        else:

            def _pypng(a: np.ndarray) -> bytes:
                h, w = a.shape[:2]
                planes = 1 if a.ndim == 2 else a.shape[2]
                buf = io.BytesIO()
                pypng.Writer(w, h, greyscale=planes == 1, bitdepth=8, compression=6).write(
                    buf, a.reshape(h, w * planes)
                )
                return buf.getvalue()

            out["pypng level 6 (pure Python, no filter)"] = _pypng
    return out


# ============================================================================ measuring


def _decoded(png: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        im.load()
        return np.asarray(im)


def measure(images: dict[str, np.ndarray], encoders: dict[str, Encoder], repeats: int) -> list[dict[str, Any]]:
    """Per candidate and image: median time, size, same bytes twice, lossless through Pillow's decoder."""
    rows = []
    for name, encode in encoders.items():
        for kind, a in images.items():
            first = encode(a)
            times = []
            same = True
            for _ in range(repeats):
                t0 = time.perf_counter()
                again = encode(a)
                times.append(time.perf_counter() - t0)
                same = same and again == first
            back = _decoded(first)
            rows.append(
                {
                    "candidate": name,
                    "image": kind,
                    "ms": 1000 * statistics.median(times),
                    "min_ms": 1000 * min(times),
                    "bytes": len(first),
                    "sha256": hashlib.sha256(first).hexdigest(),
                    "stable_in_process": same,
                    "lossless": back.shape == a.shape and bool(np.array_equal(back, a)),
                }
            )
    return rows


def _digests_child(images_npz: Path, quick: bool) -> dict[str, str]:
    """sha256 of every candidate's output computed in a fresh interpreter (byte-stability across processes)."""
    cmd = [sys.executable, __file__, "_digests", str(images_npz)] + (["--quick"] if quick else [])
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _digest_key(candidate: str, image: str) -> str:
    return f"{candidate} | {image}"


def _child_main(images_npz: str, quick: bool) -> int:
    with np.load(images_npz) as data:
        images = {k: data[k] for k in data.files}
    encoders = candidates(quick)
    out = {_digest_key(n, k): hashlib.sha256(e(a)).hexdigest() for n, e in encoders.items() for k, a in images.items()}
    print(json.dumps(out))
    return 0


# ============================================================================ report


def environment() -> dict[str, Any]:
    """Library versions and, for zlib, the library really loaded (a wheel may link the system's)."""
    import PIL
    from PIL import features

    _pillow(6)(np.zeros((4, 4), np.uint8))  # make Pillow's zlib be loaded before reading the maps
    maps = Path("/proc/self/maps").read_text() if Path("/proc/self/maps").exists() else ""
    loaded = sorted({ln.split()[-1] for ln in maps.splitlines() if "libz" in ln.rsplit("/", 1)[-1]})
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "pillow zlib (runtime, features.version)": features.version("zlib"),
        "python zlib (runtime)": zlib.ZLIB_RUNTIME_VERSION,
        "libz loaded (/proc/self/maps)": loaded,
        "cpu": next((ln.split(":", 1)[1].strip() for ln in _cpuinfo() if ln.startswith("model name")), "?"),
        "cores": os.cpu_count(),
    }
    try:
        import imagecodecs as ic

        v = ic.version(dict)
        wanted = ("imagecodecs", "zlib", "zlib_ng", "libdeflate", "libpng", "libspng")
        env["imagecodecs"] = {k: v.get(k) for k in wanted}
    except ImportError:
        env["imagecodecs"] = "absent"
    try:
        import cv2

        env["opencv"] = cv2.__version__
    except ImportError:
        env["opencv"] = "absent"
    try:
        import png as pypng

        env["pypng"] = pypng.__version__
    except ImportError:
        env["pypng"] = "absent"
    return env


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ", 3)[0]
    except OSError:
        return "?"


#: Which study image stands for each recipe's images, for the release-weighted estimate.
STANDS_FOR = {
    "orientation": "DX chest 1024",
    "age": "DX chest 1024",
    "morphology-count": "DX chest 1024",
    "enhancement": "CT soft tissue 512",
    "relative-position": "CT soft tissue 512",
    "visual-depth": "endoscopy 1000",
    "histology-structure": "histology tile",
    "wave-depth": "ultrasound + markers",
}


def release_weights(release: str = "medblink-1.0") -> dict[str, int]:
    """Questions of the published release per study image (one image per question assumed)."""
    import tomllib

    path = Path(__file__).resolve().parents[1] / "data_manifests" / "releases" / f"{release}.toml"
    weights: dict[str, int] = {}
    for task in tomllib.loads(path.read_text(encoding="utf-8")).get("task", []):
        kind = STANDS_FOR.get(task.get("recipe", ""))
        if kind:
            weights[kind] = weights.get(kind, 0) + int(task.get("count", 0))
    return weights


def print_report(res: dict[str, Any]) -> None:
    images = list(res["images"])
    rows = {(r["candidate"], r["image"]): r for r in res["rows"]}
    names = list(dict.fromkeys(r["candidate"] for r in res["rows"]))
    ref = "pillow default (level 6, Z_FILTERED)"
    print("\nenvironment:")
    for k, v in res["environment"].items():
        print(f"  {k}: {v}")
    print(f"  load average (1 min) before / after: {res['load_before']} / {res['load_after']}")
    print(f"  repeats per measurement: {res['repeats']} (median)\n")
    for kind, shape in res["images"].items():
        print(f"  image {kind}: {shape}")
    short = [k.split(" (")[0] for k in images]
    head = f"{'candidate':<46}" + "".join(f"{s[:18]:>20}" for s in short)
    head += f"{'total ms':>10}{'total KB':>10}{'KB vs ref':>10}  stable lossless"
    print("\nms / KB per image (median time; size of the PNG); ref = " + ref)
    print(head)
    ref_kb = sum(rows[(ref, k)]["bytes"] for k in images) / 1024
    for name in names:
        cells = [rows[(name, k)] for k in images]
        line = f"{name[:46]:<46}" + "".join(f"{c['ms']:>10.1f} /{c['bytes'] / 1024:>7.0f}" for c in cells)
        tot_ms, tot_kb = sum(c["ms"] for c in cells), sum(c["bytes"] for c in cells) / 1024
        stable = all(c["stable_in_process"] and c["stable_across_processes"] for c in cells)
        lossless = all(c["lossless"] for c in cells)
        line += f"{tot_ms:>10.1f}{tot_kb:>10.0f}{100 * (tot_kb / ref_kb - 1):>+9.1f}%  {'yes' if stable else 'NO':>6} "
        print(line + f"{'yes' if lossless else 'NO':>8}")
    weights = {k: n for k, n in release_weights().items() if k in images}
    if weights:
        print(
            "\nrelease-weighted estimate (medblink-1.0 counts: "
            + ", ".join(f"{n} x {k}" for k, n in weights.items())
            + "): encode seconds and MB for the whole release"
        )
        for name in names:
            secs = sum(n * rows[(name, k)]["ms"] for k, n in weights.items()) / 1000
            mb = sum(n * rows[(name, k)]["bytes"] for k, n in weights.items()) / 1e6
            print(f"  {name[:46]:<46}{secs:>8.1f} s{mb:>9.1f} MB")


def print_markdown(res: dict[str, Any]) -> None:
    """The table of the README section: ms / KB per image and the release-weighted estimate."""
    images = list(res["images"])
    rows = {(r["candidate"], r["image"]): r for r in res["rows"]}
    weights = {k: n for k, n in release_weights().items() if k in images}
    print("| candidate | " + " | ".join(images) + " | release: s / MB | stable, lossless |")
    print("|---|" + "---:|" * len(images) + "---:|---|")
    for name in dict.fromkeys(r["candidate"] for r in res["rows"]):
        cells = [rows[(name, k)] for k in images]
        secs = sum(n * rows[(name, k)]["ms"] for k, n in weights.items()) / 1000
        mb = sum(n * rows[(name, k)]["bytes"] for k, n in weights.items()) / 1e6
        ok = all(c["stable_in_process"] and c["stable_across_processes"] and c["lossless"] for c in cells)
        print(
            f"| {name} | "
            + " | ".join(f"{c['ms']:.1f} / {c['bytes'] / 1024:.0f}" for c in cells)
            + f" | {secs:.0f} / {mb:.0f} | {'yes' if ok else 'NO'} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer candidates and repeats (under a minute)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (7; quick 3)")
    parser.add_argument("--ct-slices", type=int, default=40, help="slices of the 512 x 512 CT series")
    parser.add_argument("--dicom", type=Path, action="append", default=[], help="also a real radiograph (DICOM file)")
    parser.add_argument("--json", type=Path, default=None, help="also write every number as JSON")
    parser.add_argument("--report", type=Path, default=None, help="print the report of an earlier --json; no run")
    parser.add_argument("--markdown", action="store_true", help="with --report: the README's Markdown table")
    args = parser.parse_args(argv)
    if args.report:
        (print_markdown if args.markdown else print_report)(json.loads(args.report.read_text()))
        return 0
    repeats = args.repeats or (3 if args.quick else 7)
    with tempfile.TemporaryDirectory(prefix="png-study-") as tmp:
        scratch = Path(tmp)
        print("capturing the images from real recipe runs ...", flush=True)
        images = study_images(scratch, args.ct_slices)
        for path in args.dicom:
            images[f"real {path.stem}"] = radiograph_image(path)
        npz = scratch / "images.npz"
        np.savez(npz, **images)
        load_before = _loadavg()
        print(f"measuring {len(images)} images (load {load_before}) ...", flush=True)
        rows = measure(images, candidates(args.quick), repeats)
        other = _digests_child(npz, args.quick)
    for r in rows:
        r["stable_across_processes"] = other.get(_digest_key(r["candidate"], r["image"])) == r["sha256"]
    res = {
        "environment": environment(),
        "images": {k: f"{a.shape[1]} x {a.shape[0]} {'RGB' if a.ndim == 3 else 'L'} uint8" for k, a in images.items()},
        "repeats": repeats,
        "load_before": load_before,
        "load_after": _loadavg(),
        "rows": rows,
    }
    print_report(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_digests":
        sys.exit(_child_main(sys.argv[2], "--quick" in sys.argv[3:]))
    sys.exit(main())
