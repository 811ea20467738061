"""Rows of the output schema as an Arrow table, laid out from buffers.

pyarrow's conversion from Python objects (`Table.from_pylist`, `pa.array`) first asks whether a
value is a pandas object, and that imports pandas: 0.2-0.3 s in every build process, the largest
fixed cost of a small build (benchmarks/README.md, "CT series at real size"). The output schema
has only strings, binary, lists and structs, so each column is laid out here as Arrow's columnar
format defines it (a validity bitmap, int32 offsets, the data) and handed to
`pyarrow.Array.from_buffers`. A test checks the result equals `Table.from_pylist`'s, value for
value, in `nbytes` and in the parquet bytes written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

_MAX_OFFSET = 2**31 - 1  # int32 offsets of string, binary and list arrays


def table_from_rows(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """`rows` (a key missing or None is null) as a table of `schema`, as `Table.from_pylist` gives."""
    columns = [_array([row.get(field.name) for row in rows], field.type, field.name) for field in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _array(values: list[Any], kind: pa.DataType, name: str) -> pa.Array:
    if pa.types.is_string(kind) or pa.types.is_binary(kind):
        return _binary_like(values, kind, name)
    if pa.types.is_list(kind):
        return _list(values, kind, name)
    if pa.types.is_struct(kind):
        return _struct(values, kind, name)
    raise TypeError(f"column {name}: type {kind} is not laid out by arrow_columns")


def _validity(values: list[Any]) -> tuple[pa.Buffer | None, int]:
    """The validity bitmap (None when nothing is null, as pyarrow's builders leave it) and the null count."""
    valid = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    nulls = len(values) - int(valid.sum())
    if not nulls:
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little").tobytes()), nulls


def _offsets(lengths: list[int], name: str) -> pa.Buffer:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > _MAX_OFFSET:
        raise OverflowError(f"column {name}: {offsets[-1]} bytes or items exceed one array's int32 offsets")
    return pa.py_buffer(offsets.astype("<i4").tobytes())


def _binary_like(values: list[Any], kind: pa.DataType, name: str) -> pa.Array:
    text = pa.types.is_string(kind)
    parts = []
    for v in values:
        if v is None:
            parts.append(b"")
        elif text and isinstance(v, str):
            parts.append(v.encode("utf-8"))
        elif not text and isinstance(v, (bytes, bytearray, memoryview)):
            parts.append(bytes(v))
        else:
            raise TypeError(f"column {name}: expected {'str' if text else 'bytes'}, got {type(v).__name__}")
    validity, nulls = _validity(values)
    offsets = _offsets([len(p) for p in parts], name)
    return pa.Array.from_buffers(kind, len(values), [validity, offsets, pa.py_buffer(b"".join(parts))], nulls)


def _list(values: list[Any], kind: pa.ListType, name: str) -> pa.Array:
    items: list[Any] = []
    lengths = []
    for v in values:
        if v is not None and not isinstance(v, (list, tuple)):
            raise TypeError(f"column {name}: expected a list, got {type(v).__name__}")
        items.extend(v or ())
        lengths.append(len(v or ()))
    child = _array(items, kind.value_type, name)
    validity, nulls = _validity(values)
    return pa.Array.from_buffers(kind, len(values), [validity, _offsets(lengths, name)], nulls, children=[child])


def _struct(values: list[Any], kind: pa.StructType, name: str) -> pa.Array:
    for v in values:
        if v is not None and not isinstance(v, Mapping):
            raise TypeError(f"column {name}: expected a mapping, got {type(v).__name__}")
    children = [
        _array([None if v is None else v.get(field.name) for v in values], field.type, f"{name}.{field.name}")
        for field in kind
    ]
    validity, nulls = _validity(values)
    return pa.Array.from_buffers(kind, len(values), [validity], nulls, children=children)
