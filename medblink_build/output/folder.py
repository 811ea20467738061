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

MANIFEST_NAME = "manifest.json"
OUTPUT_FORMAT = "medblink-build-output"


def is_our_output(folder: Path) -> bool:
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == OUTPUT_FORMAT


class StagedOutput:
    """`with StagedOutput(out) as staging:` write into `staging`; it becomes `out` on success."""

    def __init__(self, out: Path) -> None:
        self.out = Path(os.path.abspath(out))
        self.staging = self.out.parent / f".{self.out.name}.staging-{os.getpid()}"

    def __enter__(self) -> Path:
        if self.out.exists():
            if not self.out.is_dir():
                raise OutputError(f"{self.out}: output path exists and is not a folder")
            if any(self.out.iterdir()) and not is_our_output(self.out):
                raise OutputError(
                    f"{self.out}: refusing to replace a non-empty folder that is not a medblink-build output "
                    f"(no {MANIFEST_NAME}); choose another --out"
                )
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            if self.staging.exists():
                shutil.rmtree(self.staging)
            self.staging.mkdir()
        except OSError as exc:
            raise OutputError(f"{self.out.parent}: cannot create the output folder: {exc.strerror or exc}") from exc
        return self.staging

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
        try:
            if self.out.exists():
                os.replace(self.out, old)
            os.replace(self.staging, self.out)
        except OSError as exc2:
            shutil.rmtree(self.staging, ignore_errors=True)
            if old.exists() and not self.out.exists():
                os.replace(old, self.out)
            raise OutputError(
                f"{self.out}: cannot move the finished output into place: {exc2.strerror or exc2}"
            ) from exc2
        shutil.rmtree(old, ignore_errors=True)
