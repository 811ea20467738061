"""Paths, corpus sizes, pinned toolkit constants the floors mirror, and the targets."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # benchmarks/
RUN_PY = HERE / "run.py"  # the entry point every measured child process is started with
REPO = HERE.parent

DX_SOURCE = "medblink-sample-xray"  # built-in manifest: one item per image file, CC0
CT_SOURCE = "medblink-sample-ct-series"  # built-in manifest: one item per DICOM series
DX_TASK = "imaging_orientation_cxr"
MAX_SIDE = 1024  # recipes/orientation.py MAX_SIDE
PNG_LEVEL = 6  # medblink_build/encode.py PNG_COMPRESS_LEVEL
PNG_STRATEGY = 3  # medblink_build/encode.py PNG_ZLIB_STRATEGY (zlib Z_RLE)
PERCENTILES = (0.5, 99.5)  # medblink_build/readers/display.py PERCENTILES
CT_WINDOW = (40.0, 400.0)  # soft_tissue, medblink_build/tasks/ct_windows.py
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
