"""The toolkit's own error types.

Every failure a user can cause (a bad file, a bad option, a missing source) is one of these, so the
CLI can print a one-line reason that names the file and the problem, and library callers can catch
one base class.
"""

from __future__ import annotations

from pathlib import Path


class MedblinkError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class ReaderError(MedblinkError):
    """A file could not be read as the format it claims to be."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = " ".join(str(problem).split())  # one line, whatever the library said
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
