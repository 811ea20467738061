"""The `export.json` of the harness exports (VLMEvalKit, lmms-eval): what was exported from which release.

It is also the marker by which a later export recognises a folder it may replace.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import __version__
from ..hashing import sha256_file
from ..output.folder import MANIFEST_NAME
from .exports import EXPORT_FORMAT, EXPORT_MARKER


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
