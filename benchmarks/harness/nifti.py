"""A TotalSegmentator-sized subject: corpus, floor and the toolkit's build of it (issue 18, item 2).

One subject `s0001/ct.nii.gz` (512 x 512 x 500 int16, the synthetic contrast abdomen with its
noise, written by nibabel at its default gzip level) and `s0001/segmentations/<class>.nii.gz` for
the 117 TotalSegmentator v2 classes: the phantom's 10 organs are non-empty, the other 107 are
empty (hard links to one empty mask). The floor loads the CT and only the masks the recipe asks
about with nibabel, measures them per slice, draws the recipe's pair and view and encodes the PNG;
its PNG must be byte-identical to the toolkit's row image.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .children import _self_stats, run_child
from .common import PNG_LEVEL, PNG_STRATEGY
from .system import _io_counters, _status_kb, wait_for_quiet

SHAPE = (500, 512, 512)  # z, y, x
SPACING = (0.8, 0.7, 0.7)  # mm: 400 mm of body, 358 mm field of view
SUBJECT = "s0001"
SOURCE_ID = "totalsegmentator"
RECIPE = "relative-position"

#: The 117 TotalSegmentator v2 classes (`total` task), one mask file each.
TS_CLASSES: tuple[str, ...] = (
    *"spleen kidney_right kidney_left gallbladder liver stomach pancreas adrenal_gland_right".split(),
    *"adrenal_gland_left lung_upper_lobe_left lung_lower_lobe_left lung_upper_lobe_right".split(),
    *"lung_middle_lobe_right lung_lower_lobe_right esophagus trachea thyroid_gland small_bowel".split(),
    *"duodenum colon urinary_bladder prostate kidney_cyst_left kidney_cyst_right sacrum".split(),
    *(f"vertebrae_{v}" for v in ["S1", *(f"L{i}" for i in range(5, 0, -1))]),
    *(f"vertebrae_T{i}" for i in range(12, 0, -1)),
    *(f"vertebrae_C{i}" for i in range(7, 0, -1)),
    *"heart aorta pulmonary_vein brachiocephalic_trunk subclavian_artery_right".split(),
    *"subclavian_artery_left common_carotid_artery_right common_carotid_artery_left".split(),
    *"brachiocephalic_vein_left brachiocephalic_vein_right atrial_appendage_left".split(),
    *"superior_vena_cava inferior_vena_cava portal_vein_and_splenic_vein iliac_artery_left".split(),
    *"iliac_artery_right iliac_vena_left iliac_vena_right humerus_left humerus_right".split(),
    *"scapula_left scapula_right clavicula_left clavicula_right femur_left femur_right".split(),
    *"hip_left hip_right spinal_cord gluteus_maximus_left gluteus_maximus_right".split(),
    *"gluteus_medius_left gluteus_medius_right gluteus_minimus_left gluteus_minimus_right".split(),
    *"autochthon_left autochthon_right iliopsoas_left iliopsoas_right brain skull".split(),
    *(f"rib_{side}_{i}" for side in ("left", "right") for i in range(1, 13)),
    "sternum",
    "costal_cartilages",
)
#: The phantom's label names that differ from a TotalSegmentator class.
_PHANTOM_TO_TS = {"vertebrae": "vertebrae_L1"}
_CORPUS_VERSION = 1


def make_nifti_corpus(root: Path, scratch: Path) -> dict[str, Any]:
    """The subject folder under `root` (written once, then cached by parameters)."""
    from .corpus import ensure_written

    base = root / f"totalsegmentator-{'x'.join(map(str, SHAPE))}"
    params = {"shape": list(SHAPE), "spacing": list(SPACING), "classes": len(TS_CLASSES), "version": _CORPUS_VERSION}
    t0 = time.perf_counter()
    what = f"the TotalSegmentator-sized subject ({' x '.join(map(str, SHAPE[::-1]))})"
    generated = ensure_written(
        base, params, what, lambda: run_child("gen_nifti", {"folder": str(base)}, scratch, sample=False)
    )
    files = sorted(p for p in base.rglob("*.nii.gz"))
    distinct = {p.stat().st_ino: p.stat().st_size for p in files}
    return {
        "folder": str(base),
        "files": len(files),
        "ct_bytes": (base / SUBJECT / "ct.nii.gz").stat().st_size,
        "distinct_bytes": sum(distinct.values()),
        "generated": generated,
        "seconds": time.perf_counter() - t0,
    }


def write_subject(folder: Path) -> None:
    """Write the subject with nibabel (through the toolkit's NIfTI writer, RAS-stored like real data)."""
    import numpy as np

    from medblink_build.samples.phantoms_ct import ORGANS, abdomen
    from medblink_build.samples.volume_writer import write_nifti

    phantom = abdomen(0, shape=SHAPE, spacing=SPACING, contrast=True)
    subject = folder / SUBJECT
    write_nifti(subject / "ct.nii.gz", phantom.hu, phantom.spacing, phantom.origin)
    hu_shape = phantom.hu.shape
    segs = subject / "segmentations"
    painted = {}
    for organ_id, name in ORGANS.items():
        ts_name = _PHANTOM_TO_TS.get(name, name)
        assert ts_name in TS_CLASSES, ts_name
        mask = (phantom.labels == organ_id).astype(np.uint8)
        write_nifti(segs / f"{ts_name}.nii.gz", mask, phantom.spacing, phantom.origin)
        painted[ts_name] = True
    empty = segs / ".empty.nii.gz"
    write_nifti(empty, np.zeros(hu_shape, np.uint8), phantom.spacing, phantom.origin)
    for name in TS_CLASSES:
        if name not in painted:
            dest = segs / f"{name}.nii.gz"
            try:
                os.link(empty, dest)
            except OSError:
                shutil.copyfile(empty, dest)
    empty.unlink()
    # The manifest's metadata table: one row for the subject (';'-separated, as the release's).
    header = "image_id;age;gender;institute;study_type;split;manufacturer;scanner_model;kvp;pathology;"
    row = f"{SUBJECT};60;m;A;ct abdomen;train;siemens;X;120;;"
    (folder / "meta.csv").write_text(f"{header}pathology_location\n{row}\n", encoding="utf-8")


def _child_gen_nifti(spec: dict[str, Any]) -> dict[str, Any]:
    write_subject(Path(spec["folder"]))
    return {}


# ------------------------------------------------------------------------------------ the floor


def _floor_region(mask2d: Any) -> tuple[int, int, float, float, int, int, int, int] | None:
    """(components, voxels, centroid x, centroid y, x0, y0, x1, y1) of one display slice, or None.

    `mask2d` is the stored slice [i, j] of a RAS-stored mask; display x = ni-1-i, y = nj-1-j (LPS,
    as the toolkit shows it). Measured on its bounding box with skimage's 8-connected labelling."""
    import numpy as np
    from skimage.measure import label

    ni, nj = mask2d.shape
    on_i = np.flatnonzero(mask2d.any(axis=1))
    if on_i.size == 0:
        return None
    on_j = np.flatnonzero(mask2d.any(axis=0))
    i0, i1, j0, j1 = int(on_i[0]), int(on_i[-1]), int(on_j[0]), int(on_j[-1])
    crop = mask2d[i0 : i1 + 1, j0 : j1 + 1]
    _, components = label(crop, connectivity=2, return_num=True)
    ii, jj = np.nonzero(crop)
    n = ii.size
    # integer sums are exact, so these means are the toolkit's to the last bit
    cx = float(int((ni - 1 - i0) * n - ii.sum()) / n)
    cy = float(int((nj - 1 - j0) * n - jj.sum()) / n)
    return int(components), int(n), cx, cy, ni - 1 - i1, nj - 1 - j1, ni - 1 - i0, nj - 1 - j0


def _floor_load(path: Path, decoder: str) -> Any:
    """nibabel's image of a .nii.gz: as `nibabel.load` opens it ("default": indexed_gzip, a toolkit
    dependency, or stdlib gzip where it is missing), or over a stdlib gzip stream ("stdlib": what
    nibabel does without indexed_gzip)."""
    import gzip

    import nibabel as nib

    if decoder == "default":
        return nib.load(path)
    holder = nib.FileHolder(fileobj=gzip.GzipFile(path, "rb"))
    return nib.Nifti1Image.from_file_map({"header": holder, "image": holder})


def floor_subject(subject: Path, seed: int, key: str, decoder: str = "default") -> bytes:
    """The recipe's work on one subject, tightly: nibabel loads the CT and the masks of the
    structures asked about (stored RAS, never reoriented as a volume); each mask is measured only
    on its non-empty slices; the pair, view and order are drawn as the recipe draws them; the slice
    is windowed through a LUT and encoded as PNG."""
    import io

    import nibabel as nib
    import numpy as np
    from PIL import Image

    from medblink_build.recipes.relative_position import (
        MIN_AREA_MM2,
        MIN_GAP_MM,
        STRUCTURES,
        TASK,
        VIEW_TRANSFORMS,
    )
    from medblink_build.seeding import rng_for
    from medblink_build.tasks.ct_windows import CT_WINDOWS

    ct = _floor_load(subject / "ct.nii.gz", decoder)
    if nib.aff2axcodes(ct.affine) != ("R", "A", "S"):
        raise ValueError(f"{subject}: the floor only handles RAS-stored volumes")
    sx, sy = (float(v) for v in ct.header.get_zooms()[:2])  # column (x) and row (y) spacing, mm
    hu = np.asanyarray(ct.dataobj)
    regions: dict[str, list[Any]] = {}
    for name in sorted(STRUCTURES):
        path = subject / "segmentations" / f"{name}.nii.gz"
        if not path.is_file():
            continue
        mask = np.asanyarray(_floor_load(path, decoder).dataobj)  # uint8, Fortran order [i, j, k]
        ni, nj, nk = mask.shape
        present = mask.reshape(ni * nj, nk, order="F").any(axis=0)
        regions[name] = [_floor_region(mask[:, :, k]) if present[k] else None for k in range(nk)]
    depth = hu.shape[2]
    names = sorted(regions)
    candidates = []
    for k in range(depth):
        good = [n for n in names if (r := regions[n][k]) is not None and r[0] == 1 and r[1] * sy * sx >= MIN_AREA_MM2]
        for i, a in enumerate(good):
            for b in good[i + 1 :]:
                ra, rb = regions[a][k], regions[b][k]
                for axis, lo, hi, step in (("x", 4, 6, sx), ("y", 5, 7, sy)):
                    a_lo, a_hi, b_lo, b_hi = ra[lo] * step, (ra[hi] + 1) * step, rb[lo] * step, (rb[hi] + 1) * step
                    gap = b_lo - a_hi if b_lo >= a_hi else (a_lo - b_hi if a_lo >= b_hi else 0.0)
                    if gap >= MIN_GAP_MM:
                        candidates.append((k, a, b, axis))
    rng = rng_for(seed, TASK, key)
    k, _a, _b, _axis = candidates[int(rng.integers(len(candidates)))]
    view = VIEW_TRANSFORMS[int(rng.integers(len(VIEW_TRANSFORMS)))]
    centre, width = CT_WINDOWS["soft_tissue"]
    codes = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.float32)
    unit = (codes - np.float32(centre - width / 2)) / np.float32(width)
    lut = np.rint(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)
    display = hu[::-1, ::-1, k].T  # stored [i, j] -> LPS display [y, x]
    pixels = np.take(lut, display.astype(np.int16, copy=False).view(np.uint16))
    pixels = {"identity": pixels, "flip_h": pixels[:, ::-1], "flip_v": pixels[::-1], "rot180": pixels[::-1, ::-1]}[view]
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(
        buf, format="PNG", compress_level=PNG_LEVEL, compress_type=PNG_STRATEGY
    )
    return buf.getvalue()


def _child_nifti_floor(spec: dict[str, Any]) -> dict[str, Any]:
    import nibabel._compression

    from .children import _preload

    _preload()  # what the toolkit child imports before its timer: nibabel and skimage are timed on both sides
    baseline_rss_kb = _status_kb("self")["VmRSS"]
    io0, cpu0 = _io_counters(), os.times()
    t0 = time.perf_counter()
    png = floor_subject(Path(spec["subject"]), int(spec["seed"]), spec["key"], spec["decoder"])
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "items": 1,
        "decoder": spec["decoder"],
        "nibabel_uses_indexed_gzip": bool(nibabel._compression.HAVE_INDEXED_GZIP),
        "baseline_rss_mb": baseline_rss_kb / 1024,
        "digest": hashlib.sha256(png).hexdigest(),
        **_self_stats(io0, cpu0),
    }


# ------------------------------------------------------------------------ gzip decoders (item 3)


def _decoders() -> dict[str, Any]:
    """Ways to get a .nii.gz file's voxels as an array, each from the file's bytes in memory."""
    import gzip
    import importlib.util
    import io

    import indexed_gzip
    import nibabel as nib
    import numpy as np

    def over(stream: Any) -> Any:
        holder = nib.FileHolder(fileobj=stream)
        return np.asanyarray(nib.Nifti1Image.from_file_map({"header": holder, "image": holder}).dataobj)

    def indexed(raw: bytes) -> Any:
        return over(indexed_gzip.IndexedGzipFile(fileobj=io.BytesIO(raw), drop_handles=False))

    out = {"stdlib gzip (zlib)": lambda raw: over(gzip.GzipFile(fileobj=io.BytesIO(raw))), "indexed_gzip": indexed}
    if importlib.util.find_spec("zlib_ng"):  # not dependencies: measured when installed
        from zlib_ng import gzip_ng

        out["zlib-ng"] = lambda raw: over(gzip_ng.GzipNGFile(fileobj=io.BytesIO(raw)))
    if importlib.util.find_spec("isal"):
        from isal import igzip

        out["ISA-L"] = lambda raw: over(igzip.IGzipFile(fileobj=io.BytesIO(raw)))
    return out


def _child_nifti_decoders(spec: dict[str, Any]) -> dict[str, Any]:
    """Median of `repeat` timings of each decoder on the CT, a non-empty and an empty mask."""
    import statistics

    subject = Path(spec["subject"])
    files = {
        "CT 512x512x500 int16": subject / "ct.nii.gz",
        "mask, non-empty (liver)": subject / "segmentations" / "liver.nii.gz",
        "mask, empty": subject / "segmentations" / "brain.nii.gz",
    }
    out: dict[str, Any] = {}
    for label, path in files.items():
        raw = path.read_bytes()
        reference = None
        row: dict[str, float] = {}
        for name, decode in _decoders().items():
            times = []
            for _ in range(int(spec["repeat"])):
                t0 = time.perf_counter()
                arr = decode(raw)
                times.append(time.perf_counter() - t0)
            digest = hashlib.sha256(arr.tobytes(order="F")).hexdigest()
            if reference is None:
                reference = digest
            elif digest != reference:
                raise SystemExit(f"{name} decoded {path.name} to other voxels")
            del arr
            row[name] = statistics.median(times)
        out[label] = {"compressed_mb": len(raw) / 1e6, "seconds": row}
    return out


# ---------------------------------------------------------------------------------- the command


def _run(kind: str, spec: dict[str, Any], scratch: Path, repeat: int, quiet_wait: float) -> dict[str, Any]:
    """The fastest of `repeat` fresh-interpreter runs, each after waiting for a quiet machine."""
    best: dict[str, Any] | None = None
    for _ in range(repeat):
        wait_for_quiet(quiet_wait)
        result = run_child(kind, spec, scratch)
        if "out" in spec:
            shutil.rmtree(spec["out"], ignore_errors=True)
            for work in Path(spec["out"]).parent.glob(f".{Path(spec['out']).name}.*"):
                shutil.rmtree(work, ignore_errors=True)
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    assert best is not None
    return best


def main(argv: list[str] | None = None) -> int:
    from .corpus import byte_compile_toolkit, warm_page_cache
    from .report import _code_state, _env

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, help="corpus cache folder (kept; default: a temporary folder)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of the toolkit and the floor; the fastest is kept")
    ap.add_argument("--decoder-repeat", type=int, default=3, help="timings per gzip decoder (median; 0: skip)")
    ap.add_argument("--quiet-wait", type=float, default=60.0, help="wait up to S s for a quiet machine before each run")
    ap.add_argument("--json", type=Path, help="also write every number to this JSON file")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="medblink-nifti-bench-"))
    root = args.corpus.expanduser().resolve() if args.corpus else scratch / "corpus"
    root.mkdir(parents=True, exist_ok=True)
    try:
        corpus = make_nifti_corpus(root, scratch)
        subject = Path(corpus["folder"]) / SUBJECT
        byte_compile_toolkit()
        warm_page_cache(sorted({p.stat().st_ino: p for p in subject.rglob("*.nii.gz")}.values()))
        key = f"{SOURCE_ID}/{SUBJECT}"
        floors = {}
        for decoder in ("default", "stdlib"):
            spec = {"subject": str(subject), "seed": args.seed, "key": key, "decoder": decoder}
            floors[decoder] = _run("nifti_floor", spec, scratch, args.repeat, args.quiet_wait)
        toolkit_spec = {
            "recipe": RECIPE,
            "source": f"{SOURCE_ID}={corpus['folder']}",
            "seed": args.seed,
            "workers": 1,
            "out": str(scratch / "out"),
            "digests": True,
        }
        toolkit = _run("toolkit", toolkit_spec, scratch, args.repeat, args.quiet_wait)
        decoders = {}
        if args.decoder_repeat > 0:
            wait_for_quiet(args.quiet_wait)
            decoders = run_child("nifti_decoders", {"subject": str(subject), "repeat": args.decoder_repeat}, scratch)
        res = {
            "command": " ".join([sys.executable, *sys.argv]),
            "code": _code_state(),
            "environment": _env(),
            "corpus": corpus,
            "floors": floors,
            "toolkit": toolkit,
            "decoders": {k: v for k, v in decoders.items() if isinstance(v, dict) and "seconds" in v},
            "identical": all(toolkit.get("digests", {}).get(key) == f["digest"] for f in floors.values()),
        }
        _print(res)
        if args.json:
            args.json.write_text(json.dumps(res, indent=1, default=str))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _print(res: dict[str, Any]) -> None:
    c, t = res["corpus"], res["toolkit"]
    print(
        f"subject: {' x '.join(map(str, SHAPE[::-1]))} int16 CT ({c['ct_bytes'] / 1e6:.0f} MB gzip) + "
        f"{c['files'] - 1} masks ({c['distinct_bytes'] / 1e6:.0f} MB distinct on disk); code {res['code'][:12]}"
    )
    default = res["floors"]["default"]
    gz = "indexed_gzip" if default["nibabel_uses_indexed_gzip"] else "stdlib gzip"
    names = {"default": f"floor, nibabel.load ({gz})", "stdlib": "floor, nibabel over stdlib gzip"}
    print(f"{'run':<38} {'seconds':>8} {'main MB':>8} {'cpu s':>6} {'read MB':>8} {'bg cores':>8}")
    rows = [(names[d], f) for d, f in res["floors"].items()] + [("toolkit (relative-position, 1 worker)", t)]
    for name, r in rows:
        print(
            f"{name:<38} {r['seconds']:8.2f} {_peak_mb(r):8.0f} {r['cpu_self_s']:6.1f} {r['rchar'] / 1e6:8.0f} "
            f"{r.get('background_cores', 0.0):8.2f}"
        )
    for d, f in res["floors"].items():
        ratio = t["seconds"] / f["seconds"]
        verdict = f" (target <= 1.5x: {'PASS' if ratio <= 1.5 else 'FAIL'})" if d == "default" else ""
        print(
            f"toolkit / {names[d]}: time {ratio:.2f}x{verdict}, cpu {t['cpu_self_s'] / f['cpu_self_s']:.2f}x, "
            f"peak RSS {_peak_mb(t) / _peak_mb(f):.2f}x"
        )
    print(f"floor PNGs byte-identical to the toolkit's row image: {'yes' if res['identical'] else 'NO'}")
    if res["decoders"]:
        labels = list(next(iter(res["decoders"].values()))["seconds"])
        print("gzip decoding of the file's bytes to a voxel array through nibabel (median, ms):")
        print(f"  {'file':<26} {'MB':>6}  " + "  ".join(f"{n:>18}" for n in labels))
        for label, row in res["decoders"].items():
            cells = "  ".join(f"{row['seconds'][n] * 1000:18.0f}" for n in labels)
            print(f"  {label:<26} {row['compressed_mb']:6.1f}  {cells}")


def _peak_mb(r: dict[str, Any]) -> float:
    return float(r.get("memory", {}).get("main_peak_mb", r["self_hwm_kb"] / 1024))
