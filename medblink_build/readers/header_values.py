"""Numbers read from file headers, checked once: a NaN or infinite value is a bad file, not a build.

A NaN RescaleSlope or PhysicalDeltaX would otherwise flow into pixels (silent garbage) or into
provenance JSON, where the writer refuses it and the whole build stopped. Every DICOM dataset is
checked as it is parsed (`check_dicom_floats`, called by `read_dicom_header`), so no reader or
recipe sees such a value; other formats call `header_float` on each number they take from a header.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..errors import ReaderError

#: DICOM value representations holding floating-point header numbers (decimal strings, binary floats).
_FLOAT_VRS = frozenset({"DS", "FD", "FL"})


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
    from pydicom.multival import MultiValue

    for elem in _elements(ds):
        if elem.tag == _VOI_LUT_SEQUENCE:
            _check_voi_lut(elem.value, path)
        if elem.VR not in _FLOAT_VRS:
            continue
        try:
            value = elem.value
        except Exception:  # a malformed value: the reader that needs it reports it
            continue
        for number in value if isinstance(value, (list, tuple, MultiValue)) else [value]:
            try:
                f = float(number)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(f):
                raise ReaderError(path, f"header value {elem.keyword or elem.tag} = {f} is not a finite number")


#: (0028,3010) VOI LUT Sequence, whose items must hold a LUT.
_VOI_LUT_SEQUENCE = 0x00283010
#: Sequences whose numbers a dedicated reader validates, with a more specific skip reason: (0018,6011)
#: Sequence of Ultrasound Regions (`invalid_ultrasound_calibration`). The worker's JSON check still backs it.
_SKIPPED_SEQUENCES = frozenset({0x00186011})


def _elements(ds: Any, depth: int = 0) -> Any:
    """The float and sequence elements of `ds` and its sequences (what `check_dicom_floats` reads).

    Elements are looked at raw first and converted only when their VR can hold a float or a
    sequence: converting every element of every slice of a series cost as much as parsing it. An
    element pydicom cannot even convert is skipped (the reader that needs it reports it), so one
    odd private tag does not make a file unreadable."""
    from pydicom.datadict import dictionary_VR

    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        vr = getattr(raw, "VR", None)
        if vr is None:  # implicit VR: the dictionary's, as pydicom would convert it
            try:
                vr = dictionary_VR(tag)
            except KeyError:
                vr = "UN"
        if vr not in _FLOAT_VRS and "SQ" not in vr and vr != "UN":
            continue
        try:
            elem = ds[tag]
        except Exception:
            continue
        yield elem
        if elem.VR == "SQ" and depth < 16 and int(elem.tag) not in _SKIPPED_SEQUENCES:
            for item in elem.value or ():
                yield from _elements(item, depth + 1)


def _check_voi_lut(items: Any, path: str | Path) -> None:
    for item in items or ():
        data = item.get("LUTData")
        if data is None or len(data) == 0 or not item.get("LUTDescriptor"):
            raise ReaderError(path, "VOI LUT Sequence item has no LUT Data or LUT Descriptor")
