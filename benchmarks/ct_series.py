#!/usr/bin/env python3
"""CT series at real size: the toolkit's enhancement build against tight floors (issue 18, item 1).

    python benchmarks/ct_series.py                  # 4 series x 300 slices, 3 runs each (~3 minutes)
    python benchmarks/ct_series.py --quick          # 2 series x 40 slices, smoke test

See benchmarks/README.md, section "CT series at real size".
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.ct_series import main

if __name__ == "__main__":
    sys.exit(main())
