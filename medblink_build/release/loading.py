"""Loading one config of an output folder with `datasets`, with a cache that belongs to that folder.

`datasets.load_dataset(FOLDER, name=...)` keys its cache of a local folder on the folder's base
name and the config, so two builds both called `medblink-out` can hand back each other's rows.
`load` reads the parquet files the folder's manifest lists, through the `parquet` builder, into a
cache folder named after the sha256 of that manifest (which holds every parquet sha256) and of
the parquet files' sizes and times: another folder, or this folder rebuilt with other rows, has
another manifest and so another cache.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..errors import OutputError
from ..hashing import sha256_file
from ..output.folder import MANIFEST_NAME
from ..output.shards import SPLIT

DATASETS_REQUIREMENT = "datasets>=3.0"


def load(folder: str | Path, config: str, split: str = SPLIT, *, cache_dir: str | Path | None = None) -> Any:
    """The `datasets.Dataset` of `config` in output folder `folder` (images decode as PIL images).

    `cache_dir` is the root under which the per-folder caches live (default: the `datasets` cache,
    `HF_DATASETS_CACHE`); the cache actually used is `<root>/medblink-build/<key of this folder>`.
    """
    from .verify import load_manifest

    folder = Path(folder)
    manifest, _ = load_manifest(folder)
    configs = manifest["configs"]
    if config not in configs:
        listed = ", ".join(sorted(configs)) or "none"
        raise OutputError(f"{folder}: no config {config!r} (configs: {listed})")
    if split != SPLIT:
        raise OutputError(f"{folder}: config {config} has no split {split!r} (splits: {SPLIT})")
    files = [str((folder / entry["path"]).resolve()) for entry in configs[config]["files"]]
    try:
        import datasets
    except ImportError:
        raise OutputError(f"loading needs {DATASETS_REQUIREMENT}: pip install '{DATASETS_REQUIREMENT}'") from None
    root = Path(cache_dir) if cache_dir is not None else Path(datasets.config.HF_DATASETS_CACHE)
    own_cache = root / "medblink-build" / _cache_key(folder, files)
    return datasets.load_dataset("parquet", data_files={split: files}, split=split, cache_dir=str(own_cache))


def _cache_key(folder: Path, files: list[str]) -> str:
    """The manifest's sha256 (it lists every parquet sha256), and each parquet file's size and
    modification time, so even a file changed behind its manifest's back gets a new cache."""
    parts = [sha256_file(folder / MANIFEST_NAME)]
    for name in files:
        stat = Path(name).stat()
        parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
