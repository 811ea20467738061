"""The toolkit's own error types.

Every failure a user can cause (a bad file, a bad option, a missing source) is one of these, so the
CLI can print a one-line reason that names the file and the problem, and library callers can catch
one base class.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

# `<_io.BytesIO object at 0x7f...>`, `(0x55d0...)`: addresses differ on every run.
_OBJECT_REPR = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
# An absolute POSIX path of at least two components (so "PNG/JPEG" or "1/2" are left alone).
_ABS_PATH = re.compile(r"(?<![\w.~])/(?:[^\s/'\"<>:,;()\[\]]+/)+[^\s/'\"<>:,;()\[\]]*")


def clean_message(text: str, roots: Iterable[str | Path] | None = None) -> str:
    """A library's message made deterministic (and, given `roots`, local-path free), on one line.

    Object reprs and addresses lose the address. With `roots` (for what a manifest records), paths
    under one of them become relative to it and any other absolute path is cut to its file name.
    """
    text = _ADDRESS.sub("0x?", _OBJECT_REPR.sub(r"<\1>", str(text)))
    if roots is None:
        return " ".join(text.split())
    roots = list(roots)
    for root in sorted({os.path.abspath(r) for r in roots} | {os.path.realpath(r) for r in roots}, key=len)[::-1]:
        text = text.replace(root.rstrip("/") + "/", "")
    text = _ABS_PATH.sub(lambda m: os.path.basename(m.group(0).rstrip("/")) or m.group(0), text)
    return " ".join(text.split())


class MedblinkError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class ReaderError(MedblinkError):
    """A file could not be read as the format it claims to be."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = clean_message(problem)  # one line and no addresses, whatever the library said
        super().__init__(f"{self.path}: {self.problem}")


class SourceError(MedblinkError):
    """A source folder or manifest is missing, malformed or inconsistent."""


class RecipeError(MedblinkError):
    """A recipe is unknown, broken, or was given parameters it cannot use."""


class OutputError(MedblinkError):
    """The output folder cannot be written or would overwrite something that is not ours."""


class SkipItem(Exception):
    """Raised by a recipe when an item cannot give an unambiguous example.

    `reason` is a short, stable code (counted in the build summary); `detail` says what was seen.
    Not a MedblinkError: skipping is a normal outcome, not a failure.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)
