"""`header_number` reads the series reader's numbers from raw bytes exactly as pydicom converts them.

The series reader asks every slice for a dozen numbers (Rows, BitsAllocated, PixelSpacing, ...);
pydicom's conversion of each costs 15-25 us, so they are read from the raw element where that is
plain. These tests compare the two on pydicom's own real files and on the odd values where the
fast path must step aside for pydicom.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.multival import MultiValue

from medblink_build.readers.header_values import header_number

KEYWORDS = (
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PixelSpacing",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "RescaleSlope",
    "RescaleIntercept",
    "SliceThickness",
    "SmallestImagePixelValue",  # "US or SS": left to pydicom
    "InstanceNumber",  # IS: left to pydicom
    "NumberOfFrames",
)


def _real_files() -> list[Path]:
    """pydicom's bundled test files (listed from its folder: `get_testdata_files` would try to
    download the ones it does not bundle)."""
    import pydicom.data

    files = sorted((Path(pydicom.data.__file__).parent / "test_files").rglob("*.dcm"))
    return [f for f in files if f.stat().st_size < 4_000_000]


def _same(mine: object, theirs: object) -> bool:
    if isinstance(theirs, MultiValue):
        return isinstance(mine, (list, MultiValue)) and len(mine) == len(theirs) and all(map(_same, mine, theirs))
    if isinstance(theirs, float) or isinstance(mine, float):
        return type(mine) in (float, type(theirs)) and (mine == theirs or (np.isnan(mine) and np.isnan(theirs)))
    return mine == theirs and (theirs is None or isinstance(mine, type(theirs)) or isinstance(theirs, type(mine)))


def test_header_numbers_equal_pydicoms_on_its_real_files() -> None:
    checked = 0
    for path in _real_files():
        try:
            theirs_ds = pydicom.dcmread(path, stop_before_pixels=True)
            mine_ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:
            continue
        for keyword in KEYWORDS:
            try:
                theirs = theirs_ds.get(keyword)
            except Exception:
                with pytest.raises(Exception):  # noqa: B017
                    header_number(mine_ds, keyword)
                continue
            mine = header_number(mine_ds, keyword)
            assert _same(mine, theirs), (path.name, keyword, mine, theirs)
            checked += theirs is not None
    assert checked > 500  # pydicom ships well over a hundred files with these attributes


def _raw_dataset(
    elements: list[tuple[int, str, bytes]], little: bool = True, implicit: bool = False
) -> pydicom.Dataset:
    """A dataset parsed from encoded elements, so that they are raw as in a real read."""
    import struct

    order = "<" if little else ">"
    encoded = b""
    for tag, vr, value in elements:
        value += b" " if len(value) % 2 else b""
        head = struct.pack(f"{order}HH", tag >> 16, tag & 0xFFFF)
        head += struct.pack(f"{order}L", len(value)) if implicit else vr.encode() + struct.pack(f"{order}H", len(value))
        encoded += head + value
    return pydicom.filereader.read_dataset(io.BytesIO(encoded), implicit, little)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"1.5\\-2\\3e2 ", [1.5, -2.0, 300.0]),
        (b" 0.7\\0.7", [0.7, 0.7]),
        (b"-1024", -1024.0),
    ],
)
def test_decimal_strings_read_from_raw_bytes(value: bytes, expected: object) -> None:
    ds = _raw_dataset([(0x00280030, "DS", value)])
    assert header_number(ds, "PixelSpacing") == expected
    assert _same(header_number(ds, "PixelSpacing"), _raw_dataset([(0x00280030, "DS", value)]).PixelSpacing)


@pytest.mark.parametrize("value", [b"1\\\\2", b"abc", b"1.0\x002", b"1\\2\x00", b"1,5"])
def test_odd_decimal_strings_are_left_to_pydicom(value: bytes) -> None:
    """An empty part, a word, an inner NUL or a decimal comma: whatever pydicom makes of it, the
    fast path gives the same (it steps aside), including pydicom's error."""
    from medblink_build.readers.header_values import _plain_numbers

    ds = _raw_dataset([(0x00280030, "DS", value)])
    assert _plain_numbers(ds.get_item(0x00280030), 0x00280030) is None  # the fast path steps aside
    try:
        theirs = _raw_dataset([(0x00280030, "DS", value)]).PixelSpacing
    except Exception as exc:
        with pytest.raises(type(exc)):
            header_number(ds, "PixelSpacing")
        return
    assert header_number(ds, "PixelSpacing") == theirs


@pytest.mark.parametrize(("little", "implicit"), [(True, False), (True, True), (False, False)])
def test_binary_integers_in_every_encoding(little: bool, implicit: bool) -> None:
    order = "<" if little else ">"
    ds = _raw_dataset(
        [(0x00280010, "US", np.array([512], order + "u2").tobytes()), (0x00280034, "IS", b"1\\1")],
        little=little,
        implicit=implicit,
    )
    assert header_number(ds, "Rows") == 512 and isinstance(header_number(ds, "Rows"), int)
    assert header_number(ds, "Columns") is None  # absent: as ds.get
