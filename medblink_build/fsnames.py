"""Input files as the file system has them: any bytes in a name, any kind of file.

A FIFO or a device named `x.dcm` would block a plain `open()` forever (or stream without end), so
inputs are opened with `open_regular`: without blocking, and refused unless they are regular files.
File names are bytes on POSIX; a name that is not UTF-8 (a Latin-1 export) reaches Python with
surrogate escapes, which cannot be written as UTF-8 text. `display_name` is the form such a name
takes in keys, manifests and rows: each undecodable byte as a `\\xNN` escape, deterministic and
valid UTF-8 (a UTF-8 name is unchanged).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


class NotRegularFile(OSError):
    """An input path that is not a regular file; `strerror` says what it is."""


def display_name(name: str) -> str:
    """`name` with the bytes that are not UTF-8 written as `\\xNN` (valid UTF-8 text)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def file_kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def open_regular(path: str | Path) -> BinaryIO:
    """Open `path` for reading if it is a regular file (symlinks followed), never blocking."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(0, f"{file_kind(mode)}, not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | Path) -> bytes:
    with open_regular(path) as f:
        return f.read()
