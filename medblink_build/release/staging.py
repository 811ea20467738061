"""Atomic writing of folders derived from a release (exports, previews).

The swap is `output.folder.StagedOutput` (write a hidden sibling, then move it into place) with its
ownership check pointed at the marker file this kind of folder writes (`export.json`,
`preview.json`), so a mistyped destination cannot delete someone's data. A destination inside
the release folder is refused: it would become part of the Hub repository.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import OutputError
from ..output.folder import StagedOutput


def check_outside(release: Path, dest: Path, option: str) -> None:
    """Refuse a destination that is the release folder or lies inside it."""
    release_abs, dest_abs = Path(os.path.abspath(release)), Path(os.path.abspath(dest))
    if dest_abs == release_abs or release_abs in dest_abs.parents:
        raise OutputError(
            f"{dest}: {option} is inside the release folder {release}; it would become part of the dataset "
            "repository. Choose a folder outside it"
        )


def StagedFolder(out: Path, marker: str, fmt: str, what: str) -> StagedOutput:
    """The output folder's atomic swap, recognising an existing folder by this kind's marker file."""
    return StagedOutput(out, marker=marker, fmt=fmt, what=f"medblink-build {what}")
