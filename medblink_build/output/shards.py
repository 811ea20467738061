"""Streaming parquet shards for one task config.

Rows are buffered only up to one row group (ROWS_PER_ROW_GROUP rows, or fewer once they hold
ROW_GROUP_BYTES of payload, so the writer's memory does not grow with image size: 64 panoramic
radiographs or slide regions of several MB each would otherwise sit in memory three times, as
Python bytes, their Arrow copy and the compressed pages) and written as they come; a new
shard starts once the current one holds MAX_SHARD_BYTES of payload. Shards are named
`test-NNNNN-of-MMMMM.parquet` when the config is closed. Compression is zstd; PNG bytes barely
compress, the JSON columns do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from .arrow_columns import table_from_rows
from .schema import row_schema

ROWS_PER_ROW_GROUP = 64
ROW_GROUP_BYTES = 32 * 1024 * 1024
MAX_SHARD_BYTES = 256 * 1024 * 1024
SPLIT = "test"


class ShardWriter:
    def __init__(
        self, folder: Path, max_shard_bytes: int = MAX_SHARD_BYTES, rows_per_group: int = ROWS_PER_ROW_GROUP
    ) -> None:
        self.folder = folder
        self.max_shard_bytes = max_shard_bytes
        self.rows_per_group = rows_per_group
        self.group_bytes = ROW_GROUP_BYTES
        self._buffer_bytes = 0
        self.schema = row_schema()
        self._buffer: list[dict[str, Any]] = []
        self._writer: pq.ParquetWriter | None = None
        self._shard_bytes = 0
        self._parts: list[Path] = []
        self.rows = 0
        self.nbytes = 0  # Arrow bytes of the rows: what `datasets` records as the split's num_bytes

    def _open(self) -> pq.ParquetWriter:
        self.folder.mkdir(parents=True, exist_ok=True)
        part = self.folder / f"{SPLIT}-{len(self._parts):05d}.parquet.partial"
        self._parts.append(part)
        self._shard_bytes = 0
        return pq.ParquetWriter(part, self.schema, compression="zstd", write_statistics=True)

    def add(self, row: dict[str, Any], payload_bytes: int) -> None:
        if self._writer is None:
            self._writer = self._open()
        self._buffer.append(row)
        self._shard_bytes += payload_bytes
        self._buffer_bytes += payload_bytes
        self.rows += 1
        if len(self._buffer) >= self.rows_per_group or self._buffer_bytes >= self.group_bytes:
            self._flush()
        if self._shard_bytes >= self.max_shard_bytes:
            self._flush()
            assert self._writer is not None
            self._writer.close()
            self._writer = None

    def _flush(self) -> None:
        if self._buffer and self._writer is not None:
            table = table_from_rows(self._buffer, self.schema)  # as from_pylist, without importing pandas
            self.nbytes += table.nbytes
            self._writer.write_table(table)
            self._buffer = []
            self._buffer_bytes = 0

    def close(self) -> list[Path]:
        """Finish the last shard and give every shard its final name; returns the final paths."""
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        total = len(self._parts)
        final = []
        for i, part in enumerate(self._parts):
            target = self.folder / f"{SPLIT}-{i:05d}-of-{total:05d}.parquet"
            os.replace(part, target)
            final.append(target)
        return final
