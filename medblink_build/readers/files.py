"""Getting a file's bytes for a reader: the caller's copy if it already read (and hashed) them,
else one read here; a missing, unreadable or empty file is a ReaderError naming it."""

from __future__ import annotations

from pathlib import Path

from ..errors import ReaderError
from ..fsnames import read_regular


def input_bytes(path: Path, data: bytes | None = None, what: str = "file") -> bytes:
    if data is None:
        try:
            data = read_regular(path)
        except OSError as exc:
            raise ReaderError(path, f"cannot read {what}: {exc.strerror or exc}") from exc
    if not data:
        raise ReaderError(path, f"{what} is empty (0 bytes)")
    return data
