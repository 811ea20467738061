"""medblink-build: regenerate and extend the MedBLINK medical perception benchmark from raw sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .version import __version__ as __version__


def load(folder: str | Path, config: str, split: str = "test", *, cache_dir: str | Path | None = None) -> Any:
    """The `datasets.Dataset` of one config of an output folder, from a cache of that folder's own.

    See `medblink_build.release.loading.load`; imported here lazily so `import medblink_build` stays light.
    """
    from .release.loading import load as _load

    return _load(folder, config, split, cache_dir=cache_dir)
