"""Decoder failures as the toolkit's own error.

Compiled decoder plugins can fail in ways that are not `Exception`s: pylibjpeg-rle (Rust, pyo3)
raises `PanicException`, a BaseException, on corrupt RLE segments (found by the fuzz tests). A
corrupt file must be a ReaderError naming it, never a crash of the build, so decoders are called
through `decode_or_raise`, which converts everything but interrupts and exits. Decoders that
return an image for a truncated stream are guarded by `check_codestream`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ReaderError

T = TypeVar("T")


def decode_or_raise(path: str | Path, what: str, decode: Callable[[], T]) -> T:
    try:
        return decode()
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        raise ReaderError(path, f"cannot decode {what}: {type(exc).__name__}: {exc}") from exc


#: Encapsulated transfer syntaxes whose codestreams end with an end marker (0xFFD9): JPEG (EOI),
#: JPEG-LS (EOI), JPEG 2000 and HTJ2K (EOC). MPEG/HEVC video and RLE are not among them.
_MARKER_TERMINATED = frozenset(
    [f"1.2.840.10008.1.2.4.{n}" for n in (50, 51, 52, 53, 54, 55, 56, 57, 70, 80, 81, 90, 91, 92, 93, 201, 202, 203)]
)
_END_MARKER = b"\xff\xd9"


def check_codestream(path: str | Path, ds: Any, index: int | None) -> None:
    """ReaderError if the JPEG / JPEG-LS / JPEG 2000 codestream of frame `index` is incomplete.

    These decoders return an image for a stream cut short (a JPEG-LS fragment cut to 200 bytes
    decodes to stripes without an error), so a frame must end with its end marker, after at most
    the padding that makes DICOM fragments even. Frames that cannot be split out are left to the
    decoder, which reports them.
    """
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is None or str(syntax) not in _MARKER_TERMINATED or "PixelData" not in ds:
        return
    from pydicom.encaps import generate_frames

    frames = int(ds.get("NumberOfFrames") or 1)
    wanted = index or 0
    try:
        frame = next(itertools.islice(generate_frames(ds.PixelData, number_of_frames=frames), wanted, None))
    except Exception:  # an encapsulation the splitter cannot follow: the decoder decides
        return
    if not frame.rstrip(b"\x00\xff").endswith(_END_MARKER):
        where = f"frame {wanted}" if frames > 1 else "pixel data"
        raise ReaderError(
            path,
            f"{where}: {syntax.name} codestream of {len(frame)} bytes is truncated "
            "(no end-of-image marker FFD9); it would decode to garbage",
        )
