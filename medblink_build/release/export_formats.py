"""`export OUT --format F`: the dataset-folder formats (medblink, blink) and the harness inputs
(vlmevalkit, lmms-eval), each in its own module; this only picks one."""

from __future__ import annotations

from pathlib import Path

from ..errors import MedblinkError
from .export_base import ExportSummary
from .export_lmms_eval import export_lmms_eval
from .export_vlmevalkit import export_vlmevalkit
from .exports import FORMATS
from .exports import export as export_folder

#: Exports for evaluation harnesses: not dataset folders but a harness's input.
HARNESS_FORMATS = {"vlmevalkit": export_vlmevalkit, "lmms-eval": export_lmms_eval}
EXPORT_FORMATS = (*FORMATS, *HARNESS_FORMATS)


def export(folder: Path, fmt: str, out: Path) -> ExportSummary:
    """Write release FOLDER to OUT in format FMT (one of `EXPORT_FORMATS`)."""
    if fmt in HARNESS_FORMATS:
        return HARNESS_FORMATS[fmt](folder, out)
    if fmt not in FORMATS:
        raise MedblinkError(f"unknown export format {fmt!r}; valid: {', '.join(EXPORT_FORMATS)}")
    return export_folder(folder, fmt, out)
