"""What a child process runs, by kind (`run.py _child KIND SPEC.json`)."""

from __future__ import annotations

import json
from pathlib import Path

from .children import _child_profile, _child_toolkit
from .common import RESULT_MARK
from .corpus import _child_gen_ct
from .ct_series import _child_ct_floors
from .floors import _child_ct_floor, _child_floor
from .micro import _child_micro
from .nifti import _child_gen_nifti, _child_nifti_decoders, _child_nifti_floor

CHILDREN = {
    "toolkit": _child_toolkit,
    "profile": _child_profile,
    "floor": _child_floor,
    "ct_floor": _child_ct_floor,
    "ct_floors": _child_ct_floors,
    "micro": _child_micro,
    "gen_ct": _child_gen_ct,
    "gen_nifti": _child_gen_nifti,
    "nifti_floor": _child_nifti_floor,
    "nifti_decoders": _child_nifti_decoders,
}


def child_main(kind: str, spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    result = CHILDREN[kind](spec)
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0
