"""Decoder failures as the toolkit's own error.

Compiled decoder plugins can fail in ways that are not `Exception`s: pylibjpeg-rle (Rust, pyo3)
raises `PanicException`, a BaseException, on corrupt RLE segments (found by the fuzz tests). A
corrupt file must be a ReaderError naming it, never a crash of the build, so decoders are called
through `decode_or_raise`, which converts everything but interrupts and exits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import ReaderError

T = TypeVar("T")


def decode_or_raise(path: str | Path, what: str, decode: Callable[[], T]) -> T:
    try:
        return decode()
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        raise ReaderError(path, f"cannot decode {what}: {type(exc).__name__}: {exc}") from exc
