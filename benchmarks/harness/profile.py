"""cProfile statistics summarised per stage of the hot path."""

from __future__ import annotations

import os
from typing import Any

from .common import REPO

# =============================================================================== profile summary

#: (label, path suffix, function) whose cumulative time is reported; indentation = nested inside.
DX_STAGES = [
    ("run_recipe (whole build, profiled)", "medblink_build/build/pipeline.py", "run_recipe"),
    ("  list + order items", "medblink_build/build/pipeline.py", "ordered_items"),
    ("  Recipe.build (per item)", "medblink_build/build/worker.py", "build_one"),
    ("    read input file + sha256", "medblink_build/recipe.py", "read_bytes"),
    ("      sha256 of the input", "medblink_build/hashing.py", "sha256_bytes"),
    ("    dcmread (all calls, incl. the privacy gate's)", "pydicom/filereader.py", "dcmread"),
    ("    pixel_array (decode)", "pydicom/pixels/utils.py", "pixel_array"),
    ("    window (LUT)", "medblink_build/readers/display.py", "to_display_uint8"),
    ("    dihedral transforms", "medblink_build/transforms.py", "_apply_dihedral"),
    ("    Lanczos resize", "medblink_build/transforms.py", "_apply_resize"),
    ("    PNG encode (level 6)", "medblink_build/encode.py", "png_bytes"),
    ("    privacy gate: re-read DICOM headers", "medblink_build/privacy.py", "identifiers_of_files"),
    ("    result cache: write JSON + base64 PNG", "medblink_build/build/result_cache.py", "put"),
    ("  DatasetWriter.add (rows, digests, parquet)", "medblink_build/output/dataset.py", "add"),
    ("    make_row (JSON + PNG sha256)", "medblink_build/output/rows.py", "make_row"),
    ("    row_digest (PNG sha256 again)", "medblink_build/output/rows.py", "row_digest"),
    ("  parquet: Table.from_pylist + write (zstd)", "medblink_build/output/shards.py", "_flush"),
    ("  DatasetWriter.finish (close, sha256, card)", "medblink_build/output/dataset.py", "finish"),
]

CT_STAGES = [
    ("run_recipe (whole build, profiled)", "medblink_build/build/pipeline.py", "run_recipe"),
    ("  list items: group_series (header reads)", "medblink_build/readers/volume_dicom.py", "group_series"),
    ("  ItemContext.read_volume", "medblink_build/recipe.py", "read_volume"),
    ("    read_bytes: read + sha256 (per file)", "medblink_build/recipe.py", "read_bytes"),
    ("    record(): sha256_file (per file)", "medblink_build/recipe.py", "record"),
    ("    read_dicom_series", "medblink_build/readers/volume_dicom.py", "read_dicom_series"),
    ("      _stack (decode every slice into the volume)", "medblink_build/readers/volume_dicom.py", "_stack"),
    ("      canonicalise", "medblink_build/readers/volume_canonical.py", "canonicalise"),
    ("  privacy gate: re-read DICOM headers", "medblink_build/privacy.py", "identifiers_of_files"),
    ("  representative_slice", "recipes/enhancement.py", "representative_slice"),
    ("  ct_window", "medblink_build/tasks/ct_windows.py", "_apply_ct_window"),
    ("  PNG encode", "medblink_build/encode.py", "png_bytes"),
    ("  result cache: write JSON + base64 PNG", "medblink_build/build/result_cache.py", "put"),
    ("  DatasetWriter.finish", "medblink_build/output/dataset.py", "finish"),
]

#: functions whose call counts show how often files are opened / parsed
COUNTED = [
    ("Recipe.build calls", "medblink_build/build/worker.py", "build_one"),
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
    builds = sum(v[1] for k, v in st.items() if _match(k, "medblink_build/build/worker.py", "build_one"))
    items = builds or items
    total = max(
        (v[3] for k, v in st.items() if _match(k, "medblink_build/build/pipeline.py", "run_recipe")), default=0.0
    )
    out_stages = []
    for label, suffix, func in stages:
        hits = [v for k, v in st.items() if _match(k, suffix, func)]
        cum = sum(v[3] for v in hits)
        calls = sum(v[1] for v in hits)
        out_stages.append(
            {
                "stage": label,
                "cum_s": cum,
                "calls": calls,
                "ms_per_item": 1000 * cum / max(items, 1),
                "share": cum / total if total else 0.0,
            }
        )
    ranked = sorted(st.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    top_rows = [
        {
            "function": _short(k),
            "tottime_s": v[2],
            "cumtime_s": v[3],
            "calls": v[1],
            "share": v[2] / total if total else 0.0,
        }
        for k, v in ranked
    ]
    counts = {label: sum(v[1] for k, v in st.items() if _match(k, s, f)) for label, s, f in COUNTED}
    return {"total_s": total, "items": items, "stages": out_stages, "top_tottime": top_rows, "counts": counts}
