"""Atomic replacement of an output folder.

A build writes into a hidden staging folder beside OUT and only then swaps it in, so a failed or
killed build leaves the previous complete output (or nothing), never a partial one. An existing
OUT is replaced only if it is empty or is a previous medblink-build output, so a mistyped --out
cannot delete someone's data.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import TracebackType

from ..errors import OutputError
from ..faults import crash_point

MANIFEST_NAME = "manifest.json"
OUTPUT_FORMAT = "medblink-build-output"


def has_marker(folder: Path, marker: str, fmt: str) -> bool:
    """Does `folder` hold the JSON file `marker` that this kind of folder writes, with `format` fmt?"""
    try:
        data = json.loads((folder / marker).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == fmt


def is_our_output(folder: Path) -> bool:
    return has_marker(folder, MANIFEST_NAME, OUTPUT_FORMAT)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StagedOutput:
    """`with StagedOutput(out) as staging:` write into `staging`; it becomes `out` on success.

    `marker`/`fmt` name the JSON file (and its `format`) by which an existing folder is recognised
    as one this kind of build may replace; `what` names the kind in messages. The defaults are the
    dataset output's; exports and previews pass their own.
    """

    def __init__(
        self, out: Path, *, marker: str = MANIFEST_NAME, fmt: str = OUTPUT_FORMAT, what: str = "medblink-build output"
    ) -> None:
        self.out = Path(os.path.abspath(out))
        self.staging = self.out.parent / f".{self.out.name}.staging-{os.getpid()}"
        self.marker, self.fmt, self.what = marker, fmt, what

    def __enter__(self) -> Path:
        self._recover()
        if self.out.exists():
            if not self.out.is_dir():
                raise OutputError(f"{self.out}: output path exists and is not a folder")
            if any(self.out.iterdir()) and not has_marker(self.out, self.marker, self.fmt):
                raise OutputError(
                    f"{self.out}: refusing to replace a non-empty folder that is not a {self.what} "
                    f"(no {self.marker}); choose another folder"
                )
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            if self.staging.exists():
                shutil.rmtree(self.staging)
            self.staging.mkdir()
        except OSError as exc:
            problem = exc.strerror or exc
            raise OutputError(f"{self.out.parent}: cannot create the {self.what} folder: {problem}") from exc
        return self.staging

    def _recover(self) -> None:
        """Clean up after a build that was killed: its staging folder goes; if it died between the
        two renames, the previous complete output it had moved aside is put back."""
        parent = self.out.parent
        if not parent.is_dir():
            return
        for leftover in sorted(parent.glob(f".{self.out.name}.*-*")):
            kind, _, pid = leftover.name.rpartition("-")
            if not pid.isdigit() or _pid_alive(int(pid)) or not leftover.is_dir():
                continue
            if kind.endswith(".old") and not self.out.exists() and has_marker(leftover, self.marker, self.fmt):
                os.replace(leftover, self.out)
            elif kind.endswith((".old", ".staging")):
                shutil.rmtree(leftover, ignore_errors=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
        crash_point("before-swap")
        try:
            if self.out.exists():
                os.replace(self.out, old)
                crash_point("between-renames")
            os.replace(self.staging, self.out)
        except OSError as exc2:
            shutil.rmtree(self.staging, ignore_errors=True)
            if old.exists() and not self.out.exists():
                os.replace(old, self.out)
            raise OutputError(
                f"{self.out}: cannot move the finished output into place: {exc2.strerror or exc2}"
            ) from exc2
        shutil.rmtree(old, ignore_errors=True)
