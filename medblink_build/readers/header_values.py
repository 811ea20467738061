"""Numbers read from file headers, checked once: a NaN or infinite value is a bad file, not a build.

A NaN RescaleSlope or PhysicalDeltaX would otherwise flow into pixels (silent garbage) or into
provenance JSON, where the writer refuses it and the whole build stopped. Every DICOM dataset is
checked as it is parsed (`check_dicom_floats`, called by `read_dicom_header`), so no reader or
recipe sees such a value; other formats call `header_float` on each number they take from a header.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ReaderError

#: DICOM value representations holding floating-point header numbers (decimal strings, binary floats).
_FLOAT_VRS = frozenset({"DS", "FD", "FL"})


#: Binary integer VRs `header_number` reads from raw bytes: struct format of one value.
_BINARY_INTS = {"US": "H", "SS": "h"}


def header_number(ds: Any, keyword: str) -> Any:
    """`ds.get(keyword)` for a numeric attribute (US, SS or DS), read from the element's raw bytes
    where it is still raw and plainly well formed: one number, or a list for several (pydicom gives
    a MultiValue). Anything else (absent, already converted, another VR, an empty value or a part
    that is not a number) is left to pydicom's conversion, with its own values and messages.

    Why: pydicom's first access to an element costs 15-25 us (conversion, validation, a new
    DataElement), and a DICOM series reads a dozen such numbers from every slice: 0.2 ms a file,
    as much as a fifth of decoding it. A test compares every keyword the series reader asks for
    with pydicom's value on pydicom's own test files."""
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    if tag is None or tag not in ds:
        return ds.get(keyword)
    raw = ds.get_item(tag, keep_deferred=True)
    numbers = _plain_numbers(raw, tag) if getattr(raw, "is_raw", False) and raw.value else None
    if numbers is None:
        return ds.get(keyword)
    return numbers[0] if len(numbers) == 1 else numbers


def _plain_numbers(raw: Any, tag: int) -> list[Any] | None:
    import struct

    from pydicom import config
    from pydicom.datadict import dictionary_VR

    vr = raw.VR or dictionary_VR(tag)
    value: bytes = raw.value
    if vr in _BINARY_INTS:
        if len(value) % 2:
            return None
        order = "<" if raw.is_little_endian else ">"
        return list(struct.unpack(f"{order}{len(value) // 2}{_BINARY_INTS[vr]}", value))
    if vr == "DS" and not (config.use_DS_decimal or config.use_DS_numpy):
        try:  # as pydicom's convert_DS_string: padding off, split, float() of each part
            return [float(part) for part in value.decode("ascii").strip().split("\\")]
        except (UnicodeDecodeError, ValueError):
            return None  # an empty part, a NUL, not a number: pydicom decides
    return None


def header_float(value: Any, path: str | Path, name: str) -> float:
    """`value` as a finite float, else ReaderError naming the header field."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ReaderError(path, f"header value {name} = {value!r} is not a number") from exc
    if not math.isfinite(number):
        raise ReaderError(path, f"header value {name} = {number} is not a finite number")
    return number


def check_dicom_floats(ds: Any, path: str | Path) -> None:
    """Every float element of `ds` (nested sequences included) is finite, and a VOI LUT has data.

    Unparseable decimal strings are left to the readers that use them (they already fall back or
    report); only values that parse to NaN/inf are refused here.
    """
    for name, numbers in _float_values(ds, path=path):
        for number in numbers:
            if not math.isfinite(number):
                raise ReaderError(path, f"header value {name} = {number} is not a finite number")


#: (0028,3010) VOI LUT Sequence, whose items must hold a LUT.
_VOI_LUT_SEQUENCE = 0x00283010
#: Sequences whose numbers a dedicated reader validates, with a more specific skip reason: (0018,6011)
#: Sequence of Ultrasound Regions (`invalid_ultrasound_calibration`). The worker's JSON check still backs it.
_SKIPPED_SEQUENCES = frozenset({0x00186011})
#: Binary float VRs: numpy dtype (little-endian) and item size.
_BINARY_FLOATS = {"FD": ("<f8", 8), "FL": ("<f4", 4)}


def _float_values(ds: Any, depth: int = 0, path: str | Path = "") -> Iterator[tuple[str, Iterable[float]]]:
    """(element name, its numbers) for every float element of `ds` and of its sequences.

    Elements still raw (as parsed, not yet converted by pydicom) are read from their bytes: a
    decimal string split at backslashes, binary floats as a numpy view. Converting them through
    pydicom cost as much as parsing the file (every slice of a series has a dozen decimal
    strings). Sequences and UN elements are converted, as pydicom would, so nested items are seen.
    An element that cannot be read is skipped (the reader that needs it reports it), so one odd
    private tag does not make a file unreadable."""
    from pydicom.datadict import dictionary_VR

    for tag in list(ds.keys()):
        raw = ds.get_item(tag, keep_deferred=True)  # deferred pixel data is not read for this
        vr = getattr(raw, "VR", None)
        if vr is None:  # implicit VR: the dictionary's, as pydicom would convert it
            try:
                vr = dictionary_VR(tag)
            except KeyError:
                vr = "UN"
        if vr not in _FLOAT_VRS and "SQ" not in vr and vr != "UN":
            continue
        if vr in _FLOAT_VRS and getattr(raw, "is_raw", False) and not _deferred(raw):
            yield _name(tag), _raw_numbers(raw.value, vr, raw.is_little_endian)
            continue
        try:
            elem = ds[tag]
            value = elem.value
        except Exception:
            continue
        if int(elem.tag) == _VOI_LUT_SEQUENCE:
            _check_voi_lut(value, path)
        if elem.VR in _FLOAT_VRS:
            yield _name(tag), _converted_numbers(value)
        elif elem.VR == "SQ" and depth < 16 and int(elem.tag) not in _SKIPPED_SEQUENCES:
            for item in value or ():
                yield from _float_values(item, depth + 1, path)


def _deferred(raw: Any) -> bool:
    """A raw element whose value pydicom left in the file (`defer_size`): read through `ds[tag]`."""
    return raw.value is None and bool(raw.length)


def _name(tag: int) -> str:
    from pydicom.datadict import keyword_for_tag
    from pydicom.tag import Tag

    return keyword_for_tag(tag) or str(Tag(tag))


def _raw_numbers(value: bytes | None, vr: str, little_endian: bool) -> list[float]:
    """The numbers of a raw DS, FD or FL value; parts that do not parse are left out."""
    if not value:
        return []
    if vr == "DS":
        numbers = []
        for part in value.split(b"\\"):
            try:
                numbers.append(float(part.strip(b" \x00")))
            except ValueError:
                continue
        return numbers
    import numpy as np

    dtype, size = _BINARY_FLOATS[vr]
    if len(value) % size:
        return []  # malformed length: pydicom reports it to the reader that converts it
    return np.frombuffer(value, dtype=dtype if little_endian else dtype.replace("<", ">")).tolist()


def _converted_numbers(value: Any) -> list[float]:
    from pydicom.multival import MultiValue

    numbers = []
    for number in value if isinstance(value, (list, tuple, MultiValue)) else [value]:
        try:
            numbers.append(float(number))
        except (TypeError, ValueError):
            continue
    return numbers


def _check_voi_lut(items: Any, path: str | Path) -> None:
    for item in items or ():
        data = item.get("LUTData")
        if data is None or len(data) == 0 or not item.get("LUTDescriptor"):
            raise ReaderError(path, "VOI LUT Sequence item has no LUT Data or LUT Descriptor")
