"""What every export shares: its marker file, format name and summary (so format modules and the
dispatcher import this, never each other)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

EXPORT_MARKER = "export.json"
EXPORT_FORMAT = "medblink-build-export"


@dataclass
class ExportSummary:
    out: Path
    fmt: str
    counts: dict[str, int] = field(default_factory=dict)
    dropped_images: dict[str, int] = field(default_factory=dict)  # rows per config whose extra images were left out
