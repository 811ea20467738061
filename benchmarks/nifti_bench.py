#!/usr/bin/env python3
"""A TotalSegmentator-sized subject, toolkit against floor (issue 18, item 2).

    python benchmarks/nifti_bench.py                         # ~3 minutes, of which ~75 s writing the subject
    python benchmarks/nifti_bench.py --corpus ~/nifti-bench  # keep the subject for the next run

The harness package (`benchmarks/harness/nifti.py`) does the work; measured runs are fresh
interpreters started through `run.py _child`. See benchmarks/README.md ("TotalSegmentator-sized subject").
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.nifti import main

if __name__ == "__main__":
    raise SystemExit(main())
