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
machine. The harness lives in `benchmarks/harness/` (corpus, floors, children, micro, profile, report,
main). This file is its entry point, also for the measured child processes (`run.py _child KIND
SPEC.json`) and their workers, so it and the harness import only the standard library at module
level.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.main import main

if __name__ == "__main__":
    sys.exit(main())
