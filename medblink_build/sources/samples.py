"""Built-in sample sources, generated on demand from a manifest's `generator` name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import SourceError
from ..manifests import get_manifest
from .folder import FolderSource
from .sample_xray import write_xray_sample

GENERATORS: dict[str, Callable[[Path], Path]] = {
    "xray": write_xray_sample,
}


def materialize_sample(source_id: str, dest: Path) -> FolderSource:
    """Write the sample source `source_id` under `dest` and return it bound to its manifest."""
    manifest = get_manifest(source_id)
    if manifest.generator not in GENERATORS:
        raise SourceError(
            f"{manifest.origin}: generator {manifest.generator!r} unknown; known: {', '.join(sorted(GENERATORS))}"
        )
    root = dest / source_id
    GENERATORS[manifest.generator](root)
    return FolderSource(root=root, manifest=manifest)
