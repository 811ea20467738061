"""Output rows laid out as Arrow buffers equal pyarrow's own conversion, without importing pandas.

`arrow_columns.table_from_rows` replaces `Table.from_pylist` in the shard writer only because the
latter imports pandas (0.2-0.3 s a build). These tests pin that it is the same table: values,
`nbytes` (the split size the card records) and the parquet bytes written.
"""

from __future__ import annotations

import io
import random
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medblink_build.output.arrow_columns import table_from_rows
from medblink_build.output.schema import STRING_COLUMNS, row_schema


def _rows(seed: int, nulls: bool) -> list[dict]:
    rng = random.Random(seed)
    texts = ["", "abc", "héllo ✓ 中文", "x" * 300, '{"json": [1, 2]}']

    def text() -> str | None:
        return rng.choice([*texts, None] if nulls else texts)

    rows = []
    for i in range(rng.randint(0, 70)):
        row: dict = {name: text() for name in STRING_COLUMNS}
        row["choices"] = rng.choice([["A", "B"], [], ["a", "bb", "ccc", "d"]] + ([None, ["a", None]] if nulls else []))
        image = {"bytes": bytes(rng.randrange(256) for _ in range(rng.randint(0, 40))), "path": None}
        odd_images = [None, [None], [{"bytes": None, "path": "p"}]] if nulls else []
        row["images"] = rng.choice([[image], [image, image], [], *odd_images])
        if nulls and i % 5 == 0:
            del row["label"]  # a missing key is null, as in from_pylist
        rows.append(row)
    return rows


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    with pq.ParquetWriter(out, table.schema, compression="zstd", write_statistics=True) as writer:
        writer.write_table(table)
    return out.getvalue()


@pytest.mark.parametrize("nulls", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_rows_laid_out_from_buffers_equal_from_pylist(seed: int, nulls: bool) -> None:
    rows = _rows(seed, nulls)
    schema = row_schema()
    mine = table_from_rows(rows, schema)
    theirs = pa.Table.from_pylist(rows, schema=schema)
    mine.validate(full=True)
    assert mine.equals(theirs, check_metadata=True)
    assert mine.nbytes == theirs.nbytes
    assert _parquet(mine) == _parquet(theirs)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [("question", 7, "column question: expected str, got int"), ("choices", "A", "column choices: expected a list")],
)
def test_a_value_of_the_wrong_type_names_its_column(column: str, value: object, expected: str) -> None:
    row: dict = {name: "text" for name in STRING_COLUMNS}
    row[column] = value
    with pytest.raises(TypeError, match=expected):
        table_from_rows([row], row_schema())


def test_image_bytes_must_be_bytes() -> None:
    with pytest.raises(TypeError, match=r"column images\.bytes: expected bytes, got str"):
        table_from_rows([{"images": [{"bytes": "png", "path": None}]}], row_schema())


def test_writing_a_shard_does_not_import_pandas(tmp_path) -> None:
    """In a fresh interpreter, as a build process is: pandas stays unimported through a shard."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from medblink_build.output.shards import ShardWriter\n"
        "w = ShardWriter(Path(sys.argv[1]))\n"
        "w.add({'id': 'a', 'choices': ['x'], 'images': [{'bytes': b'png', 'path': None}]}, 3)\n"
        "print(w.close())\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    table = pq.read_table(next(tmp_path.glob("*.parquet")))
    assert table.column("images").to_pylist() == [[{"bytes": b"png", "path": None}]]
