"""Helpers for the release-derived outputs' tests (notes, exports, preview): small builds, row edits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from medblink_build.release.verify import iter_rows, load_manifest
from tests.conftest import run_cli


def build_orientation(xray_source: Path, out: Path, *args: Any) -> Path:
    """The orientation recipe on the small session sample (both orientation configs)."""
    code, output = run_cli(
        "recipe", "orientation", "--source", f"medblink-sample-xray={xray_source}", "--out", out, "--quiet", *args
    )
    assert code == 0, output
    return out


def rows_of(folder: Path) -> dict[str, list[dict[str, Any]]]:
    manifest, _ = load_manifest(folder)
    return {config: list(iter_rows(folder, info)) for config, info in manifest["configs"].items()}


def give_row_images(folder: Path, config: str, index: int, count: int) -> str:
    """Rewrite row `index` of `config` to hold `count` images (its own, then the next rows' ones).

    The release's multi-image tasks are not all implemented yet; this gives the export and preview
    tests a multi-image row. The manifest's digests are left stale on purpose (exports and previews
    read rows, they do not verify). Returns the row id.
    """
    manifest, _ = load_manifest(folder)
    path = folder / manifest["configs"][config]["files"][0]["path"]
    table = pq.read_table(path)
    rows = table.to_pylist()
    pool = [img for row in rows for img in row["images"]]
    rows[index]["images"] = [
        {"bytes": pool[(index + k) % len(pool)]["bytes"], "path": f"{rows[index]['id']}-{k}.png"} for k in range(count)
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path, compression="zstd")
    return rows[index]["id"]
