"""What the harness exports (VLMEvalKit, lmms-eval) share: the release check, the staged folder and
`export.json` (what was exported from which release; also the marker by which a later export
recognises a folder it may replace), all as the dataset exports of `exports.py` do them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import OutputError
from ..hashing import sha256_file
from ..output.folder import MANIFEST_NAME, StagedOutput
from ..version import __version__
from .export_base import EXPORT_FORMAT, EXPORT_MARKER
from .staging import StagedFolder, check_outside
from .verify import load_manifest


def exportable_manifest(folder: Path, out: Path) -> dict[str, Any]:
    """The release's manifest, once it is known to have configs and OUT to lie outside it."""
    manifest, _ = load_manifest(folder)
    if not manifest["configs"]:
        raise OutputError(f"{folder}: the release has no task configs to export")
    check_outside(folder, out, "the export folder")
    return manifest


def staged_export(out: Path) -> StagedOutput:
    """`with staged_export(out) as staging:` write into staging; it replaces OUT (a previous export) on success."""
    return StagedFolder(Path(out), EXPORT_MARKER, EXPORT_FORMAT, "export")


def write_marker(
    staging: Path, fmt: str, release: Path, manifest: Mapping[str, Any], configs: Mapping[str, Any]
) -> None:
    """`configs`: per config what the export holds (rows, files with sha256)."""
    marker = {
        "format": EXPORT_FORMAT,
        "format_version": 1,
        "export_format": fmt,
        "tool": {"name": "medblink-build", "version": __version__},
        "source": {
            "release": manifest.get("release") or None,
            "tool": manifest.get("tool"),
            "sample": bool(manifest.get("sample")),
            "manifest_sha256": sha256_file(release / MANIFEST_NAME),
        },
        "configs": dict(configs),
    }
    (staging / EXPORT_MARKER).write_text(json.dumps(marker, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def file_record(staging: Path, path: Path) -> dict[str, Any]:
    return {"path": path.relative_to(staging).as_posix(), "sha256": sha256_file(path), "bytes": path.stat().st_size}
